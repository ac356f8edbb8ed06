"""Runs the template's handlers in this process, as Lambda would: same module, same event, a context."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
