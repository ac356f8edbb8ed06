"""What the API-facing handlers import on a cold start: never the openai package."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.handlers import ROOT


@pytest.mark.parametrize("function", ["get_context", "search", "api", "authorizer"])
def test_api_handlers_never_import_openai(function: str) -> None:
    path = ROOT / "functions" / function / "app.py"
    probe = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('handler', r'{path}')\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "print(sorted(m for m in sys.modules if m == 'openai' or m.startswith('openai.')))\n"
    )
    env = {"AWS_DEFAULT_REGION": "us-east-1", "PATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
