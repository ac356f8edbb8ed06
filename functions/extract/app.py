"""extract function: learns from SQS transcript batches, one record failing alone.

Exactly-once effects under at-least-once delivery: Powertools Idempotency keyed on the tenant
and transcript id, and inside it a transaction that marks the transcript done with its effects.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.typing import LambdaContext

from learning_machine.composition import services
from learning_machine.models.transcripts import TranscriptEnvelope
from learning_machine.settings import get_settings
from learning_machine.stores.idempotency import KEY_PREFIX, idempotency_config, persistence_layer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
settings = get_settings()
pipeline = services().extraction_pipeline(metrics=metrics)
processor = BatchProcessor(event_type=EventType.SQS)
idempotency = idempotency_config(settings)
persistence = persistence_layer(settings)


@idempotent_function(
    data_keyword_argument="envelope", config=idempotency, persistence_store=persistence, key_prefix=KEY_PREFIX
)
def learn(envelope: TranscriptEnvelope) -> dict[str, Any]:
    status = pipeline.process(envelope)
    logger.info("transcript learned", extra={"transcript_id": status.transcript_id, "status": status.status})
    return {"transcript_id": status.transcript_id, "status": status.status}


@tracer.capture_method
def record_handler(record: SQSRecord) -> dict[str, Any]:
    envelope = TranscriptEnvelope.model_validate_json(record.body)
    logger.append_keys(transcript_id=envelope.transcript_id)
    return learn(envelope=envelope)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    idempotency.register_lambda_context(context)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
