"""Invokes the template's handlers as Lambda does: same module, same event, a context.

`ExecutionEnvironments` is what the local stack runs: per function a pool of worker processes (one
execution environment each) that import the handler once, with the function's own environment and
the credentials of its own IAM role, serve one invocation at a time, and are reused while warm. A
function scales out to its concurrency cap (the template's ReservedConcurrentExecutions, else
LM_LOCAL_CONCURRENCY, default 2); beyond it an invocation waits for an environment to come free
(API Gateway and the SQS poller would throttle or back off; locally waiting keeps results exact). An
invocation that outlives the function's timeout is stopped, its environment discarded, and the
caller gets Lambda's "Task timed out" error; an environment that dies is replaced.

`LambdaRuntime` runs handlers in the calling process (one warm module per function): the in-process
tests and benchmarks use it with moto's in-process mock, which a worker process could not see.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import multiprocessing
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Protocol

from .template import ACCOUNT_ID, REGION, Function, LocalTemplate

log = logging.getLogger(__name__)
Handler = Callable[[Any, Any], Any]


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    identity: Any = None
    client_context: Any = None
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Invoker(Protocol):
    """What the local API and the poller need from a runtime."""

    def preload(self, function_id: str) -> None: ...

    def invoke(self, function_id: str, event: Any) -> Any: ...


class FunctionError(Exception):
    """The handler raised (or its environment failed): Lambda's errorType and errorMessage."""

    def __init__(self, error_type: str, message: str, stack: str = "") -> None:
        super().__init__(message)
        self.error_type = error_type
        self.stack = stack


class FunctionTimeout(FunctionError):
    def __init__(self, seconds: int) -> None:
        super().__init__("Sandbox.Timedout", f"Task timed out after {seconds:.2f} seconds")


def load_handler(function: Function) -> Handler:
    """Import the function's module under a name of its own and return its handler."""
    path = function.module_file
    if not path.is_file():
        raise FileNotFoundError(f"{function.logical_id}: handler file {path} does not exist")
    # Every function has an `app.py`: a unique module name keeps them apart in sys.modules.
    module_name = f"_lm_local_{function.logical_id}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    handler = getattr(module, function.handler_name, None)
    if not callable(handler):
        raise AttributeError(f"{path} has no callable {function.handler_name}")
    log.info("loaded %s from %s", function.logical_id, path)
    return handler


class LambdaRuntime:
    """Loads each function's handler once per process (a warm container) and invokes it."""

    def __init__(self, template: LocalTemplate) -> None:
        self.template = template
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()

    def handler(self, function_id: str) -> Handler:
        with self._lock:  # threads of the API server must not import the same module twice
            if function_id not in self._handlers:
                self._handlers[function_id] = self._load(self.template.functions[function_id])
            return self._handlers[function_id]

    def _load(self, function: Function) -> Handler:
        # Handlers read their settings at import time, as in Lambda; the stack passes the same values,
        # setdefault keeps those (and any explicit override) when this runs standalone.
        for key, value in function.environment.items():
            os.environ.setdefault(key, value)
        return load_handler(function)

    def preload(self, function_id: str) -> None:
        self.handler(function_id)

    def context(self, function_id: str) -> LambdaContext:
        function = self.template.functions[function_id]
        return LambdaContext(function_id, function.memory_size, function.timeout)

    def invoke(self, function_id: str, event: Any) -> Any:
        handler = self.handler(function_id)
        context = self.context(function_id)
        started = time.monotonic()
        try:
            return handler(event, context)
        finally:
            elapsed = time.monotonic() - started
            # A thread cannot be killed, so an overrun is reported rather than enforced.
            if elapsed > context.timeout_seconds:
                limit = context.timeout_seconds
                log.warning("%s ran %.1f s, beyond its %d s timeout", function_id, elapsed, limit)


# ------------------------------------------------------------------ execution environments

DEFAULT_CONCURRENCY = 2  # this machine has 2 cores; each environment is a process (the model: +300 MB)
INIT_TIMEOUT_SECONDS = 120.0  # Lambda allows 10 s; imports on a loaded 2-core machine take longer
# Lambda sets these in every execution environment; the credentials come from the function's role.
_HOST_ONLY = ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def _describe(error: BaseException) -> dict[str, str]:
    return {
        "type": type(error).__name__,
        "message": str(error),
        "stack": "".join(traceback.format_exception(error)),
    }


def _serve(connection: Connection, function: Function, environment: dict[str, str]) -> None:
    """A worker process: one execution environment of one function (runs in the child)."""
    os.environ.clear()
    os.environ.update(environment)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        handler = load_handler(function)
    except BaseException as error:
        connection.send(("init_error", _describe(error)))
        return
    connection.send(("ready", None))
    while True:
        try:
            event = connection.recv()
        except (EOFError, OSError):
            return
        context = LambdaContext(function.logical_id, function.memory_size, function.timeout)
        try:
            reply: tuple[str, Any] = ("ok", handler(event, context))
        except Exception as error:
            reply = ("error", _describe(error))
        try:
            connection.send(reply)
        except Exception as error:  # a result that cannot cross the pipe, as a result Lambda cannot serialize
            connection.send(("error", _describe(error)))


class ExecutionEnvironment:
    """One worker process; used by one invocation at a time."""

    def __init__(self, function: Function, environment: dict[str, str]) -> None:
        self.function = function
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self.process = context.Process(
            target=_serve,
            args=(child, function, environment),
            name=f"lambda-{function.logical_id}",
            daemon=True,
        )
        self.process.start()
        child.close()
        self._ready = False

    def _receive(self, timeout: float) -> tuple[str, Any] | None:
        if not self._connection.poll(timeout):
            return None
        try:
            return self._connection.recv()
        except (EOFError, OSError):
            code = self.process.exitcode
            raise FunctionError(
                "Runtime.ExitError", f"RequestId: the runtime exited (status {code})"
            ) from None

    def init(self) -> None:
        reply = self._receive(INIT_TIMEOUT_SECONDS)
        if reply is None:
            self.stop()
            raise FunctionError("Runtime.InitTimeout", f"init of {self.function.logical_id} timed out")
        kind, payload = reply
        if kind == "init_error":
            self.stop()
            raise FunctionError(
                f"Runtime.ImportModuleError: {payload['type']}", payload["message"], payload["stack"]
            )
        self._ready = True

    def invoke(self, event: Any) -> Any:
        try:
            self._connection.send(event)
        except (OSError, ValueError) as error:
            raise FunctionError("Runtime.ExitError", f"the environment is gone: {error}") from None
        reply = self._receive(self.function.timeout)
        if reply is None:
            self.stop()
            raise FunctionTimeout(self.function.timeout)
        kind, payload = reply
        if kind == "error":
            raise FunctionError(payload["type"], payload["message"], payload["stack"])
        return payload

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self._connection.close()


class _Pool:
    """The environments of one function: warm ones reused (most recent first), new ones up to the cap."""

    def __init__(self, function: Function, concurrency: int, environment: Callable[[], dict[str, str]]):
        self.function = function
        self.concurrency = concurrency
        self._environment = environment
        self._idle: list[ExecutionEnvironment] = []
        self._count = 0
        self._changed = threading.Condition()

    def acquire(self) -> ExecutionEnvironment:
        with self._changed:
            while True:
                while self._idle:
                    candidate = self._idle.pop()
                    if candidate.alive:
                        return candidate
                    self._count -= 1
                if self._count < self.concurrency:
                    self._count += 1
                    break
                self._changed.wait()
        try:
            created = ExecutionEnvironment(self.function, self._environment())
            created.init()
        except BaseException:
            self.discard(None)
            raise
        log.info("%s: new execution environment (pid %s)", self.function.logical_id, created.process.pid)
        return created

    def release(self, environment: ExecutionEnvironment) -> None:
        with self._changed:
            self._idle.append(environment)
            self._changed.notify()

    def discard(self, environment: ExecutionEnvironment | None) -> None:
        if environment is not None:
            environment.stop()
        with self._changed:
            self._count -= 1
            self._changed.notify()

    def close(self) -> None:
        with self._changed:
            idle, self._idle = self._idle, []
            self._count -= len(idle)
        for environment in idle:
            environment.stop()


class ExecutionEnvironments:
    """Per function a pool of worker processes; `invoke` runs one event in one of them."""

    def __init__(
        self,
        template: LocalTemplate,
        credentials: Callable[[str], Mapping[str, str]] | None = None,
        concurrency: int | None = None,
        host_environment: Mapping[str, str] | None = None,
    ) -> None:
        self.template = template
        self._credentials = credentials
        self._host = dict(os.environ if host_environment is None else host_environment)
        default = concurrency or int(self._host.get("LM_LOCAL_CONCURRENCY", DEFAULT_CONCURRENCY))
        self._pools = {
            function_id: _Pool(
                function,
                function.reserved_concurrency or default,
                functools.partial(self.environment, function),
            )
            for function_id, function in template.functions.items()
        }

    def environment(self, function: Function) -> dict[str, str]:
        """The function's variables, the stack's settings over them, its role's credentials."""
        env = dict(function.environment)
        env.update({key: value for key, value in self._host.items() if key not in _HOST_ONLY})
        env.update(
            AWS_LAMBDA_FUNCTION_NAME=function.logical_id,
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(function.memory_size),
            AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
            AWS_REGION=self._host.get("AWS_REGION", REGION),
            AWS_DEFAULT_REGION=self._host.get("AWS_DEFAULT_REGION", REGION),
        )
        if self._credentials is not None:
            env.update(self._credentials(function.logical_id))
        else:  # no roles (a stack without IAM): the stack's own credentials
            env.update({key: value for key, value in self._host.items() if key in _HOST_ONLY})
        return env

    def concurrency(self, function_id: str) -> int:
        return self._pools[function_id].concurrency

    def preload(self, function_id: str) -> None:
        """Start one warm environment, so a handler that cannot import fails now, not on a request."""
        pool = self._pools[function_id]
        pool.release(pool.acquire())

    def invoke(self, function_id: str, event: Any) -> Any:
        pool = self._pools[function_id]
        environment = pool.acquire()
        try:
            result = environment.invoke(event)
        except FunctionTimeout:
            pool.discard(environment)  # already stopped: Lambda resets a timed-out environment
            log.error("%s: %s", function_id, "task timed out")
            raise
        except FunctionError as error:
            if environment.alive:
                pool.release(environment)
            else:
                pool.discard(environment)
            if error.stack:
                log.error("%s raised %s", function_id, error.stack.rstrip())
            raise
        except BaseException:
            pool.discard(environment)
            raise
        pool.release(environment)
        return result

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
