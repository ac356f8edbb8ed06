"""Each function's IAM role as SAM deploys it, created in the moto server, and credentials for it.

`aws-sam-translator` (the library behind `sam build` and CloudFormation's SAM transform) turns
template.yaml into CloudFormation: the `<Function>Role` resources with the policies it generates
(Globals, policy templates, the managed policies SAM attaches, `!If` on conditions). Their
intrinsics are then resolved exactly as the local stack resolves the rest of the template
(parameters from their defaults or the LM_LLM_* overrides, conditions evaluated), so the role a
function runs with locally is the role it would get in AWS, minus one thing: moto cannot evaluate a
trust policy naming a service principal, so the local trust policy lets the stack's admin identity
(standing in for the Lambda service) assume the role instead of `lambda.amazonaws.com`.

What moto's IAM access control then checks (moto 5.2; see `local/moto_server.py`):
- every request is authenticated: the access key must exist (an IAM user's key or credentials from
  `sts:AssumeRole`), the session token must match, the SigV4 signature must verify;
- the action (`service:Operation`) against the identity's inline and attached policies: Allow,
  explicit Deny, `*` wildcards in actions and resources; NotAction;
- the resource: for SQS (queue ARN) and STS AssumeRole (role ARN) by moto itself, for DynamoDB
  (table or `table/T/index/I`, each table of a batch, each item of a transaction under its
  single-item action) and Secrets Manager (the secret's ARN) by the local moto server, which also
  authorizes SQS batch calls under their single-message actions, as AWS does.
It does not check: `Condition` blocks of identity policies (ignored, so a conditioned Allow allows);
`NotResource`; resource-based policies, permission boundaries, SCPs, session policies; the service
principal in trust policies; credential expiry; resources of any other service (checked against
`*`); the IAM wildcard `?` and regex characters in ARNs (moto turns a pattern into a regex without
escaping, so `.` matches any character).
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from .template import ACCOUNT_ID, LOCAL_STACK_NAME, REGION, Resolver, TemplateError, load_yaml

if TYPE_CHECKING:
    from mypy_boto3_iam.client import IAMClient

log = logging.getLogger(__name__)
ADMIN_ARN = f"arn:aws:iam::{ACCOUNT_ID}:user/local-admin"
ADMIN_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
# Twelve hours, the most a role session may last: a local stack runs for a working day.
SESSION_SECONDS = 43200
REFRESH_MARGIN_SECONDS = 600


@dataclass(frozen=True)
class FunctionRole:
    function: str
    logical_id: str
    policies: dict[str, dict[str, Any]]  # inline policy name -> document
    managed_policy_arns: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{LOCAL_STACK_NAME}-{self.logical_id}"[:64]

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{ACCOUNT_ID}:role/{self.name}"


def local_trust_policy() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ADMIN_ARN}, "Action": "sts:AssumeRole"}],
    }


def sam_translate(document: Mapping[str, Any]) -> dict[str, Any]:
    """The template as CloudFormation receives it after the SAM transform."""
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    sam = copy.deepcopy(dict(document))
    for resource in (sam.get("Resources") or {}).values():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):  # `sam package` uploads these; the role ignores them
                properties[key] = f"s3://local-stack/{properties[key]}"
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    # The translator records usage metrics for CloudFormation's service; nothing publishes them here.
    logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)
    # Managed policies named by name would be looked up in IAM; this template names none by name.
    return dict(translator.translate(sam, parameter_values={}, get_managed_policy_map=dict))


def function_roles(path: Path, parameters: Mapping[str, str]) -> dict[str, FunctionRole]:
    """Function logical id -> its role, resolved with the parameter values the local stack uses."""
    translated = sam_translate(load_yaml(path))
    resolver = Resolver(translated, "http://moto.invalid", {})
    resolver.parameters = dict(parameters)
    resources: dict[str, Any] = translated["Resources"]
    roles: dict[str, FunctionRole] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        role_ref = (resource.get("Properties") or {}).get("Role")
        if not (isinstance(role_ref, dict) and "Fn::GetAtt" in role_ref):
            raise TemplateError(f"{logical_id}: its role is not one of the template's (Role: {role_ref!r})")
        role_id = str(role_ref["Fn::GetAtt"][0])
        properties = resolver.resolve(resources[role_id].get("Properties") or {})
        policies = {str(p["PolicyName"]): p["PolicyDocument"] for p in properties.get("Policies") or []}
        managed = tuple(str(arn) for arn in properties.get("ManagedPolicyArns") or [])
        roles[logical_id] = FunctionRole(logical_id, role_id, policies, managed)
    return roles


def ensure_roles(iam: IAMClient, roles: Mapping[str, FunctionRole]) -> None:
    """Create or update each role so its policies are exactly the template's (idempotent)."""
    trust = json.dumps(local_trust_policy())
    for role in roles.values():
        try:
            iam.create_role(
                RoleName=role.name, AssumeRolePolicyDocument=trust, MaxSessionDuration=SESSION_SECONDS
            )
        except iam.exceptions.EntityAlreadyExistsException:
            iam.update_assume_role_policy(RoleName=role.name, PolicyDocument=trust)
        current = set(iam.list_role_policies(RoleName=role.name)["PolicyNames"])
        for name in current - set(role.policies):
            iam.delete_role_policy(RoleName=role.name, PolicyName=name)
        for name, document in role.policies.items():
            # SAM writes no Version; IAM then reads the 2008-10-17 grammar (no policy variables, which
            # these policies do not use) and moto refuses the document, so the current one is named.
            versioned = {"Version": "2012-10-17", **document}
            iam.put_role_policy(RoleName=role.name, PolicyName=name, PolicyDocument=json.dumps(versioned))
        attached = {
            p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role.name)["AttachedPolicies"]
        }
        for arn in attached - set(role.managed_policy_arns):
            iam.detach_role_policy(RoleName=role.name, PolicyArn=arn)
        for arn in set(role.managed_policy_arns) - attached:
            iam.attach_role_policy(RoleName=role.name, PolicyArn=arn)


class RoleCredentials:
    """Temporary credentials of each function's role, from sts:AssumeRole, as Lambda hands them over."""

    def __init__(self, endpoint_url: str, roles: Mapping[str, FunctionRole]) -> None:
        self.roles = dict(roles)
        self._endpoint_url = endpoint_url
        self._sts = boto3.client(
            "sts",
            endpoint_url=endpoint_url,
            region_name=REGION,
            aws_access_key_id=ADMIN_CREDENTIALS["aws_access_key_id"],
            aws_secret_access_key=ADMIN_CREDENTIALS["aws_secret_access_key"],
        )
        self._cache: dict[str, tuple[float, dict[str, str]]] = {}
        self._lock = threading.Lock()

    def environment(self, function_id: str) -> dict[str, str]:
        """AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN of the function's role."""
        with self._lock:
            expires, env = self._cache.get(function_id, (0.0, {}))
            if time.monotonic() < expires - REFRESH_MARGIN_SECONDS:
                return env
            role = self.roles[function_id]
            credentials = self._sts.assume_role(
                RoleArn=role.arn, RoleSessionName=function_id[:64], DurationSeconds=SESSION_SECONDS
            )["Credentials"]
            env = {
                "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
                "AWS_SESSION_TOKEN": credentials["SessionToken"],
            }
            self._cache[function_id] = (time.monotonic() + SESSION_SECONDS, env)
            return env

    def client(self, function_id: str, service: str) -> Any:
        """A boto3 client signing as the function's role (what the Lambda service does on its behalf)."""
        env = self.environment(function_id)
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self._endpoint_url,
            region_name=REGION,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=env["AWS_SESSION_TOKEN"],
        )
