"""Cold start: import time of each handler module in a fresh interpreter, beside the libraries it
cannot avoid (boto3, Powertools' event handler, pydantic, the index client), measured in the same run.

Each sample is a new `python` process that times, with perf_counter, only the import: of the
floor libraries, or of `functions/<name>/app.py` (executed as Lambda loads it, with the template's
environment). Rounds interleave the candidates so that a slower moment of the machine hits all of
them alike. Interpreter start-up itself (the same for every candidate) is not counted.
Budget (DESIGN): get_context and search at most 1.2x the floor's median, and never the openai package.
For those two, one `-X importtime` run says where the time beyond the floor's modules goes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from bench.common import write_result

ROOT = Path(__file__).resolve().parents[1]
HANDLERS = ("get_context", "search", "api", "authorizer", "extract")
BUDGETED = ("get_context", "search")
MAX_RATIO = 1.2
FLOOR = "import boto3, aws_lambda_powertools.event_handler, pydantic, opensearchpy"
# What the template gives every function (values do not matter for imports, names do), as in Lambda.
ENV = {
    "PATH": "",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "LM_DATA_TABLE": "DataTable",
    "LM_KEYS_TABLE": "ApiKeysTable",
    "LM_IDEMPOTENCY_TABLE": "IdempotencyTable",
    "LM_TRANSCRIPTS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/TranscriptsQueue",
    "LM_INDEX_ENGINE": "opensearch",
    "LM_OPENSEARCH_ENDPOINT": "https://example.us-east-1.aoss.amazonaws.com",
    "POWERTOOLS_SERVICE_NAME": "learning-machine",
    "POWERTOOLS_METRICS_NAMESPACE": "LearningMachine",
}
PROBE = """
import sys, time, json, importlib.util
started = time.perf_counter()
{body}
elapsed = time.perf_counter() - started
print(json.dumps({{"seconds": elapsed, "openai": "openai" in sys.modules, "modules": len(sys.modules)}}))
"""
HANDLER_BODY = """
spec = importlib.util.spec_from_file_location("handler", {path!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
"""


def import_code(candidate: str) -> str:
    if candidate == "floor":
        return FLOOR
    return HANDLER_BODY.format(path=str(ROOT / "functions" / candidate / "app.py"))


def probe(candidate: str) -> dict[str, float | bool | int]:
    body = import_code(candidate)
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(body=body)],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=ROOT,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{candidate}: import failed\n{result.stderr}")
    sample: dict[str, float | bool | int] = json.loads(result.stdout.strip().splitlines()[-1])
    return sample


def import_times(candidate: str) -> dict[str, int]:
    """Microseconds of each module's own import (`-X importtime`, self column), in one fresh process."""
    body = import_code(candidate)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import importlib.util\n" + body],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=ROOT,
        check=True,
    )
    times: dict[str, int] = {}
    for line in result.stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) == 3 and fields[0].strip().isdigit():
            times[fields[2].strip()] = int(fields[0])
    return times


def beyond_floor(candidate: str, floor: dict[str, int], top: int = 8) -> dict[str, float]:
    """Where a handler's import time goes beyond the floor's modules: ms per top-level package."""
    by_package: dict[str, int] = {}
    for module, micros in import_times(candidate).items():
        if module not in floor:
            package = module.split(".")[0]
            by_package[package] = by_package.get(package, 0) + micros
    ranked = sorted(by_package.items(), key=lambda item: item[1], reverse=True)[:top]
    return {package: round(micros / 1000, 1) for package, micros in ranked}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Cold import time of each handler against the floor.")
    parser.add_argument("--samples", type=int, default=10)
    args = parser.parse_args(argv)
    candidates = ["floor", *HANDLERS]
    for candidate in candidates:
        probe(candidate)  # warm-up: bytecode caches written, files in the page cache, as on a warm host
    samples: dict[str, list[dict[str, float | bool | int]]] = {c: [] for c in candidates}
    for _ in range(args.samples):
        for candidate in candidates:
            samples[candidate].append(probe(candidate))
    medians = {c: statistics.median(float(s["seconds"]) for s in samples[c]) for c in candidates}
    floor = medians["floor"]
    openai = {name: any(bool(s["openai"]) for s in samples[name]) for name in HANDLERS}
    handlers = {
        name: {
            "median_ms": round(medians[name] * 1000, 1),
            "ratio_to_floor": round(medians[name] / floor, 3),
            "imports_openai": openai[name],
            "modules_loaded": int(samples[name][0]["modules"]),
        }
        for name in HANDLERS
    }
    ok = all(medians[name] / floor <= MAX_RATIO and not openai[name] for name in BUDGETED)
    floor_modules = import_times("floor")
    explained = {name: beyond_floor(name, floor_modules) for name in BUDGETED}
    write_result(
        "cold_start",
        {
            "samples_per_candidate": args.samples,
            "floor": {
                "imports": FLOOR.removeprefix("import "),
                "median_ms": round(floor * 1000, 1),
                "modules_loaded": int(samples["floor"][0]["modules"]),
            },
            "handlers": handlers,
            "beyond_floor_ms_by_package": explained,
            "budget": {"handlers": list(BUDGETED), "max_ratio_to_floor": MAX_RATIO, "imports_openai": False},
            "within_budget": ok,
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
