"""A small JSON-over-HTTP client for the CLI and the demo (standard library only)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOCAL_ENV_FILE = Path(".local/env")


def load_local_env(path: Path = LOCAL_ENV_FILE) -> None:
    """Fill missing variables from the file `make up` writes, so `lm` works right after it."""
    if not path.exists():
        return
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() and not line.lstrip().startswith("#"):
            os.environ.setdefault(name.strip(), value.strip())


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
        load_local_env()
        url, key = os.environ.get("LM_API_URL"), os.environ.get("LM_API_KEY")
        if not url or not key:
            raise SystemExit("LM_API_URL and LM_API_KEY are not set (run `make up`, or export them)")
        return cls(url.rstrip("/"), key)

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
