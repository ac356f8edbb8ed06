"""The production openai adapter against the real local model server (llama.cpp + Qwen2.5 1.5B).

`make up LLM=local` builds and downloads what this needs (local/model_server.py, about 20 minutes
the first time). Where it is not there, as in CI, the test is skipped and says so: CI has no model.
Where it is, the test uses the running server or starts one on a free port and stops it after.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from learning_machine.adapters.llm.openai_model import OpenAIExtractionModel
from learning_machine.adapters.openai_endpoint import build_openai_client
from learning_machine.models.common import Layer, Role
from learning_machine.models.extraction import ExtractionRequest, NumberedMessage
from learning_machine.models.memories import Memory
from learning_machine.models.profile import STANDARD_FIELDS
from learning_machine.models.provenance import Provenance
from local import model_server
from local.template import REPO_ROOT

PATHS = model_server.Paths((REPO_ROOT / ".local").resolve())
NOT_INSTALLED = (
    "NOT RUN: the local model server is not built here (run `make up LLM=local` once to build "
    f"{PATHS.binary.name} and assemble {PATHS.model.name}); CI has no model"
)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    port = model_server.recorded_port(PATHS)
    if model_server.running_pid(PATHS) is not None and port is not None and model_server.healthy(port):
        yield model_server.base_url(port)
        return
    if not (PATHS.binary.is_file() and PATHS.model.is_file()):
        pytest.skip(NOT_INSTALLED)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model_server.start_server(PATHS, port)
    try:
        yield model_server.base_url(port)
    finally:
        model_server.stop_server(PATHS)


def test_a_structured_extraction_against_the_real_model(base_url: str) -> None:
    client = build_openai_client(base_url, None, timeout=300.0, max_retries=0)
    model = OpenAIExtractionModel(client, model_server.MODEL_ALIAS, "json_schema", max_completion_tokens=600)
    shown = Memory(
        memory_id="m_shown",
        user_id="ann",
        layer=Layer.PROFILE,
        content="The user works at Netflix.",
        provenance=Provenance(source="api"),
    )
    request = ExtractionRequest(
        transcript_id="t1",
        occurred_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
        messages=[
            NumberedMessage(
                role=Role.USER, content="I'm Ann. I left Netflix and now work at Spotify.", turn_index=0
            ),
            NumberedMessage(role=Role.USER, content="Please keep answers short.", turn_index=1),
        ],
        profile_fields={},
        profile_schema=dict(STANDARD_FIELDS),
        memories=[shown],
        memories_total=1,
        previous_session=None,
        learn_profile=True,
        layers=list(Layer),
        learn_session=True,
        planning=False,
    )
    reply = model.extract(request)
    assert reply.model  # the server named itself
    assert reply.usage.completion_tokens <= 600 * reply.calls  # the cap held
    # Constrained by the request's schema: only the shown id, only known fields, a session summary.
    assert all(op.memory_id in (None, "m_shown") for op in reply.result.memory_operations)
    assert all(update.field in STANDARD_FIELDS for update in reply.result.profile_updates)
    assert reply.result.session is not None and reply.result.session.summary.strip()
