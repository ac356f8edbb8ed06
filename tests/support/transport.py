"""The real handlers behind an httpx transport, or behind a local HTTP port, for client-side code.

`handler_transport(tenant)` routes each request the way API Gateway would: the authorizer's
tenant in the event (a request without a bearer key gets API Gateway's 401), the function chosen
by path as in tests/conftest.py's `call`. Use it inside the `aws` fixture:

    client = LearningMachineClient("https://lm.test", "key", transport=handler_transport("acme"))

`HandlerBridge(tenant)` serves the same on 127.0.0.1 for a process that needs a real URL
(`lm mcp` over stdio).
"""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, Self

import httpx

from tests.fakes.http import FakeHTTPServer
from tests.support.handlers import FakeContext, function_for, load_handler, rest_event

FUNCTIONS = ("api", "get_context", "search", "curate")


class HandlerRouter:
    """An httpx request in, the handlers' answer out."""

    def __init__(self, tenant: str = "acme") -> None:
        self.tenant = tenant
        self.handlers = {name: load_handler(name) for name in FUNCTIONS}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return httpx.Response(401, json={"message": "Unauthorized"})
        path = request.url.path  # decoded, as API Gateway puts it in the event
        event = rest_event(
            request.method,
            path,
            tenant=self.tenant,
            body=request.content.decode() or None,
            query=dict(request.url.params) or None,
        )
        reply = self.handlers[function_for(path)].lambda_handler(event, FakeContext())
        headers = [*(reply.get("headers") or {}).items()]
        headers += [
            (name, value)
            for name, values in (reply.get("multiValueHeaders") or {}).items()
            for value in values
        ]
        body = reply.get("body") or ""
        content = base64.b64decode(body) if reply.get("isBase64Encoded") else body.encode()
        return httpx.Response(reply["statusCode"], headers=headers, content=content)


def handler_transport(tenant: str = "acme") -> httpx.MockTransport:
    """Works for `httpx.Client` and `httpx.AsyncClient` alike."""
    return httpx.MockTransport(HandlerRouter(tenant))


class HandlerBridge:
    """The router on a free local port: `base_url` for processes outside this one."""

    def __init__(self, tenant: str = "acme") -> None:
        self.router = HandlerRouter(tenant)
        self._httpd = FakeHTTPServer(("127.0.0.1", 0), _BridgeHandler, self.router)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05})

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._httpd.shutdown()
        self._thread.join(timeout=5)
        self._httpd.server_close()


class _BridgeHandler(BaseHTTPRequestHandler):
    server: FakeHTTPServer[HandlerRouter]

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = httpx.Request(
            self.command, f"http://bridge{self.path}", headers=dict(self.headers), content=body
        )
        # Handler calls are serialized: moto's in-process backend is not built for concurrent writers.
        with _LOCK:
            response = self.server.fake(request)
        self.send_response(response.status_code)
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.content)))
        self.end_headers()
        self.wfile.write(response.content)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward


_LOCK = threading.Lock()
