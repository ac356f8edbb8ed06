"""Every route of the template, fuzzed through the authorizer and the real handlers: valid and invalid
input alike, no 5xx, and no response that breaks the API's own schema."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis import Case, CheckContext, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from learning_machine.api.errors import ErrorBody
from local.template import LocalTemplate, Route
from tests.conftest import MOTO_SQS_ENDPOINT

from .conftest import OPENAPI_PATH, STATS, FuzzApi, fuzz_examples, fuzz_seed

# Parsing the template needs no AWS: the routes are known when the tests are collected.
ROUTES = [r for r in LocalTemplate.load(endpoint_url=MOTO_SQS_ENDPOINT).routes if r.path != OPENAPI_PATH]
# What API Gateway answers itself when a URL matches no resource (a generated id of "." or "..").
NO_ROUTE = (403, {"message": "Missing Authentication Token"})


def undeclared_statuses_keep_their_promise(ctx: CheckContext, response: Response, case: Case) -> None:
    """Statuses the document does not declare, held to what the code promises for them.

    The document declares 200 and 422 (Powertools' defaults); response_schema_conformance checks those.
    The routes also answer 201/202 with the 200 model, 204 with nothing, and 4xx with ErrorBody.
    """
    declared = case.operation.responses.status_codes
    status = response.status_code
    if str(status) in declared or f"{status // 100}XX" in declared or "default" in declared or status >= 500:
        return
    if status in (201, 202):
        as_200 = Response(200, response.headers, response.content, response.request, response.elapsed, True)
        case.operation.validate_response(as_200, case=case)
        return
    if status == 204:
        assert not response.content, f"204 with a body: {response.content[:200]!r}"
        return
    assert 400 <= status < 500, f"{status} is neither declared nor a status the routes answer"
    body = json.loads(response.content)
    if (status, body) == NO_ROUTE:
        return
    error = ErrorBody.model_validate(body)
    assert error.statusCode == status, f"answered {status}, the body says {error.statusCode}"


CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    undeclared_statuses_keep_their_promise,
]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_no_input_makes_a_route_fail_or_break_its_schema(route: Route, fuzz_api: FuzzApi) -> None:
    operation = fuzz_api.schema[route.path][route.method]  # a KeyError: the document omits a route
    strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
    if operation.body or len(operation.path_parameters) or len(operation.query):
        # Invalid input needs something to make invalid; without it every negative draw is rejected.
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))

    @settings(
        max_examples=fuzz_examples() * len(strategies),
        deadline=None,
        database=None,  # no .hypothesis/ in the repository; LM_FUZZ_SEED replays a run
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=st.one_of(strategies))
    def fuzz(case: Case) -> None:
        response = case.call_and_validate(headers=fuzz_api.headers, checks=CHECKS)
        STATS.cases[operation.label] += 1
        STATS.statuses[response.status_code] += 1

    run_seed = fuzz_seed()
    (seed(run_seed)(fuzz) if run_seed is not None else fuzz)()


def test_the_document_describes_every_route_of_the_template(fuzz_api: FuzzApi) -> None:
    documented = {(op.method.upper(), op.path) for op in (r.ok() for r in fuzz_api.schema.get_all_operations())}
    assert documented == {(r.method, r.path) for r in ROUTES}
