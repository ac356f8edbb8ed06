"""DynamoDB access: one cached resource per process, and the item codec every store uses.

Documents are stored as a JSON string (`doc`) beside the key attributes and a numeric
`version`: no float/Decimal conversions, and the version drives conditional writes.
"""

from __future__ import annotations

import binascii
import json
from contextvars import ContextVar
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from pydantic import BaseModel

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource, Table

M = TypeVar("M", bound=BaseModel)

# A transaction holds at most 100 items (DynamoDB limit).
MAX_TRANSACTION_ITEMS = 100


@lru_cache(maxsize=1)
def resource() -> DynamoDBServiceResource:
    return boto3.resource("dynamodb")


def client() -> DynamoDBClient:
    """The resource's client: takes and returns plain Python values (no type descriptors)."""
    return resource().meta.client


@lru_cache(maxsize=1)
def raw_client() -> DynamoDBClient:
    """A plain client: its answers keep DynamoDB's type descriptors. Its Query calls made by
    `query_docs` skip botocore's answer parsing altogether (`_keep_answer_as_json`)."""
    raw = boto3.client("dynamodb")
    raw.meta.events.register("before-parse.dynamodb.Query", _keep_answer_as_json)
    return raw


VECTOR_ATTRIBUTE = "vec"
# Set while `query_docs` waits for a page: only those answers are kept as JSON.
_AS_JSON: ContextVar[bool] = ContextVar("dynamodb_answer_as_json", default=False)
_JSON_ANSWER = "JsonAnswer"


def _keep_answer_as_json(
    response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    """botocore's `before-parse` event: decode a successful Query answer with `json` and hand it to
    the caller as is, leaving botocore an empty body to parse. botocore's parser walks the output
    shape for every attribute of every item (ten members of AttributeValue each time): for a
    500-memory partition that was the largest share of get-context's own time (cProfile).
    The answer is DynamoDB's own JSON (`{"Items": [{"sk": {"S": ...}}], "LastEvaluatedKey": ...}`),
    so reading it needs nothing botocore would have added. Errors (status >= 300) are left to
    botocore, which raises them as usual."""
    if not _AS_JSON.get() or response_dict["status_code"] >= 300:
        return
    customized_response_dict[_JSON_ANSWER] = json.loads(response_dict["body"])
    response_dict["body"] = b"{}"


def query_docs(table_name: str, pk: str, consistent: bool = False) -> list[tuple[str, str, bytes | None]]:
    """(sort key, doc, vector bytes or None) of every item of one partition: the hot read path
    (one round trip a page)."""
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": pk}},
        "ProjectionExpression": "sk, #doc, #vec",
        "ExpressionAttributeNames": {"#doc": "doc", "#vec": VECTOR_ATTRIBUTE},
        "ConsistentRead": consistent,
    }
    found: list[tuple[str, str, bytes | None]] = []
    while True:
        token = _AS_JSON.set(True)
        try:
            answer: dict[str, Any] = dict(raw_client().query(**kwargs))
        finally:
            _AS_JSON.reset(token)
        page: dict[str, Any] = answer[_JSON_ANSWER]
        for item in page.get("Items", []):
            if "doc" in item:
                vector = item.get(VECTOR_ATTRIBUTE)
                found.append(
                    (item["sk"]["S"], item["doc"]["S"], binascii.a2b_base64(vector["B"]) if vector else None)
                )
        last = page.get("LastEvaluatedKey")
        if not last:
            return found
        kwargs["ExclusiveStartKey"] = last


@lru_cache(maxsize=8)
def table(name: str) -> Table:
    return resource().Table(name)


def item(pk: str, sk: str, doc: BaseModel, version: int, **extra: Any) -> dict[str, Any]:
    return {"pk": pk, "sk": sk, "version": version, "doc": doc.model_dump_json(), **extra}


def guarded_put(table_name: str, item_: dict[str, Any], expected_version: int) -> dict[str, Any]:
    """A transaction Put that fails unless the item is new (expected 0) or still at that version."""
    put: dict[str, Any] = {"TableName": table_name, "Item": item_}
    if expected_version == 0:
        put["ConditionExpression"] = "attribute_not_exists(pk)"
    else:
        put["ConditionExpression"] = "version = :v"
        put["ExpressionAttributeValues"] = {":v": expected_version}
    return {"Put": put}


def put_if_version(table_name: str, item_: dict[str, Any], expected_version: int) -> bool:
    """One guarded put outside a transaction; False when the item moved on (or exists, for 0)."""
    put = guarded_put(table_name, item_, expected_version)["Put"]
    try:
        client().put_item(**put)
    except client().exceptions.ConditionalCheckFailedException:
        return False
    return True


def guarded_set(
    table_name: str, key: dict[str, Any], version: int, attribute: str, value: Any
) -> dict[str, Any]:
    """A transaction Update of one attribute, which fails if the item moved on from `version` (or is
    gone) meanwhile; the version stays: the attribute is derived from the document, not part of it."""
    return {
        "Update": {
            "TableName": table_name,
            "Key": key,
            "UpdateExpression": "SET #a = :a",
            "ConditionExpression": "version = :v",
            "ExpressionAttributeNames": {"#a": attribute},
            "ExpressionAttributeValues": {":a": value, ":v": version},
        }
    }


def guarded_delete(table_name: str, key: dict[str, Any], version: int) -> dict[str, Any]:
    """A transaction Delete that fails if the item moved on from `version` meanwhile."""
    return {
        "Delete": {
            "TableName": table_name,
            "Key": key,
            "ConditionExpression": "version = :v",
            "ExpressionAttributeValues": {":v": version},
        }
    }


def load(model: type[M], raw: dict[str, Any]) -> M:
    return model.model_validate_json(str(raw["doc"]))


def query_all(table_name: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Query every page of a key condition (one logical round trip per page)."""
    found: list[dict[str, Any]] = []
    tbl = table(table_name)
    while True:
        page = tbl.query(**kwargs)
        found.extend(page.get("Items", []))
        last = page.get("LastEvaluatedKey")
        if not last:
            return found
        kwargs["ExclusiveStartKey"] = last


def query_page(table_name: str, pk: str, after: str, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` items of one partition whose sort key follows `after` ("": from the first), in
    key order: one round trip."""
    values: dict[str, Any] = {":pk": pk}
    condition = "pk = :pk"
    if after:  # DynamoDB refuses an empty string as a key value, even in a comparison
        condition += " AND sk > :after"
        values[":after"] = after
    page = table(table_name).query(
        KeyConditionExpression=condition, ExpressionAttributeValues=values, Limit=limit
    )
    return list(page.get("Items", []))


def transact_write(items: list[dict[str, Any]]) -> None:
    """One all-or-nothing write; conditional failures surface as ClientError for the caller to map."""
    if len(items) > MAX_TRANSACTION_ITEMS:
        raise ValueError(f"a transaction holds at most {MAX_TRANSACTION_ITEMS} writes")
    client().transact_write_items(TransactItems=items)  # type: ignore[arg-type]


def delete_keys(table_name: str, keys: list[dict[str, Any]]) -> int:
    with table(table_name).batch_writer() as batch:
        for key in keys:
            batch.delete_item(Key=key)
    return len(keys)


def is_conditional_failure(error: Exception) -> bool:
    code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
    return code in ("ConditionalCheckFailedException", "TransactionCanceledException")
