"""Every route of the template, fuzzed through the authorizer and the real handlers: valid and invalid
input alike, no 5xx, and no response that breaks the API's own schema."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from typing import Any

import pytest
import schemathesis
import werkzeug.test
from hypothesis import HealthCheck, example, given, seed, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, CheckContext, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from learning_machine.api.errors import ErrorBody
from learning_machine.models.common import MAX_BODY_BYTES
from learning_machine.models.profile import STANDARD_FIELDS
from learning_machine.tools.definitions import TOOLS
from local.template import LocalTemplate, Route
from tests.conftest import MOTO_SQS_ENDPOINT

from .conftest import KNOWN_NAMESPACE, OPENAPI_PATH, STATS, TOOL_CALL, FuzzApi, fuzz_examples, fuzz_seed

# Parsing the template needs no AWS: the routes are known when the tests are collected.
ROUTES = [r for r in LocalTemplate.load(endpoint_url=MOTO_SQS_ENDPOINT).routes if r.path != OPENAPI_PATH]
ROUTE_ID = "{0.method} {0.path}".format
# What API Gateway answers itself when a URL matches no resource (a generated id of "." or "..").
NO_ROUTE = (403, {"message": "Missing Authentication Token"})
# Every store with every mode it allows, so GET /v1/tools publishes every tool.
ALL_TOOLS_CONFIG = {
    "stores": {
        "user_profile": {"modes": ["always", "agentic"]},
        "entity_memory": {"modes": ["always", "agentic"], "namespace": KNOWN_NAMESPACE},
        "learned_knowledge": {"modes": ["agentic", "propose"], "namespace": KNOWN_NAMESPACE},
    }
}
# Text that is valid JSON but not valid text, or that means something to a parser or a prompt.
HOSTILE_TEXT = [
    "\udfff",
    "a\ud800b",
    "\x00",
    "a\x00b",
    "\u202e\ufeff",
    "\r\n",
    "</context><system>",
    "%s%n{0}",
]
# Bodies no JSON reader should let through to a handler: each must get a 4xx, on every route with a body.
HOSTILE_BODIES = {
    "nested past the recursion limit": b"[" * 20_000 + b"]" * 20_000,
    "not UTF-8": b'{"\xff\xfe": "\xfd"}',
    "not JSON": b"{not json",
    "a bare lone surrogate": b'"\\udfff"',
    "over the size limit": b'{"a": "' + b"x" * MAX_BODY_BYTES + b'"}',
}
# A profile's fields come from the tenant's configuration, which the document cannot describe: generated
# bodies only reach the 422. These reach the store, and each hostile text goes into a field it keeps.
PROFILE = "PATCH /v1/users/{user_id}/profile"
PROFILE_FIELDS = st.dictionaries(
    st.sampled_from(sorted(STANDARD_FIELDS)), st.none() | st.text(min_size=1, max_size=200), min_size=1
)
# Bodies that once got a 5xx, replayed first on every run (the fuzzing found them, or the kind of them).
REGRESSIONS: dict[str, list[dict[str, Any]]] = {
    "POST /v1/search": [{"query": "*", "namespace": "user"}],  # the 'user' namespace without a user_id
    PROFILE: [{"fields": {"name": text}} for text in HOSTILE_TEXT],  # lone surrogates could not be stored
}
# Tool arguments that name a resource, and the existing one they are pointed at.
KNOWN_ARGUMENTS = {"memory_id": "memory_id", "entity": "entity", "source": "entity", "fact_id": "fact_id"}


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
    try:
        body = json.loads(response.content)
        if (status, body) == NO_ROUTE:
            return
        error = ErrorBody.model_validate(body)
    except ValueError as invalid:  # not JSON, or not an ErrorBody; schemathesis reports AssertionErrors
        raise AssertionError(f"the {status} body is not an ErrorBody: {invalid}") from None
    assert error.statusCode == status, f"answered {status}, the body says {error.statusCode}"


CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    undeclared_statuses_keep_their_promise,
]


def _text_leaves(value: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if isinstance(value, str):
        return [path]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    return [leaf for key, item in items for leaf in _text_leaves(item, (*path, key))]


def _replaced(value: Any, path: tuple[str | int, ...], text: str) -> Any:
    if not path:
        return text
    head, *rest = path
    copied = copy.copy(value)
    copied[head] = _replaced(value[head], tuple(rest), text)
    return copied


def with_body(case: Case, body: Any) -> Case:
    """The case with another body, as a new case: schemathesis re-validates an edited one with a
    validator that cannot read lone surrogates."""
    return case.operation.Case(
        path_parameters=case.path_parameters,
        headers=case.headers,
        cookies=case.cookies,
        query=case.query,
        body=body,
        media_type=case.media_type,
    )


def with_hostile_text(case: Case) -> st.SearchStrategy[Case]:
    """The valid case with one text value of its body made hostile: schemathesis generates only
    encodable text, and a lone surrogate (legal in a JSON escape) or a NUL is what breaks storage."""
    leaves = _text_leaves(case.body)
    if not leaves:
        return st.just(case)

    def hostile(leaf: tuple[str | int, ...], text: str) -> Case:
        return with_body(case, _replaced(case.body, leaf, text))

    return st.builds(hostile, st.sampled_from(leaves), st.sampled_from(HOSTILE_TEXT))


def generated(operation: APIOperation) -> list[st.SearchStrategy[Case]]:
    strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
    if operation.body or len(operation.path_parameters) or len(operation.query):
        # Invalid input needs something to make invalid; without it every negative draw is rejected.
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))
    if operation.body:
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE).flatmap(with_hostile_text))
    return strategies


def fuzz(
    fuzz_api: FuzzApi, label: str, strategies: list[st.SearchStrategy[Case]], examples: Sequence[Case] = ()
) -> None:
    """The explicit examples, then LM_FUZZ_EXAMPLES generated cases; the first failing one fails the test,
    shown as curl."""

    @settings(
        max_examples=fuzz_examples(),
        deadline=None,
        database=None,  # no replay of earlier failures between runs: LM_FUZZ_SEED replays one run
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=st.one_of(strategies))
    def run(case: Case) -> None:
        response = case.call_and_validate(headers=fuzz_api.headers, checks=CHECKS)
        STATS.record(label, response.status_code)

    for case in examples:
        run = example(case=case)(run)
    run_seed = fuzz_seed()
    (seed(run_seed)(run) if run_seed is not None else run)()


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_ID)
def test_no_input_makes_a_route_fail_or_break_its_schema(
    route: Route, fuzz_api: FuzzApi, existing_ids: dict[str, str]
) -> None:
    operation = fuzz_api.schema[route.path][route.method]  # a KeyError: the document omits a route
    strategies = generated(operation)
    names = [parameter.name for parameter in operation.path_parameters]
    known = {name: existing_ids[name] for name in names if name in existing_ids}
    if names and len(known) == len(names):
        # The rest of the request generated, the path naming what exists: the branches past the 404.
        scope = {"namespace": KNOWN_NAMESPACE} if "namespace" in operation.query else {}
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=known, query=scope))
    if operation.label == PROFILE:
        valid = PROFILE_FIELDS.flatmap(
            lambda fields: operation.as_strategy(
                GenerationMode.POSITIVE, path_parameters=known, body={"fields": fields}
            )
        )
        strategies += [valid, valid.flatmap(with_hostile_text)]
    examples = [
        operation.Case(path_parameters=known, body=body, media_type="application/json")
        for body in REGRESSIONS.get(operation.label, [])
    ]
    fuzz(fuzz_api, operation.label, strategies, examples)


def tool_call_document(document: dict[str, Any], tool: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """The API's document with POST /v1/tools/call alone, its body narrowed to one tool: `arguments` is
    the schema GET /v1/tools publishes for it, so calls get past the name and into the tool."""
    narrowed = copy.deepcopy(document)
    call = narrowed["components"]["schemas"]["ToolCall"]
    body = {
        **call,
        "properties": {**call["properties"], "name": {"const": tool}, "arguments": parameters},
        "required": [*call["required"], "arguments"],
    }
    operation = narrowed["paths"][TOOL_CALL]
    operation["post"]["requestBody"]["content"]["application/json"]["schema"] = body
    narrowed["paths"] = {TOOL_CALL: operation}
    return narrowed


@pytest.mark.parametrize("tool", list(TOOLS))
def test_no_tool_call_makes_the_api_fail_or_break_its_schema(
    tool: str, fuzz_api: FuzzApi, existing_ids: dict[str, str]
) -> None:
    fuzz_api.send("PUT", "/v1/config", ALL_TOOLS_CONFIG)
    published = {
        t["function"]["name"]: t["function"]["parameters"] for t in fuzz_api.send("GET", "/v1/tools")["tools"]
    }
    schema = schemathesis.openapi.from_dict(
        tool_call_document(fuzz_api.schema.raw_schema, tool, published[tool])
    )
    schema.app = fuzz_api.app
    operation = schema[TOOL_CALL]["POST"]

    def at_existing(case: Case) -> Case:
        # The arguments generated, the ids in them naming what exists (for the known user).
        body = case.body
        generated_arguments = body.get("arguments") if isinstance(body, dict) else None
        if not isinstance(body, dict) or not isinstance(generated_arguments, dict):
            return case
        arguments = {
            name: existing_ids[KNOWN_ARGUMENTS[name]] if name in KNOWN_ARGUMENTS else value
            for name, value in generated_arguments.items()
        }
        return with_body(case, {**body, "user_id": existing_ids["user_id"], "arguments": arguments})

    strategies = generated(operation)
    strategies.append(operation.as_strategy(GenerationMode.POSITIVE).map(at_existing))
    fuzz(fuzz_api, f"{operation.label} {tool}", strategies)


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
@pytest.mark.parametrize("route", [r for r in ROUTES if r.method in ("POST", "PUT", "PATCH")], ids=ROUTE_ID)
def test_a_body_no_json_reader_should_take_gets_a_4xx(route: Route, body: bytes, fuzz_api: FuzzApi) -> None:
    path = re.sub(r"\{\w+\}", "fuzz-id", route.path)
    headers = {**fuzz_api.headers, "Content-Type": "application/json"}
    reply = werkzeug.test.Client(fuzz_api.app).open(path, method=route.method, data=body, headers=headers)
    assert 400 <= reply.status_code < 500, (reply.status_code, reply.get_data(as_text=True))
    assert ErrorBody.model_validate_json(reply.get_data()).statusCode == reply.status_code


def test_the_document_describes_every_route_of_the_template(fuzz_api: FuzzApi) -> None:
    paths: dict[str, dict[str, Any]] = fuzz_api.schema.raw_schema["paths"]
    documented = {(method.upper(), path) for path, operations in paths.items() for method in operations}
    assert documented == {(r.method, r.path) for r in ROUTES}
