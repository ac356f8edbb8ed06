"""The HTTP plumbing the fake servers share: a threaded server that carries its fake and stays
quiet when a client hangs up mid-answer (clients that time out do, on purpose)."""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar

Fake = TypeVar("Fake")


class FakeHTTPServer(ThreadingHTTPServer, Generic[Fake]):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], fake: Fake) -> None:
        super().__init__(address, handler)
        self.fake = fake

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)
