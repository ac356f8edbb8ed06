"""`lm limits` (operator) and `lm usage`, and the API Gateway usage plans behind per-tenant rates."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from learning_machine.api.auth import usage_key_for
from learning_machine.cli.main import main
from learning_machine.cli.usage_plans import place_tenant, tenant_plan_name
from learning_machine.models.usage import TenantLimits
from learning_machine.stores.usage import LimitsStore
from tests.conftest import Aws


def test_limits_set_merges_into_the_tenants_override_and_clear_drops_it(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["limits", "set", "--tenant", "acme", "--rate", "2", "--burst", "4"]) == 0
    assert main(["limits", "set", "--tenant", "acme", "--transcripts-per-day", "50"]) == 0
    shown = json.loads(capsys.readouterr().out.split("\n}\n")[-2] + "\n}")
    assert shown["override"] == {"rate_per_second": 2.0, "burst": 4, "transcripts_per_day": 50}
    assert shown["tokens_per_month"] == aws.settings.limit_tokens_per_month  # the default
    store = LimitsStore(aws.settings.data_table)
    assert store.get("acme") is not None and store.get("other") is None
    assert main(["limits", "clear", "--tenant", "acme"]) == 0
    assert store.get("acme") is None


def test_usage_plans_hold_each_tenant_key_in_the_default_plan_or_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)  # moto's in-process mock, whatever the shell says
    with mock_aws():
        apigateway = boto3.client("apigateway", region_name="us-east-1")
        api_id = apigateway.create_rest_api(name="lm")["id"]
        root = apigateway.get_resources(restApiId=api_id)["items"][0]["id"]
        apigateway.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
        apigateway.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK")
        apigateway.create_deployment(restApiId=api_id, stageName="live")
        default = apigateway.create_usage_plan(
            name="default",
            apiStages=[{"apiId": api_id, "stage": "live"}],
            throttle={"rateLimit": 50, "burstLimit": 100},
        )["id"]
        limits = TenantLimits(rate_per_second=2, burst=4, transcripts_per_day=10, tokens_per_month=10)
        common = {
            "tenant": "acme",
            "api_id": api_id,
            "stage": "live",
            "default_plan_id": default,
            "limits": limits,
        }

        assert place_tenant(apigateway, overridden=False, **common) == default
        keys = apigateway.get_api_keys(includeValues=True)["items"]
        assert [k["value"] for k in keys] == [usage_key_for("acme")]
        own = place_tenant(apigateway, overridden=True, **common)
        assert own != default
        plan = apigateway.get_usage_plan(usagePlanId=own)
        assert plan["name"] == tenant_plan_name("acme") and plan["throttle"]["rateLimit"] == 2
        assert [k["id"] for k in apigateway.get_usage_plan_keys(usagePlanId=default)["items"]] == []
        assert len(apigateway.get_usage_plan_keys(usagePlanId=own)["items"]) == 1
        # Back to the defaults: the key moves back, and stays one key.
        assert place_tenant(apigateway, overridden=False, **common) == default
        assert len(apigateway.get_usage_plan_keys(usagePlanId=default)["items"]) == 1
        assert len(apigateway.get_api_keys()["items"]) == 1
