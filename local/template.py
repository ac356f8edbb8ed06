"""template.yaml as the local stack sees it: the single source of tables, queues, functions and routes.

Intrinsics are resolved for the local world: tables are named after their logical ids, queues live
in the moto server (account 123456789012, us-east-1), parameters take their defaults unless a local
setting (LM_LLM_*) overrides them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
LOCAL_STACK_NAME = "learning-machine-local"
# Local settings that stand in for `sam deploy --parameter-overrides`.
PARAMETER_OVERRIDES = {
    "ModelId": "LM_LLM_MODEL",
    "ModelBaseUrl": "LM_LLM_BASE_URL",
    "ModelApiKeySecretArn": "LM_LLM_API_KEY_SECRET",
}
FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
# Local only: a floor under every function's timeout (a CPU model on a shared machine can take longer
# than the template's 120 s extraction timeout, which would kill the work and redeliver it later).
MIN_TIMEOUT_VARIABLE = "LM_LOCAL_MIN_FUNCTION_TIMEOUT_SECONDS"
_SUB_VARIABLE = re.compile(r"\$\{([^}]+)\}")


class TemplateError(ValueError):
    """The template uses something the local stack cannot resolve."""


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short-form tags (!Ref, !GetAtt, !Sub...) into long form."""


def _construct_short_form(loader: CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix in ("Ref", "Condition"):
        return {tag_suffix: value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {f"Fn::{tag_suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_short_form)


def load_yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=CfnLoader)  # a SafeLoader subclass: safe
    if not isinstance(document, dict):
        raise TemplateError(f"{path} is not a CloudFormation template")
    return document


class _NoValue:
    """AWS::NoValue: removes the property or list item that holds it."""


NO_VALUE = _NoValue()


def cfn_string(value: Any) -> str:
    """A scalar as CloudFormation passes it to a resource (booleans lower-case, numbers as text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Resolver:
    """Evaluates intrinsic functions against the local world."""

    def __init__(self, template: Mapping[str, Any], endpoint_url: str, env: Mapping[str, str]) -> None:
        self._resources: dict[str, Any] = template.get("Resources") or {}
        self._conditions: dict[str, Any] = template.get("Conditions") or {}
        self._endpoint = endpoint_url.rstrip("/")
        self.parameters = self._parameter_values(template.get("Parameters") or {}, env)

    @staticmethod
    def _parameter_values(declared: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, str]:
        values = {name: cfn_string(spec.get("Default", "")) for name, spec in declared.items()}
        for name, variable in PARAMETER_OVERRIDES.items():
            if name in values and variable in env:
                values[name] = env[variable]
        return values

    def resource_type(self, logical_id: str) -> str:
        if logical_id not in self._resources:
            raise TemplateError(f"unknown resource {logical_id!r}")
        return str(self._resources[logical_id].get("Type", ""))

    def queue_name(self, logical_id: str) -> str:
        return str(self._resources[logical_id].get("Properties", {}).get("QueueName") or logical_id)

    def table_name(self, logical_id: str) -> str:
        return str(self._resources[logical_id].get("Properties", {}).get("TableName") or logical_id)

    def queue_url(self, logical_id: str) -> str:
        return f"{self._endpoint}/{ACCOUNT_ID}/{self.queue_name(logical_id)}"

    def arn(self, logical_id: str) -> str:
        kind = self.resource_type(logical_id)
        prefix = f"{REGION}:{ACCOUNT_ID}"
        if kind == "AWS::DynamoDB::Table":
            return f"arn:aws:dynamodb:{prefix}:table/{self.table_name(logical_id)}"
        if kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:{prefix}:{self.queue_name(logical_id)}"
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{prefix}:{logical_id}"
        if kind == "AWS::Serverless::LayerVersion":
            return f"arn:aws:lambda:{prefix}:layer:{logical_id}:1"
        if kind in FUNCTION_TYPES:
            return f"arn:aws:lambda:{prefix}:function:{logical_id}"
        if kind == "AWS::OpenSearchServerless::Collection":  # policies name it; no collection runs here
            return f"arn:aws:aoss:{prefix}:collection/{logical_id.lower()}"
        raise TemplateError(f"no local ARN for {logical_id} ({kind})")

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": LOCAL_STACK_NAME,
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{LOCAL_STACK_NAME}/local",
            "AWS::NoValue": NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        kind = self.resource_type(name)
        if kind == "AWS::SQS::Queue":
            return self.queue_url(name)
        if kind == "AWS::DynamoDB::Table":
            return self.table_name(name)
        if kind in ("AWS::SNS::Topic", "AWS::Serverless::LayerVersion"):
            return self.arn(name)
        return name  # functions, APIs and the rest: their logical id stands in for the physical id

    def get_att(self, logical_id: str, attribute: str) -> str:
        if attribute == "Arn":
            return self.arn(logical_id)
        kind = self.resource_type(logical_id)
        if kind == "AWS::SQS::Queue" and attribute == "QueueName":
            return self.queue_name(logical_id)
        if kind == "AWS::SQS::Queue" and attribute == "QueueUrl":
            return self.queue_url(logical_id)
        if kind.startswith("AWS::OpenSearchServerless::"):
            # No OpenSearch runs locally: the stack swaps in the embedded index (LM_INDEX_ENGINE).
            return f"https://{logical_id.lower()}.opensearch.invalid"
        raise TemplateError(f"no local value for !GetAtt {logical_id}.{attribute}")

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            raise TemplateError(f"unknown condition {name!r}")
        return bool(self.resolve(self._conditions[name]))

    def sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        local = {key: self.resolve(value) for key, value in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} is the escape for a literal ${Literal}
                return "${" + name[1:] + "}"
            if name in local:
                return cfn_string(local[name])
            if "." in name:
                resource, _, attribute = name.partition(".")
                return self.get_att(resource, attribute)
            return cfn_string(self.ref(name))

        return _SUB_VARIABLE.sub(replace, text)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref" or key == "Condition" or key.startswith("Fn::"):
                return self._intrinsic(key, argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _intrinsic(self, key: str, argument: Any) -> Any:
        if key == "Ref":
            return self.ref(argument)
        if key == "Condition":
            return self.condition(argument)
        if key == "Fn::GetAtt":
            resource, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self.get_att(resource, attribute)
        if key == "Fn::Sub":
            return self.sub(argument)
        if key == "Fn::If":
            name, when_true, when_false = argument
            return self.resolve(when_true if self.condition(name) else when_false)
        if key == "Fn::Not":
            return not self.resolve(argument[0])
        if key == "Fn::Equals":
            left, right = (cfn_string(self.resolve(item)) for item in argument)
            return left == right
        if key == "Fn::And":
            return all(self.resolve(item) for item in argument)
        if key == "Fn::Or":
            return any(self.resolve(item) for item in argument)
        if key == "Fn::Join":
            delimiter, items = argument
            return delimiter.join(cfn_string(item) for item in self.resolve(items))
        if key == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(self.resolve(index))]
        if key == "Fn::Split":
            delimiter, text = argument
            return str(self.resolve(text)).split(delimiter)
        raise TemplateError(f"{key} is not supported by the local stack")


@dataclass(frozen=True)
class Table:
    logical_id: str
    name: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class Queue:
    logical_id: str
    name: str
    url: str
    arn: str
    properties: dict[str, Any]

    @property
    def redrive_policy(self) -> dict[str, Any] | None:
        policy = self.properties.get("RedrivePolicy")
        return json.loads(policy) if isinstance(policy, str) else policy

    @property
    def visibility_timeout(self) -> int:
        return int(self.properties.get("VisibilityTimeout", 30))


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    timeout: int
    memory_size: int
    reserved_concurrency: int | None = None

    @property
    def module_file(self) -> Path:
        module, _, _ = self.handler.rpartition(".")
        return self.code_dir / (module.replace(".", "/") + ".py")

    @property
    def handler_name(self) -> str:
        return self.handler.rpartition(".")[2]


@dataclass(frozen=True)
class Authorizer:
    name: str
    function: str
    header: str
    ttl_seconds: int


@dataclass(frozen=True)
class UsagePlan:
    """The API's usage plan (`Auth.UsagePlan`): each API key's throttle, unless its own plan says
    otherwise. With `ApiKeySourceType: AUTHORIZER` the authorizer names the key."""

    rate_per_second: float
    burst: int
    key_source: str  # HEADER or AUTHORIZER


@dataclass(frozen=True)
class GatewayResponse:
    """A `GatewayResponses` entry: what API Gateway answers itself (here: THROTTLED)."""

    status: int
    headers: dict[str, str]
    body: str | None


@dataclass(frozen=True)
class Route:
    path: str
    method: str  # upper case; ANY matches every method
    function: str
    authorizer: str | None  # None: the route is open (`Auth: Authorizer: NONE`)
    api_key_required: bool = False

    @property
    def authorized(self) -> bool:
        return self.authorizer is not None


@dataclass(frozen=True)
class SqsEventSource:
    function: str
    queue: str
    batch_size: int
    function_response_types: tuple[str, ...]
    batching_window_seconds: int

    @property
    def reports_item_failures(self) -> bool:
        return "ReportBatchItemFailures" in self.function_response_types


@dataclass(frozen=True)
class LocalTemplate:
    path: Path
    parameters: dict[str, str]
    tables: dict[str, Table]
    queues: dict[str, Queue]
    functions: dict[str, Function]
    routes: list[Route]
    authorizers: dict[str, Authorizer]
    sqs_event_sources: list[SqsEventSource]
    default_authorizer: Authorizer | None = None
    stage: str = "live"
    # API Gateway ids are 10 lower-case characters; this one is fixed so method ARNs are stable.
    api_id: str = "localapi01"
    conditions: dict[str, bool] = field(default_factory=dict)
    usage_plan: UsagePlan | None = None
    gateway_responses: dict[str, GatewayResponse] = field(default_factory=dict)

    def queue_by_arn(self, arn: str) -> Queue:
        for queue in self.queues.values():
            if queue.arn == arn:
                return queue
        raise TemplateError(f"no queue with ARN {arn}")

    def queue_by_url(self, url: str) -> Queue:
        for queue in self.queues.values():
            if queue.url == url:
                return queue
        raise TemplateError(f"no queue with URL {url}")

    def dead_letter_queue(self, queue: Queue) -> Queue | None:
        policy = queue.redrive_policy
        return self.queue_by_arn(policy["deadLetterTargetArn"]) if policy else None

    def function_environment(self) -> dict[str, str]:
        """The environment every function shares (one local process hosts several functions)."""
        merged: dict[str, str] = {}
        for function in self.functions.values():
            for key, value in function.environment.items():
                if merged.setdefault(key, value) != value:
                    raise TemplateError(f"functions disagree on {key}; local processes share one environment")
        return merged

    @classmethod
    def load(
        cls, path: Path | str = DEFAULT_TEMPLATE, *, endpoint_url: str, env: Mapping[str, str] | None = None
    ) -> LocalTemplate:
        path = Path(path).resolve()
        document = load_yaml(path)
        resolver = Resolver(document, endpoint_url, env or {})
        resources: dict[str, Any] = document.get("Resources") or {}
        by_type: dict[str, list[str]] = {}
        for logical_id, resource in resources.items():
            by_type.setdefault(resource.get("Type", ""), []).append(logical_id)

        def properties(logical_id: str) -> dict[str, Any]:
            return dict(resolver.resolve(resources[logical_id].get("Properties") or {}))

        tables = {
            lid: Table(lid, resolver.table_name(lid), properties(lid))
            for lid in by_type.get("AWS::DynamoDB::Table", [])
        }
        queues = {
            lid: Queue(
                lid, resolver.queue_name(lid), resolver.queue_url(lid), resolver.arn(lid), properties(lid)
            )
            for lid in by_type.get("AWS::SQS::Queue", [])
        }
        globals_ = (document.get("Globals") or {}).get("Function") or {}
        functions: dict[str, Function] = {}
        routes: list[Route] = []
        sources: list[SqsEventSource] = []
        api_ids = by_type.get("AWS::Serverless::Api", [])
        apis = {lid: resources[lid].get("Properties") or {} for lid in api_ids}
        authorizers = _authorizers(apis)
        stages = {str(api.get("StageName", "live")) for api in apis.values()}
        defaults = [(api.get("Auth") or {}).get("DefaultAuthorizer") for api in apis.values()]
        default_names = [str(name) for name in defaults if name]
        for lid in by_type.get("AWS::Serverless::Function", []):
            props = resources[lid].get("Properties") or {}
            functions[lid] = _function(lid, path.parent, globals_, props, resolver)
            for event in (props.get("Events") or {}).values():
                event_props = event.get("Properties") or {}
                if event.get("Type") == "Api":
                    routes.append(_route(lid, event_props, apis))
                elif event.get("Type") == "SQS":
                    queue = _queue_for(resolver.resolve(event_props["Queue"]), queues)
                    sources.append(_sqs_source(lid, queue, event_props))
        return cls(
            path=path,
            parameters=resolver.parameters,
            tables=tables,
            queues=queues,
            functions=functions,
            routes=routes,
            authorizers=authorizers,
            sqs_event_sources=sources,
            default_authorizer=authorizers[default_names[0]] if default_names else None,
            stage=stages.pop() if len(stages) == 1 else "live",
            conditions={name: resolver.condition(name) for name in document.get("Conditions") or {}},
            usage_plan=_usage_plan(apis, resolver),
            gateway_responses=_gateway_responses(apis, resolver),
        )


def _function(
    logical_id: str, root: Path, globals_: Mapping[str, Any], props: Mapping[str, Any], resolver: Resolver
) -> Function:
    def setting(name: str, default: Any) -> Any:
        return resolver.resolve(props.get(name, globals_.get(name, default)))

    variables = {
        **((globals_.get("Environment") or {}).get("Variables") or {}),
        **((props.get("Environment") or {}).get("Variables") or {}),
    }
    environment = {key: cfn_string(value) for key, value in resolver.resolve(variables).items()}
    return Function(
        logical_id=logical_id,
        code_dir=(root / str(setting("CodeUri", "."))).resolve(),
        handler=str(setting("Handler", "app.lambda_handler")),
        environment=environment,
        timeout=max(int(setting("Timeout", 3)), int(os.environ.get(MIN_TIMEOUT_VARIABLE) or 0)),
        memory_size=int(setting("MemorySize", 128)),
        reserved_concurrency=int(reserved)
        if (reserved := setting("ReservedConcurrentExecutions", None))
        else None,
    )


def _authorizers(apis: Mapping[str, Mapping[str, Any]]) -> dict[str, Authorizer]:
    found: dict[str, Authorizer] = {}
    for api in apis.values():
        for name, spec in ((api.get("Auth") or {}).get("Authorizers") or {}).items():
            if spec.get("FunctionPayloadType", "TOKEN") != "TOKEN":
                raise TemplateError(f"authorizer {name}: only TOKEN authorizers run locally")
            function_arn = spec.get("FunctionArn")
            if not (isinstance(function_arn, dict) and "Fn::GetAtt" in function_arn):
                raise TemplateError(f"authorizer {name}: FunctionArn must be !GetAtt <Function>.Arn")
            identity = spec.get("Identity") or {}
            found[name] = Authorizer(
                name=name,
                function=str(function_arn["Fn::GetAtt"][0]),
                header=str(identity.get("Header", "Authorization")),
                ttl_seconds=int(identity.get("ReauthorizeEvery", 300)),
            )
    return found


def _route(function: str, props: Mapping[str, Any], apis: Mapping[str, Mapping[str, Any]]) -> Route:
    api_ref = props.get("RestApiId")
    api = apis.get(api_ref["Ref"], {}) if isinstance(api_ref, dict) else {}
    default = (api.get("Auth") or {}).get("DefaultAuthorizer")
    chosen = (props.get("Auth") or {}).get("Authorizer", default)
    key_required = (props.get("Auth") or {}).get(
        "ApiKeyRequired", (api.get("Auth") or {}).get("ApiKeyRequired", False)
    )
    return Route(
        path=str(props["Path"]),
        method=str(props["Method"]).upper(),
        function=function,
        authorizer=None if chosen in (None, "NONE", "AWS_IAM") else str(chosen),
        api_key_required=bool(key_required),
    )


def _usage_plan(apis: Mapping[str, Mapping[str, Any]], resolver: Resolver) -> UsagePlan | None:
    for api in apis.values():
        plan = resolver.resolve((api.get("Auth") or {}).get("UsagePlan") or {})
        throttle = plan.get("Throttle") or {}
        if plan.get("CreateUsagePlan", "NONE") != "NONE" and throttle:
            return UsagePlan(
                rate_per_second=float(throttle["RateLimit"]),
                burst=int(throttle["BurstLimit"]),
                key_source=str(resolver.resolve(api.get("ApiKeySourceType", "HEADER"))),
            )
    return None


def _gateway_responses(
    apis: Mapping[str, Mapping[str, Any]], resolver: Resolver
) -> dict[str, GatewayResponse]:
    found: dict[str, GatewayResponse] = {}
    for api in apis.values():
        for kind, spec in (resolver.resolve(api.get("GatewayResponses") or {})).items():
            headers = ((spec.get("ResponseParameters") or {}).get("Headers")) or {}
            templates = spec.get("ResponseTemplates") or {}
            found[kind] = GatewayResponse(
                status=int(spec.get("StatusCode", 0) or 0),
                # Header values are mapping expressions: a quoted literal stands for itself.
                headers={name: str(value).strip("'") for name, value in headers.items()},
                body=templates.get("application/json"),
            )
    return found


def _queue_for(arn: Any, queues: Mapping[str, Queue]) -> Queue:
    for queue in queues.values():
        if queue.arn == arn:
            return queue
    raise TemplateError(f"SQS event source {arn} is not a queue of this template")


def _sqs_source(function: str, queue: Queue, props: Mapping[str, Any]) -> SqsEventSource:
    return SqsEventSource(
        function=function,
        queue=queue.logical_id,
        batch_size=int(props.get("BatchSize", 10)),
        function_response_types=tuple(props.get("FunctionResponseTypes") or ()),
        batching_window_seconds=int(props.get("MaximumBatchingWindowInSeconds", 0)),
    )


def load_for_process(path: Path) -> tuple[LocalTemplate, str]:
    """The template as a stack process sees it: resolved against the moto server it was given."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        raise TemplateError(
            "AWS_ENDPOINT_URL must point at the moto server (`python -m local.stack up` sets it)"
        )
    return LocalTemplate.load(path, endpoint_url=endpoint, env=os.environ), endpoint
