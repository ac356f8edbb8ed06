"""get-context: one query for the user's profile and memories, one read for the session."""

from __future__ import annotations

from ..models.context import ContextMemory, ContextResponse
from ..models.memories import Memory
from ..ranking import rank_memories
from ..stores.config import ConfigStore
from ..stores.sessions import SessionStore
from ..stores.user_memory import UserMemoryStore
from .render import render


class ContextService:
    def __init__(self, config: ConfigStore, users: UserMemoryStore, sessions: SessionStore) -> None:
        self.config = config
        self.users = users
        self.sessions = sessions

    def build(
        self, tenant: str, user_id: str, session_id: str | None, query: str | None, max_tokens: int | None
    ) -> ContextResponse:
        config = self.config.get(tenant).config
        budget = max_tokens or config.context.max_tokens
        profile_store = config.stores.user_profile
        session_store = config.stores.session_context
        fields: dict[str, object] = {}
        memories: list[Memory] = []
        if profile_store.enabled and profile_store.add_to_context:
            state = self.users.load(tenant, user_id)
            fields = state.profile.fields
            layers = set(profile_store.enabled_layers())
            memories = [m for m in state.memories if m.layer in layers]
        session = None
        if session_id and session_store.enabled and session_store.add_to_context:
            session = self.sessions.get(tenant, session_id)
            if session and session.user_id != user_id:
                session = None  # another user's session is indistinguishable from none
        ranked = rank_memories(memories, query or (session.summary if session else None))
        rendered = render(fields, ranked, session, budget)
        by_layer: dict = {}
        for memory in rendered.kept_memories:
            by_layer.setdefault(memory.layer, []).append(
                ContextMemory(**memory.model_dump(include=set(ContextMemory.model_fields)))
            )
        return ContextResponse(
            user_id=user_id,
            session_id=session_id,
            xml=rendered.xml,
            profile=rendered.kept_fields,
            memories=by_layer,
            session=session if rendered.session_kept else None,
            tokens=rendered.tokens,
            max_tokens=budget,
            dropped=rendered.dropped,
        )
