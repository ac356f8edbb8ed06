"""`python -m local.stack up|down|status`: moto server, local API and SQS poller as background processes.

Everything is recorded in the state directory (default `.local`): a pid file and a log per process,
`stack.json` (ports), and `env` (shell `KEY=value` lines for clients: API URL and key, AWS endpoint,
table names, queue URLs).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .provision import provision
from .template import DEFAULT_TEMPLATE, REGION, REPO_ROOT, LocalTemplate

DEFAULT_STATE_DIR = REPO_ROOT / ".local"
DEV_TENANT = "dev"
READY_TIMEOUT_SECONDS = 30.0
STOP_GRACE_SECONDS = 10.0
LOG_TAIL_LINES = 40
# Stopped in this order: consumers first, the moto server last.
COMPONENTS = ("poller", "api", "moto")
# A recorded pid is only ours if its command line still carries this (pids get reused).
CMDLINE_MARKERS = {"moto": "moto", "api": "local.api_server", "poller": "local.poller"}
# Function settings `up` copies into the env file, beside the API URL/key and the AWS settings.
ENV_FILE_FUNCTION_KEYS = (
    "LM_DATA_TABLE",
    "LM_KEYS_TABLE",
    "LM_IDEMPOTENCY_TABLE",
    "LM_TRANSCRIPTS_QUEUE_URL",
    "LM_CURATION_QUEUE_URL",
)
# The model settings the functions run with (`make up LLM=local` sets them), copied when set.
ENV_FILE_MODEL_KEYS = (
    "LM_LLM_BASE_URL",
    "LM_LLM_MODEL",
    "LM_LLM_STRUCTURED_MODE",
    "LM_LLM_MAX_COMPLETION_TOKENS",
    "LM_LLM_TIMEOUT_SECONDS",
    "LM_LLM_MAX_RETRIES",
    "LM_EMBEDDING_BACKEND",
)

# Popen objects of the processes this Python process started, kept so they are reaped, not zombies.
_children: dict[int, subprocess.Popen[bytes]] = {}
_aws_env_lock = threading.Lock()


class StackError(RuntimeError):
    """The stack could not start; the message says why and carries the relevant log tail."""


@dataclass
class StackInfo:
    state_dir: Path
    moto_url: str
    api_url: str
    api_key: str
    env: dict[str, str]
    pids: dict[str, int]
    already_running: bool = False
    process_env: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def env_file(self) -> Path:
        return self.state_dir / "env"


# ------------------------------------------------------------------ processes


def _pid_file(state_dir: Path, name: str) -> Path:
    return state_dir / f"{name}.pid"


def _log_file(state_dir: Path, name: str) -> Path:
    return state_dir / f"{name}.log"


def _alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False  # a zombie left by another parent: dead for our purposes
    return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def recorded_pid(state_dir: Path, name: str) -> int | None:
    """The pid in the state dir, if that process still runs and is the one we started."""
    try:
        pid = int(_pid_file(state_dir, name).read_text().strip())
    except (OSError, ValueError):
        return None
    if _alive(pid) and CMDLINE_MARKERS[name] in _cmdline(pid):
        return pid
    return None


def _spawn(state_dir: Path, name: str, argv: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    with _log_file(state_dir, name).open("wb") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=REPO_ROOT,
            start_new_session=True,  # its own process group: `down` stops it and anything it forks
        )
    _children[process.pid] = process
    _pid_file(state_dir, name).write_text(f"{process.pid}\n")
    return process


def _terminate(pid: int, grace: float = STOP_GRACE_SECONDS) -> None:
    def signal_group(sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)

    signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        signal_group(signal.SIGKILL)
        while _alive(pid) and time.monotonic() < deadline + 5:
            time.sleep(0.1)
    child = _children.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=1)


def log_tail(state_dir: Path, name: str, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = _log_file(state_dir, name).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


# ------------------------------------------------------------------ health


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def moto_healthy(port: int) -> bool:
    return _http_ok(f"http://127.0.0.1:{port}/moto-api/config")


def api_healthy(port: int) -> bool:
    return _http_ok(f"http://127.0.0.1:{port}/__health")


def _poller_ready(state_dir: Path, pid: int) -> bool:
    try:
        return int((state_dir / "poller.ready").read_text()) == pid
    except (OSError, ValueError):
        return False


def _wait_ready(name: str, process: subprocess.Popen[bytes], ready: Callable[[int], bool]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"{name} exited with status {process.returncode} while starting")
        if ready(process.pid):
            return
        time.sleep(0.2)
    raise StackError(f"{name} was not ready within {READY_TIMEOUT_SECONDS:.0f} s")


# ------------------------------------------------------------------ state and env


def _read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                key, _, value = line.partition("=")
                parts = shlex.split(value)
                values[key.strip()] = parts[0] if parts else ""
    return values


def _write_env_file(path: Path, values: Mapping[str, str]) -> None:
    lines = ["# Written by `python -m local.stack up`; `set -a; . .local/env; set +a` exports it."]
    lines += [f"{key}={shlex.quote(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")


def aws_settings(moto_url: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }


def process_environment(
    template: LocalTemplate, moto_url: str, extra_env: Mapping[str, str], state_dir: Path
) -> dict[str, str]:
    """What the API and poller processes run with: the functions' environment pointed at moto.

    The caller's environment is inherited (LM_LLM_*, OPENAI_API_KEY...), except AWS_* settings:
    real credentials or profiles must not leak into the local stack.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(template.function_environment())
    env.update(aws_settings(moto_url))
    env.update(
        AWS_REGION=REGION,
        LM_CONFIG_CACHE_SECONDS="0",  # config edits apply to the next request, as tests expect
        # The embedded knowledge index stands in for OpenSearch: one file, shared by API and poller.
        LM_INDEX_ENGINE="embedded",
        LM_INDEX_PATH=str(state_dir.resolve() / "index.db"),
        POWERTOOLS_TRACE_DISABLED="true",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra_env)
    return env


@contextlib.contextmanager
def aws_environment(moto_url: str) -> Iterator[None]:
    """Points this process's boto3 (and learning_machine's cached DynamoDB resource) at moto, then back."""
    from learning_machine.adapters import dynamodb

    settings = aws_settings(moto_url)
    with _aws_env_lock:
        saved = {key: os.environ.get(key) for key in (*settings, "AWS_PROFILE", "AWS_SESSION_TOKEN")}
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(key, None)
        os.environ.update(settings)
        dynamodb.table.cache_clear()
        dynamodb.resource.cache_clear()
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            dynamodb.table.cache_clear()
            dynamodb.resource.cache_clear()


def create_api_key(moto_url: str, keys_table: str, tenant: str, label: str = "") -> str:
    from learning_machine.stores.api_keys import ApiKeyStore

    with aws_environment(moto_url):
        return ApiKeyStore(keys_table).create(tenant, label=label)


def _dev_api_key(moto_url: str, keys_table: str, previous: str | None) -> str:
    from learning_machine.stores.api_keys import ApiKeyStore

    with aws_environment(moto_url):
        store = ApiKeyStore(keys_table)
        if previous and store.tenant_for(previous):
            return previous  # moto kept running: the key clients already hold still works
        return store.create(DEV_TENANT, label="local dev")


# ------------------------------------------------------------------ up / down / status


def _resolve_state_dir(state_dir: Path | str | None) -> Path:
    return Path(state_dir).resolve() if state_dir else DEFAULT_STATE_DIR


def start_stack(
    state_dir: Path | str | None = None,
    moto_port: int = 5000,
    api_port: int = 3000,
    extra_env: Mapping[str, str] | None = None,
    retry_delay: int | None = None,
    template_path: Path | str = DEFAULT_TEMPLATE,
) -> StackInfo:
    """Start what is not running yet (idempotent); raise StackError with the log tail on failure."""
    state = _resolve_state_dir(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    extra = dict(extra_env or {})
    recorded = _read_json(state / "stack.json")
    pids = {name: pid for name in COMPONENTS if (pid := recorded_pid(state, name)) is not None}
    if pids and (recorded.get("moto_port"), recorded.get("api_port")) != (moto_port, api_port):
        taken = f"{recorded.get('moto_port')}/{recorded.get('api_port')}"
        raise StackError(f"a stack in {state} already runs on ports {taken}; run `down` on it first")
    moto_url = f"http://127.0.0.1:{moto_port}"
    template = LocalTemplate.load(template_path, endpoint_url=moto_url, env={**os.environ, **extra})
    env = process_environment(template, moto_url, extra, state)
    model_endpoint = env.get("LM_LLM_BASE_URL") or ""
    if pids and recorded.get("llm_base_url", "") != model_endpoint:
        raise StackError(
            f"the stack in {state} runs with another model endpoint "
            f"({recorded.get('llm_base_url') or 'none'}); run `down` on it first"
        )
    ports = {"moto": moto_port, "api": api_port}
    checks: dict[str, Callable[[int], bool]] = {
        "moto": lambda _pid: moto_healthy(moto_port),
        "api": lambda _pid: api_healthy(api_port),
        "poller": lambda pid: _poller_ready(state, pid),
    }
    healthy = {name for name, pid in pids.items() if checks[name](pid)}
    started: list[str] = []
    current = "moto"

    def ensure(name: str) -> None:
        nonlocal current
        current = name
        if name in healthy:
            return
        if name in pids:  # alive but not answering: replace it
            _terminate(pids.pop(name))
        port = ports.get(name)
        if port is not None and _port_in_use(port):
            raise StackError(f"port {port} is in use by another process (`ss -ltnp` names it)")
        if name == "poller":
            (state / "poller.ready").unlink(missing_ok=True)
        if name == "moto":
            # A new moto starts empty: an index left by an earlier one would point at nothing.
            for suffix in ("", "-wal", "-shm"):
                (state / f"index.db{suffix}").unlink(missing_ok=True)
        process = _spawn(state, name, _command(name, template, ports, retry_delay, state), env)
        started.append(name)
        pids[name] = process.pid
        _wait_ready(name, process, checks[name])

    try:
        ensure("moto")
        # Idempotent: also brings the tables and queues of a running stack in line with the template.
        provision(template, moto_url)
        ensure("api")
        ensure("poller")  # after provisioning: it checks its queues as it starts
        previous = read_env_file(state / "env").get("LM_API_KEY")
        api_key = _dev_api_key(moto_url, env["LM_KEYS_TABLE"], previous)
    except Exception as error:
        for name in started:
            _terminate(pids[name])
            _pid_file(state, name).unlink(missing_ok=True)
        reason = error if isinstance(error, StackError) else f"{type(error).__name__}: {error}"
        tail = log_tail(state, current)
        raise StackError(f"{reason}\n--- last lines of {_log_file(state, current)} ---\n{tail}") from error
    (state / "stack.json").write_text(
        json.dumps(
            {
                "moto_port": moto_port,
                "api_port": api_port,
                "retry_delay": retry_delay,
                "llm_base_url": model_endpoint,
            }
        )
        + "\n"
    )
    dlq = template.dead_letter_queue(template.queue_by_url(env["LM_TRANSCRIPTS_QUEUE_URL"]))
    values = {"LM_API_URL": f"http://127.0.0.1:{api_port}", "LM_API_KEY": api_key, **aws_settings(moto_url)}
    values.update({key: env[key] for key in ENV_FILE_FUNCTION_KEYS})
    values.update({key: env[key] for key in ENV_FILE_MODEL_KEYS if env.get(key)})
    if dlq is not None:
        values["LM_TRANSCRIPTS_DLQ_URL"] = dlq.url
    _write_env_file(state / "env", values)
    already_running = healthy == set(COMPONENTS)
    return StackInfo(state, moto_url, values["LM_API_URL"], api_key, values, pids, already_running, env)


def _command(
    name: str, template: LocalTemplate, ports: Mapping[str, int], retry_delay: int | None, state: Path
) -> list[str]:
    if name == "moto":
        # moto's server with DynamoDB requests isolated from each other, as in DynamoDB, and IAM
        # enforced: each function runs with its own role's credentials (local/iam.py).
        port = str(ports["moto"])
        return [sys.executable, "-m", "local.moto_server", "--enforce-iam", "-H", "127.0.0.1", "-p", port]
    module = {"api": "local.api_server", "poller": "local.poller"}[name]
    argv = [sys.executable, "-m", module, "--template", str(template.path)]
    if name == "api":
        return [*argv, "--port", str(ports["api"])]
    argv += ["--ready-file", str(state / "poller.ready")]
    return argv + (["--retry-delay", str(retry_delay)] if retry_delay is not None else [])


def stop_stack(state_dir: Path | str | None = None, components: tuple[str, ...] = COMPONENTS) -> list[str]:
    """Stop the processes recorded in the state dir; returns the names of those that were running.

    `components=("poller", "api")` keeps moto and its data: the next `start_stack` starts the
    functions again (with a new environment) against the same tables, queues and roles.
    """
    state = _resolve_state_dir(state_dir)
    stopped = []
    for name in (name for name in COMPONENTS if name in components):
        pid = recorded_pid(state, name)
        if pid is not None:
            _terminate(pid)
            stopped.append(name)
        _pid_file(state, name).unlink(missing_ok=True)
    if "poller" in components:
        (state / "poller.ready").unlink(missing_ok=True)
    if "moto" in components:
        (state / "stack.json").unlink(missing_ok=True)
    return stopped


def stack_status(state_dir: Path | str | None = None) -> dict[str, int | None]:
    state = _resolve_state_dir(state_dir)
    return {name: recorded_pid(state, name) for name in reversed(COMPONENTS)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.stack", description="The local dev stack.")
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--state-dir", type=Path, default=os.environ.get("LM_STACK_DIR") or DEFAULT_STATE_DIR)
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("LM_MOTO_PORT", "5000")))
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("LM_API_PORT", "3000")))
    parser.add_argument("--retry-delay", type=int, help="seconds before a failed SQS message is retried")
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    args = parser.parse_args(argv)
    state = _resolve_state_dir(args.state_dir)
    if args.command == "down":
        stopped = stop_stack(state)
        print(f"stopped {', '.join(stopped)}" if stopped else f"nothing was running ({state})")
        return 0
    if args.command == "status":
        recorded = _read_json(state / "stack.json")
        ports = {"moto": recorded.get("moto_port"), "api": recorded.get("api_port")}
        status = stack_status(state)
        for name, pid in status.items():
            where = f" on 127.0.0.1:{ports[name]}" if ports.get(name) else ""
            print(f"{name:7} {'running (pid ' + str(pid) + ')' + where if pid else 'stopped'}")
        return 0 if all(status.values()) else 1
    try:
        info = start_stack(state, args.moto_port, args.api_port, None, args.retry_delay, args.template)
    except StackError as error:
        print(f"local stack failed to start: {error}", file=sys.stderr)
        return 1
    headline = "already running" if info.already_running else "up"
    print(f"local stack {headline}: API {info.api_url}, moto {info.moto_url}")
    print(f"dev tenant key and settings in {info.env_file} (`set -a; . {info.env_file}; set +a`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
