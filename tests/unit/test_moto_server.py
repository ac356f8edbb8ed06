"""The local stack's moto: failed transactions roll back from an undo log of the items they touch."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.dynamodb import models

from local.moto_server import undo_log_transactions
from tests.conftest import Aws


@pytest.fixture
def undo_log(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> str:
    # Restored after the test: the rest of the suite keeps moto's own rollback.
    monkeypatch.setattr(
        models.DynamoDBBackend, "transact_write_items", models.DynamoDBBackend.transact_write_items
    )
    undo_log_transactions()
    undo_log_transactions()  # idempotent
    return aws.settings.data_table


def put(table: str, sk: str, version: int, condition: str | None = None) -> dict:
    item: dict = {
        "TableName": table,
        "Item": {"pk": {"S": "p"}, "sk": {"S": sk}, "version": {"N": str(version)}},
    }
    if condition:
        item["ConditionExpression"] = condition
        item["ExpressionAttributeValues"] = {":v": {"N": "99"}}
    return {"Put": item}


def items(table: str) -> dict[str, str]:
    found = boto3.client("dynamodb").scan(TableName=table)["Items"]
    return {i["sk"]["S"]: i["version"]["N"] for i in found}


def test_a_failed_transaction_leaves_every_item_as_it_was(undo_log: str) -> None:
    ddb = boto3.client("dynamodb")
    ddb.transact_write_items(TransactItems=[put(undo_log, "a", 1), put(undo_log, "gone", 1)])
    with pytest.raises(ClientError) as failure:
        ddb.transact_write_items(
            TransactItems=[
                put(undo_log, "new", 1),
                {"Delete": {"TableName": undo_log, "Key": {"pk": {"S": "p"}, "sk": {"S": "gone"}}}},
                put(undo_log, "a", 2, condition="version = :v"),
            ]
        )
    assert failure.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert items(undo_log) == {"a": "1", "gone": "1"}


def test_a_transaction_that_holds_commits_every_item(undo_log: str) -> None:
    ddb = boto3.client("dynamodb")
    ddb.transact_write_items(TransactItems=[put(undo_log, "a", 1)])
    ddb.transact_write_items(
        TransactItems=[
            put(undo_log, "b", 1),
            {"Delete": {"TableName": undo_log, "Key": {"pk": {"S": "p"}, "sk": {"S": "a"}}}},
        ]
    )
    assert items(undo_log) == {"b": "1"}


def test_partition_queries_answer_as_moto_does(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    from boto3.dynamodb.conditions import Key
    from moto.dynamodb.models.table import Table

    from local.moto_server import partition_queries

    table = boto3.resource("dynamodb").Table(aws.settings.data_table)
    with table.batch_writer() as batch:
        for pk in ("a", "b", "c"):
            for n in range(30):
                batch.put_item(Item={"pk": pk, "sk": f"{n:03d}", "gsi1pk": f"g{n % 2}", "gsi1sk": f"{pk}{n}"})
    queries = [
        {"KeyConditionExpression": Key("pk").eq("b")},
        {
            "KeyConditionExpression": Key("pk").eq("b") & Key("sk").begins_with("01"),
            "ScanIndexForward": False,
        },
        {
            "KeyConditionExpression": Key("pk").eq("b"),
            "Limit": 7,
            "ExclusiveStartKey": {"pk": "b", "sk": "010"},
        },
        {"KeyConditionExpression": Key("pk").eq("nothing")},
        {"IndexName": "gsi1", "KeyConditionExpression": Key("gsi1pk").eq("g1")},
    ]
    as_moto = [table.query(**q) for q in queries]
    monkeypatch.setattr(Table, "query", Table.query)
    partition_queries()
    partition_queries()  # idempotent
    for query, expected in zip(queries, as_moto, strict=True):
        answer = table.query(**query)
        assert (answer["Items"], answer.get("LastEvaluatedKey")) == (
            expected["Items"],
            expected.get("LastEvaluatedKey"),
        )
