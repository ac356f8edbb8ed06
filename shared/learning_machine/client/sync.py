"""`LearningMachineClient`: the API over httpx, with typed results, errors and retries."""

from __future__ import annotations

from collections.abc import Callable
from time import sleep
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

import httpx

from ..models.api.config import StoredConfig
from . import routes
from ._http import DEFAULT_TIMEOUT, RetryPolicy, connection, method_signature, result
from .routes import Call
from .schema import profile_schema, with_profile_schema

P = ParamSpec("P")
T = TypeVar("T")


def _method(route: Callable[P, Call[T]]) -> Callable[Concatenate[LearningMachineClient, P], T]:
    def method(self: LearningMachineClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self.send(route(*args, **kwargs))

    method.__name__ = method.__qualname__ = route.__name__
    method.__doc__ = route.__doc__
    method.__signature__ = method_signature(route, "LearningMachineClient")  # type: ignore[attr-defined]
    return method


class LearningMachineClient:
    """Sync client. `base_url` and `api_key` default to LM_API_URL and LM_API_KEY.

    Errors raise `LearningMachineError` subclasses (`NotFoundError`, `ConflictError`,
    `InvalidRequestError` with `field_errors`, ...). 429, 5xx and network errors are retried
    `max_retries` times with exponential backoff from `backoff` seconds, honouring Retry-After.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        url, headers = connection(base_url, api_key)
        self.retry = RetryPolicy(max_retries=max_retries, backoff=backoff)
        self._http = httpx.Client(base_url=url, headers=headers, timeout=timeout, transport=transport)

    def send(self, call: Call[T]) -> T:
        """Send one request (see `routes`), retrying by the policy, and read its answer."""
        retry = 0
        while True:
            outcome: httpx.Response | httpx.TransportError
            try:
                outcome = self._http.request(**call.request_args())
            except httpx.TransportError as error:
                outcome = error
            wait = self.retry.delay(retry, outcome)
            if wait is None:
                return result(call, outcome)
            sleep(wait)
            retry += 1

    def set_profile_schema(self, model: type[Any] | None) -> StoredConfig:
        """Custom profile fields from a pydantic model or dataclass (None removes them)."""
        schema = profile_schema(model) if model is not None else None
        return self.put_config(with_profile_schema(self.get_config(), schema))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    post_transcript = _method(routes.post_transcript)
    get_transcript = _method(routes.get_transcript)
    get_context = _method(routes.get_context)
    search = _method(routes.search)
    list_users = _method(routes.list_users)
    get_profile = _method(routes.get_profile)
    update_profile = _method(routes.update_profile)
    list_memories = _method(routes.list_memories)
    create_memory = _method(routes.create_memory)
    update_memory = _method(routes.update_memory)
    delete_memory = _method(routes.delete_memory)
    memory_history = _method(routes.memory_history)
    export_user = _method(routes.export_user)
    forget_user = _method(routes.forget_user)
    get_session_context = _method(routes.get_session_context)
    get_config = _method(routes.get_config)
    get_usage = _method(routes.get_usage)
    put_config = _method(routes.put_config)
    list_entities = _method(routes.list_entities)
    search_entities = _method(routes.search_entities)
    upsert_entity = _method(routes.upsert_entity)
    get_entity = _method(routes.get_entity)
    delete_entity = _method(routes.delete_entity)
    add_facts = _method(routes.add_facts)
    forget_fact = _method(routes.forget_fact)
    add_events = _method(routes.add_events)
    add_relationships = _method(routes.add_relationships)
    save_knowledge = _method(routes.save_knowledge)
    list_knowledge = _method(routes.list_knowledge)
    import_knowledge = _method(routes.import_knowledge)
    propose_knowledge = _method(routes.propose_knowledge)
    list_proposals = _method(routes.list_proposals)
    approve_proposal = _method(routes.approve_proposal)
    reject_proposal = _method(routes.reject_proposal)
    list_tools = _method(routes.list_tools)
    call_tool = _method(routes.call_tool)
    start_curation = _method(routes.start_curation)
    get_curation = _method(routes.get_curation)
    undo_curation = _method(routes.undo_curation)
    openapi = _method(routes.openapi)
