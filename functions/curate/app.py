"""curate function: curation jobs started by the API or the schedule, run in resumable slices.

Three kinds of events reach it: API Gateway (start, follow, undo a job), the EventBridge
schedule (start the due tenants' jobs) and the curation queue (one slice of one job each).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from learning_machine.api.app import curate_resolver
from learning_machine.api.handler import rest_handler
from learning_machine.composition import services
from learning_machine.curation.service import SliceMessage
from learning_machine.settings import get_settings

logger = Logger()
tracer = Tracer()
settings = get_settings()
curation = services().curation
api = rest_handler(curate_resolver())
processor = BatchProcessor(event_type=EventType.SQS)


def run_slices(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    def seconds_left() -> float:
        return context.get_remaining_time_in_millis() / 1000 - settings.curation_reserve_seconds

    def record_handler(record: SQSRecord) -> str:
        message = SliceMessage.model_validate_json(record.body)
        logger.append_keys(job_id=message.job_id)
        job = curation.process(message, seconds_left)
        return job.status if job else "busy"

    return dict(process_partial_response(event, record_handler, processor, context))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "Records" in event:
        return run_slices(event, context)
    if event.get("detail-type") == "Scheduled Event":
        started = curation.run_schedule()
        logger.info("scheduled curation", extra={"jobs_started": len(started)})
        return {"jobs_started": started}
    return api(event, context)
