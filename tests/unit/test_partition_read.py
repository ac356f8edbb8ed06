"""The hot partition read (`dynamodb.query_docs`) takes DynamoDB's JSON answer as is, skipping
botocore's shape parsing: it must return what botocore's parsing would, page after page, and leave
every other call of the same client parsed as usual."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from learning_machine.adapters import dynamodb

PK = "T#t1#U#u1"


def put(aws, sk: str, doc: str | None, vec: bytes | None = None, padding: int = 0) -> None:
    item = {"pk": {"S": PK}, "sk": {"S": sk}}
    if doc is not None:
        item["doc"] = {"S": doc}
    if vec is not None:
        item[dynamodb.VECTOR_ATTRIBUTE] = {"B": vec}
    if padding:
        item["pad"] = {"S": "x" * padding}
    dynamodb.raw_client().put_item(TableName=aws.settings.data_table, Item=item)


def test_items_come_back_as_botocore_would_parse_them(aws) -> None:
    vector = bytes(range(256)) + b"\x00\xff\x80"  # every byte value survives base64 both ways
    put(aws, "MEM#1", '{"content": "a"}', vector)
    put(aws, "MEM#2", '{"content": "b"}')
    put(aws, "MARK", None)  # an item without a doc is not a document

    found = dynamodb.query_docs(aws.settings.data_table, PK)

    parsed = dynamodb.raw_client().query(
        TableName=aws.settings.data_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": PK}},
    )["Items"]
    expected = [
        (item["sk"]["S"], item["doc"]["S"], item.get(dynamodb.VECTOR_ATTRIBUTE, {}).get("B"))
        for item in parsed
        if "doc" in item
    ]
    assert found == expected
    assert found[0] == ("MEM#1", '{"content": "a"}', vector)
    assert "JsonAnswer" not in dynamodb.raw_client().query(
        TableName=aws.settings.data_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": PK}},
    )


def test_a_partition_larger_than_one_page_is_read_whole(aws) -> None:
    # DynamoDB answers at most 1 MB a page: 12 items of 100 KB need two pages at least.
    for n in range(12):
        put(aws, f"MEM#{n:02d}", f'{{"n": {n}}}', padding=100_000)
    pages: list[str] = []
    dynamodb.raw_client().meta.events.register(
        "provide-client-params.dynamodb.Query",
        lambda params, **_: pages.append(params.get("ExclusiveStartKey")),
    )

    found = dynamodb.query_docs(aws.settings.data_table, PK)

    assert len(pages) >= 2 and pages[0] is None and all(pages[1:])
    assert [sk for sk, _, _ in found] == [f"MEM#{n:02d}" for n in range(12)]


def test_errors_are_raised_as_botocore_raises_them(aws) -> None:
    with pytest.raises(ClientError) as raised:
        dynamodb.query_docs("NoSuchTable", PK)
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
