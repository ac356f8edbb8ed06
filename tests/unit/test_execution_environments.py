"""The local stack's Lambda model: per function a pool of worker processes, one invocation each at a time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.lambda_runtime import ExecutionEnvironments, FunctionError, FunctionTimeout
from local.template import Function, LocalTemplate

HANDLER = """
import os, time

IMPORTED_IN = os.getpid()
BUSY = set()


def lambda_handler(event, context):
    if event.get("raise"):
        raise ValueError(event["raise"])
    if event.get("sleep"):
        time.sleep(event["sleep"])
    # Two invocations at once in one environment would find this one's marker still set.
    overlapped = bool(BUSY)
    BUSY.add(context.aws_request_id)
    try:
        time.sleep(event.get("hold", 0))
    finally:
        BUSY.discard(context.aws_request_id)
    return {
        "pid": os.getpid(),
        "imported_in": IMPORTED_IN,
        "overlapped": overlapped,
        "setting": os.environ.get("FN_SETTING"),
        "key": os.environ.get("AWS_ACCESS_KEY_ID"),
        "host_only": os.environ.get("HOST_SETTING"),
        "name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
"""


def template_with(tmp_path: Path, **functions: dict[str, str]) -> LocalTemplate:
    code = tmp_path / "fn"
    code.mkdir(exist_ok=True)
    (code / "app.py").write_text(HANDLER)
    return LocalTemplate(
        path=tmp_path / "template.yaml",
        parameters={},
        tables={},
        queues={},
        functions={
            name: Function(name, code, "app.lambda_handler", env, timeout=2, memory_size=128)
            for name, env in functions.items()
        },
        routes=[],
        authorizers={},
        sqs_event_sources=[],
    )


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[ExecutionEnvironments]:
    template = template_with(tmp_path, One={"FN_SETTING": "one"}, Two={"FN_SETTING": "two"})
    credentials = {"One": {"AWS_ACCESS_KEY_ID": "ASIAONE"}, "Two": {"AWS_ACCESS_KEY_ID": "ASIATWO"}}
    environments = ExecutionEnvironments(
        template,
        credentials=lambda function: credentials[function],
        concurrency=2,
        host_environment={"HOST_SETTING": "shared", "AWS_ACCESS_KEY_ID": "admin", "PATH": "/usr/bin:/bin"},
    )
    yield environments
    environments.close()


def test_a_warm_environment_is_reused_and_the_handler_imported_once(runtime: ExecutionEnvironments) -> None:
    first = runtime.invoke("One", {})
    second = runtime.invoke("One", {})
    assert first["pid"] == second["pid"] == second["imported_in"]


def test_each_function_runs_with_its_own_environment_and_role(runtime: ExecutionEnvironments) -> None:
    one, two = runtime.invoke("One", {}), runtime.invoke("Two", {})
    assert one["pid"] != two["pid"]
    assert (one["setting"], one["key"], one["name"]) == ("one", "ASIAONE", "One")
    assert (two["setting"], two["key"], two["name"]) == ("two", "ASIATWO", "Two")
    assert one["host_only"] == "shared"  # the stack's settings reach every function, its keys do not


def test_concurrent_invocations_never_share_an_environment_and_stop_at_the_cap(
    runtime: ExecutionEnvironments,
) -> None:
    results: list[dict[str, object]] = []
    lock = threading.Lock()

    def call() -> None:
        result = runtime.invoke("One", {"hold": 0.2})
        with lock:
            results.append(result)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert not any(result["overlapped"] for result in results)
    assert 1 <= len({result["pid"] for result in results}) <= runtime.concurrency("One") == 2


def test_a_handler_error_reaches_the_caller_and_the_environment_stays_warm(
    runtime: ExecutionEnvironments,
) -> None:
    before = runtime.invoke("One", {})["pid"]
    with pytest.raises(FunctionError) as raised:
        runtime.invoke("One", {"raise": "Unauthorized"})
    assert (raised.value.error_type, str(raised.value)) == ("ValueError", "Unauthorized")
    assert runtime.invoke("One", {})["pid"] == before


def test_a_timed_out_invocation_is_stopped_and_its_environment_replaced(
    runtime: ExecutionEnvironments,
) -> None:
    before = runtime.invoke("One", {})["pid"]
    with pytest.raises(FunctionTimeout, match=r"Task timed out after 2\.00 seconds"):
        runtime.invoke("One", {"sleep": 60})
    after = runtime.invoke("One", {})
    assert after["pid"] != before
    assert after["remaining_ms"] <= 2000  # the context counts down from the function's timeout


def test_a_handler_that_cannot_import_fails_the_invocation(tmp_path: Path) -> None:
    template = template_with(tmp_path, Broken={})
    (tmp_path / "fn" / "app.py").write_text("raise RuntimeError('no settings')\n")
    environments = ExecutionEnvironments(template, concurrency=1, host_environment={})
    try:
        with pytest.raises(FunctionError, match="no settings") as raised:
            environments.preload("Broken")
        assert raised.value.error_type.startswith("Runtime.ImportModuleError")
    finally:
        environments.close()
