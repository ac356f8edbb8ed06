"""A small JSON-over-HTTP client for the CLI and the demo (standard library only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from .target import use_api_settings


class ApiError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


@dataclass
class Api:
    base_url: str
    api_key: str
    timeout: float = 30.0

    @classmethod
    def from_env(cls) -> Api:
        return cls(*use_api_settings())

    def request(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        params = {k: v for k, v in (query or {}).items() if v is not None}
        quoted = urllib.parse.quote(path, safe="/")  # entity names may hold spaces
        url = f"{self.base_url}{quoted}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.api_key}")
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as reply:
                raw = reply.read()
        except urllib.error.HTTPError as error:
            text = error.read().decode(errors="replace")
            try:
                raise ApiError(error.code, json.loads(text)) from None
            except json.JSONDecodeError:
                raise ApiError(error.code, text) from None
        return json.loads(raw) if raw else None
