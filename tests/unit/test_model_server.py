"""local/model_server.py's checks and settings, without building or starting anything."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from learning_machine.settings import Settings
from local import model_server
from local.stack import read_env_file


def test_the_weights_are_checked_for_size_sha256_and_gguf_magic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = tmp_path / "model.gguf"
    good.write_bytes(b"GGUF" + b"\0" * 60)
    digest = hashlib.sha256(good.read_bytes()).hexdigest()
    monkeypatch.setattr(model_server, "MODEL_SIZE", 64)
    monkeypatch.setattr(model_server, "MODEL_SHA256", digest)
    model_server.check_model_file(good, digest)  # passes

    with pytest.raises(model_server.ModelServerError, match="expected 65"):
        monkeypatch.setattr(model_server, "MODEL_SIZE", 65)
        model_server.check_model_file(good, digest)
    monkeypatch.setattr(model_server, "MODEL_SIZE", 64)
    with pytest.raises(model_server.ModelServerError, match="sha256"):
        model_server.check_model_file(good, "0" * 64)
    not_gguf = tmp_path / "other.bin"
    not_gguf.write_bytes(b"\0" * 64)
    other_digest = hashlib.sha256(not_gguf.read_bytes()).hexdigest()
    monkeypatch.setattr(model_server, "MODEL_SHA256", other_digest)
    with pytest.raises(model_server.ModelServerError, match="not a GGUF"):
        model_server.check_model_file(not_gguf, other_digest)


def test_the_pinned_weights_are_those_of_the_issue() -> None:
    assert model_server.MODEL_SIZE == 1_117_320_768
    assert model_server.MODEL_SHA256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert (model_server.MODEL_PARTS, model_server.MODEL_PART_VERSION) == (22, "0.2.0")
    assert model_server.LLAMA_VERSION == "11434.0.0" and "-DLLAMA_CURL=OFF" in model_server.CMAKE_FLAGS


def test_the_env_it_writes_selects_the_openai_adapter_and_local_embeddings(tmp_path: Path) -> None:
    paths = model_server.Paths(tmp_path)
    model_server.write_env(paths, 8401)
    env = read_env_file(paths.env_file)
    settings = Settings.from_env(env)
    assert settings.llm_base_url == "http://127.0.0.1:8401/v1"
    assert settings.llm_model == model_server.MODEL_ALIAS
    assert settings.llm_structured_mode == "json_schema"
    assert settings.llm_max_completion_tokens == model_server.MAX_COMPLETION_TOKENS
    assert settings.llm_bounded_strings  # llama.cpp decodes under maxLength: a loop in a string ends
    assert int(env["LM_LOCAL_MIN_FUNCTION_TIMEOUT_SECONDS"]) > model_server.REQUEST_TIMEOUT_SECONDS
    assert settings.embedding_backend == "local"
    # llama.cpp's own field: without it the server's prompt cache makes the same request reply otherwise.
    assert settings.llm_extra_body == {"cache_prompt": False}


def test_the_env_file_reads_the_same_when_a_shell_sources_it(tmp_path: Path) -> None:
    """`make up LLM=local` sources the file with `set -a; . file`: the JSON value must survive that."""
    paths = model_server.Paths(tmp_path)
    model_server.write_env(paths, 8401)
    script = f'set -a; . "{paths.env_file}"; set +a; printf %s "$LM_LLM_EXTRA_BODY"'
    sourced = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    assert json.loads(sourced) == {"cache_prompt": False}
    assert sourced == read_env_file(paths.env_file)["LM_LLM_EXTRA_BODY"]


def test_nothing_runs_where_no_pid_is_recorded(tmp_path: Path) -> None:
    paths = model_server.Paths(tmp_path)
    assert model_server.running_pid(paths) is None
    assert model_server.stop_server(paths) is False
    paths.pid_file.write_text("1 8401\n")  # pid 1 is not a llama-server
    assert model_server.running_pid(paths) is None
    assert model_server.recorded_port(paths) == 8401


def _gguf(path: Path, tokens: list[str]) -> None:
    def text(value: str) -> bytes:
        data = value.encode()
        return len(data).to_bytes(8, "little") + data

    body = model_server.GGUF_MAGIC + (3).to_bytes(4, "little") + (0).to_bytes(8, "little")
    body += (3).to_bytes(8, "little")  # three metadata entries
    body += text("general.alignment") + (4).to_bytes(4, "little") + (32).to_bytes(4, "little")
    body += text("general.tags") + (9).to_bytes(4, "little") + (8).to_bytes(4, "little")
    body += (1).to_bytes(8, "little") + text("x")
    body += text("tokenizer.ggml.tokens") + (9).to_bytes(4, "little") + (8).to_bytes(4, "little")
    body += len(tokens).to_bytes(8, "little") + b"".join(text(token) for token in tokens)
    path.write_bytes(body + b"tensor data")


def test_newline_and_tab_tokens_are_read_from_the_gguf_and_cached(tmp_path: Path) -> None:
    paths = model_server.Paths(tmp_path)
    paths.model.parent.mkdir(parents=True)
    _gguf(paths.model, ["{", "Ċ", "ĠĠ", ",Ċ", "ĉĉ", "ĠĊ", "abc"])
    assert model_server.gguf_tokens(paths.model)[-1] == "abc"
    assert model_server.newline_token_ids(paths) == [1, 3, 4, 5]
    paths.model.write_bytes(b"not a gguf")  # the cached ids are used from now on
    assert model_server.newline_token_ids(paths) == [1, 3, 4, 5]
    with pytest.raises(model_server.ModelServerError):
        model_server.gguf_tokens(paths.model)


def test_the_server_decodes_greedily_on_loopback_without_newline_tokens(tmp_path: Path) -> None:
    paths = model_server.Paths(tmp_path)
    paths.model.parent.mkdir(parents=True)
    _gguf(paths.model, ["{", "Ċ", "abc"])
    argv = model_server.server_argv(paths, Path("/bin/llama-server"), paths.model, 8401)
    options = dict(zip(argv[1::2], argv[2::2], strict=False))
    assert float(options["--temp"]) == 0.0  # the same transcript gives the same reply
    assert "--no-repack" in argv  # AMX kernels a VM's kernel refuses would end the server (SIGILL)
    assert options["--threads"] == options["--threads-batch"] == str(model_server.THREADS)
    assert options["--host"] == "127.0.0.1" and options["--port"] == "8401"
    assert argv[argv.index("--logit-bias") + 1] == "1-inf"


def test_generation_threads_can_be_set_for_a_busy_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = model_server.Paths(tmp_path)
    paths.model.parent.mkdir(parents=True)
    _gguf(paths.model, ["abc"])
    monkeypatch.setenv("LM_MODEL_THREADS", "1")
    argv = model_server.server_argv(paths, Path("/bin/llama-server"), paths.model, 8401)
    assert argv[argv.index("--threads") + 1] == "1"
    assert argv[argv.index("--threads-batch") + 1] == str(model_server.THREADS)  # the prompt: both cores
