"""Profile, memories and their history, and forgetting a user."""

from __future__ import annotations

from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from ...models.api.memories import Memory, MemoryHistory, MemoryList, MemoryVersion
from ...models.api.profile import UserProfile
from ...models.api.users import UserPage
from ...models.export import UserExport
from ...models.memory_edits import MemoryCreate, MemoryPatch
from ...models.profile import ProfilePatch
from ...stores.user_memory import UserState
from .. import deps
from ..errors import not_found
from ..params import Limit, MemoryId, UserAfter, UserId
from ..tenancy import tenant_of

router = APIGatewayRouter()


def _existing_user(tenant: str, user_id: str) -> UserState:
    state = deps.services().user_store.load(tenant, user_id)
    if not state.exists:
        raise not_found("user", ["path", "user_id"])
    return state


@router.get("/v1/users", tags=["users"], summary="The tenant's users, in id order, a page at a time")
def list_users(after: UserAfter = None, limit: Limit = 100) -> UserPage:
    users = deps.services().registry.users(tenant_of(router), after=after, limit=limit)
    return UserPage(users=users, next_token=users[-1] if len(users) == limit else None)


@router.get("/v1/users/<user_id>/profile", tags=["users"])
def get_profile(user_id: UserId) -> UserProfile:
    return UserProfile.from_stored(_existing_user(tenant_of(router), user_id).profile)


@router.patch("/v1/users/<user_id>/profile", tags=["users"], summary="Set fields, or remove them with null")
def patch_profile(user_id: UserId, patch: ProfilePatch) -> UserProfile:
    tenant = tenant_of(router)
    config = deps.services().config_store.get(tenant).config
    return UserProfile.from_stored(
        deps.services().memory_admin.patch_profile(tenant, user_id, patch.fields, config)
    )


@router.get(
    "/v1/users/<user_id>/memories", tags=["memories"], summary="Current memories (empty for unknown users)"
)
def list_memories(user_id: UserId) -> MemoryList:
    state = deps.services().user_store.load(tenant_of(router), user_id)
    memories = sorted(state.memories, key=lambda m: (m.layer.value, m.created_at))
    return MemoryList(user_id=user_id, memories=[Memory.from_stored(m) for m in memories])


@router.post("/v1/users/<user_id>/memories", tags=["memories"])
def create_memory(user_id: UserId, body: MemoryCreate) -> Response[Memory]:
    memory = Memory.from_stored(deps.services().memory_admin.create_memory(tenant_of(router), user_id, body))
    return Response(status_code=HTTPStatus.CREATED.value, body=memory, content_type="application/json")


@router.patch("/v1/users/<user_id>/memories/<memory_id>", tags=["memories"])
def patch_memory(user_id: UserId, memory_id: MemoryId, patch: MemoryPatch) -> Memory:
    return Memory.from_stored(
        deps.services().memory_admin.update_memory(tenant_of(router), user_id, memory_id, patch)
    )


@router.delete("/v1/users/<user_id>/memories/<memory_id>", tags=["memories"])
def delete_memory(user_id: UserId, memory_id: MemoryId) -> Response[None]:
    deps.services().memory_admin.delete_memory(tenant_of(router), user_id, memory_id)
    return Response(status_code=HTTPStatus.NO_CONTENT.value)


@router.get(
    "/v1/users/<user_id>/memories/<memory_id>/history",
    tags=["memories"],
    summary="Every version, with provenance and validity",
)
def memory_history(user_id: UserId, memory_id: MemoryId) -> MemoryHistory:
    versions = deps.services().user_store.history(tenant_of(router), user_id, memory_id)
    if not versions:
        raise not_found("memory", ["path", "memory_id"])
    return MemoryHistory(memory_id=memory_id, versions=[MemoryVersion.from_stored(v) for v in versions])


@router.delete("/v1/users/<user_id>", tags=["users"], summary="Forget the user everywhere")
def forget_user(user_id: UserId) -> Response[None]:
    """Tables, private entity and knowledge namespaces, index documents and idempotency records."""
    if deps.services().user_data.forget(tenant_of(router), user_id) is None:
        raise not_found("user", ["path", "user_id"])
    return Response(status_code=HTTPStatus.NO_CONTENT.value)


@router.get("/v1/users/<user_id>/export", tags=["users"], summary="Everything held about the user")
def export_user(user_id: UserId) -> UserExport:
    export = deps.services().user_data.export(tenant_of(router), user_id)
    if export is None:
        raise not_found("user", ["path", "user_id"])
    return export
