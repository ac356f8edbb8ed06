"""The request benchmark attributes each DynamoDB request to a store family by its partition key."""

from __future__ import annotations

import json

import pytest

from bench.backend_probe import family_of


@pytest.mark.parametrize(
    ("body", "family"),
    [
        (
            {
                "TableName": "D",
                "KeyConditionExpression": "#n0 = :v0",
                "ExpressionAttributeValues": {":v0": {"S": "T#acme#U#ada"}},
            },
            "user",
        ),
        ({"TableName": "D", "Key": {"pk": {"S": "T#acme#S#s1"}, "sk": {"S": "SESSION"}}}, "session"),
        ({"TableName": "D", "ExpressionAttributeValues": {":v0": {"S": "T#acme#CONFIG"}}}, "config"),
        ({"TableName": "D", "Key": {"pk": {"S": "T#acme#NS#user:ada#E"}, "sk": {"S": "e1"}}}, "entities"),
        ({"TableName": "D", "Key": {"pk": {"S": "T#acme#NS#global#K"}, "sk": {"S": "k1"}}}, "insights"),
        ({"TableName": "Keys", "Key": {"pk": {"S": "abc"}}}, "other"),
    ],
)
def test_requests_are_attributed_by_partition_key(body: dict[str, object], family: str) -> None:
    assert family_of(json.dumps(body).encode()) == family
