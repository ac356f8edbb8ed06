"""get-context and search read a user's memories with `UserMemoryStore.read`: still one query a
request, but a memory whose stored bytes did not change since the user's last read in this
container is not parsed again. What they get must always be what is stored now."""

from __future__ import annotations

import pytest

from learning_machine.composition import Services
from learning_machine.models.common import Layer
from learning_machine.models.memories import Memory
from learning_machine.models.memory_edits import MemoryCreate, MemoryPatch
from learning_machine.stores import user_memory
from tests.conftest import Aws


def contents(state: user_memory.UserState) -> dict[str, str]:
    return {m.memory_id: m.content for m in state.memories}


def test_read_answers_what_load_answers_and_follows_every_write(aws: Aws) -> None:
    services = Services(aws.settings)
    admin, store = services.memory_admin, services.user_store
    tea = admin.create_memory("acme", "u1", MemoryCreate(layer=Layer.PROFILE, content="Likes green tea."))
    cats = admin.create_memory("acme", "u1", MemoryCreate(layer=Layer.PROFILE, content="Has two cats."))
    first = store.read("acme", "u1")
    assert contents(first) == contents(store.load("acme", "u1"))
    assert first.memories[0].has_embedding  # the vector read beside the document comes along

    admin.update_memory("acme", "u1", cats.memory_id, MemoryPatch(content="Has three cats."))
    admin.delete_memory("acme", "u1", tea.memory_id)
    admin.create_memory("acme", "u1", MemoryCreate(layer=Layer.POLICIES, content="Never use emojis."))
    second = store.read("acme", "u1")

    assert contents(second) == contents(store.load("acme", "u1"))
    assert sorted(contents(second).values()) == ["Has three cats.", "Never use emojis."]
    assert next(m for m in second.memories if m.memory_id == cats.memory_id).version == 2


def test_an_unchanged_memory_is_not_parsed_again(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    services = Services(aws.settings)
    admin, store = services.memory_admin, services.user_store
    admin.create_memory("acme", "u1", MemoryCreate(layer=Layer.PROFILE, content="Likes green tea."))
    parsed: list[int] = []
    original = user_memory._parse

    def counting(docs: list[str], stored: list[tuple[str, bytes | None]]) -> list[Memory]:
        parsed.append(len(docs))
        return original(docs, stored)

    monkeypatch.setattr(user_memory, "_parse", counting)

    before = store.read("acme", "u1").memories[0]
    again = store.read("acme", "u1").memories[0]
    admin.create_memory("acme", "u1", MemoryCreate(layer=Layer.PROFILE, content="Has two cats."))
    after = store.read("acme", "u1")
    store.load("acme", "u1")

    assert again is before  # same bytes: the parsed object is handed out again
    assert before in after.memories and len(after.memories) == 2
    # first read parses 1, the second none, the third only the new memory; load parses all.
    assert parsed == [1, 0, 1, 2]


def test_only_the_most_recently_read_users_are_kept(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(user_memory, "USERS_PARSED_PER_CONTAINER", 2)
    services = Services(aws.settings)
    store = services.user_store
    for user in ("u1", "u2", "u3"):
        services.memory_admin.create_memory(
            "acme", user, MemoryCreate(layer=Layer.PROFILE, content=f"{user} likes tea.")
        )
    u1 = store.read("acme", "u1").memories[0]
    store.read("acme", "u2")
    assert store.read("acme", "u1").memories[0] is u1  # read again: now the most recent
    store.read("acme", "u3")  # u2, the least recent, goes

    assert store.read("acme", "u1").memories[0] is u1
    assert store.read("acme", "u2").memories[0].content == "u2 likes tea."
    assert store.read("acme", "u3").memories[0].content == "u3 likes tea."
    # u2's read brought it back and put out u1 (reads: u1, u3, u2 -> keeps u3, u2).
    assert store.read("acme", "u1").memories[0] is not u1


def test_another_tenants_user_of_the_same_id_is_never_handed_out(aws: Aws) -> None:
    services = Services(aws.settings)
    services.memory_admin.create_memory("acme", "u1", MemoryCreate(layer=Layer.PROFILE, content="Acme's u1."))
    services.user_store.read("acme", "u1")

    assert services.user_store.read("globex", "u1").memories == []
