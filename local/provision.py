"""Creates the template's tables, queues and function roles in the moto server; safe to run again."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3

from .iam import ensure_roles, function_roles
from .template import REGION, LocalTemplate, Queue, Table, cfn_string

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

# CloudFormation properties of AWS::SQS::Queue that are also CreateQueue attributes.
QUEUE_ATTRIBUTES: tuple[QueueAttributeNameType, ...] = (
    "ContentBasedDeduplication",
    "DelaySeconds",
    "FifoQueue",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)
TABLE_CREATE_PROPERTIES = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "ProvisionedThroughput",
    "StreamSpecification",
)


def aws_client(service: str, endpoint_url: str) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def provision(template: LocalTemplate, endpoint_url: str) -> None:
    dynamodb: DynamoDBClient = aws_client("dynamodb", endpoint_url)
    sqs: SQSClient = aws_client("sqs", endpoint_url)
    for table in template.tables.values():
        ensure_table(dynamodb, table)
    for queue in dead_letter_queues_first(template):
        ensure_queue(sqs, queue)
    # Each function's role, as SAM creates it: the API and the poller run the functions with these.
    ensure_roles(aws_client("iam", endpoint_url), function_roles(template.path, template.parameters))


def ensure_table(dynamodb: DynamoDBClient, table: Table) -> None:
    props = table.properties
    try:
        dynamodb.describe_table(TableName=table.name)
    except dynamodb.exceptions.ResourceNotFoundException:
        request: dict[str, Any] = {key: props[key] for key in TABLE_CREATE_PROPERTIES if key in props}
        sse = props.get("SSESpecification")
        if sse:
            request["SSESpecification"] = {"Enabled": bool(sse.get("SSEEnabled"))}
        dynamodb.create_table(TableName=table.name, **request)
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        current = dynamodb.describe_time_to_live(TableName=table.name)["TimeToLiveDescription"]
        # Enabling TTL twice is an error in DynamoDB, so only enable what is not on yet.
        if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            dynamodb.update_time_to_live(
                TableName=table.name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
    pitr = props.get("PointInTimeRecoverySpecification") or {}
    if pitr.get("PointInTimeRecoveryEnabled"):
        dynamodb.update_continuous_backups(
            TableName=table.name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )


def queue_attributes(queue: Queue) -> dict[QueueAttributeNameType, str]:
    attributes: dict[QueueAttributeNameType, str] = {}
    for key in QUEUE_ATTRIBUTES:
        if key in queue.properties:
            value = queue.properties[key]
            attributes[key] = json.dumps(value) if isinstance(value, dict) else cfn_string(value)
    return attributes


def ensure_queue(sqs: SQSClient, queue: Queue) -> str:
    attributes = queue_attributes(queue)
    try:
        url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        return sqs.create_queue(QueueName=queue.name, Attributes=attributes)["QueueUrl"]
    # The queue exists (a second `up`): bring its attributes in line with the template.
    mutable: dict[QueueAttributeNameType, str] = {k: v for k, v in attributes.items() if k != "FifoQueue"}
    if mutable:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=mutable)
    return url


def dead_letter_queues_first(template: LocalTemplate) -> list[Queue]:
    """SQS refuses a RedrivePolicy whose target does not exist yet."""
    ordered: list[Queue] = []

    def visit(queue: Queue, path: tuple[str, ...]) -> None:
        if queue in ordered:
            return
        if queue.logical_id in path:
            raise ValueError(f"redrive cycle through {queue.logical_id}")
        target = template.dead_letter_queue(queue)
        if target is not None:
            visit(target, (*path, queue.logical_id))
        ordered.append(queue)

    for queue in template.queues.values():
        visit(queue, ())
    return ordered
