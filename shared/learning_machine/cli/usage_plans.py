"""API Gateway's side of per-tenant rate and burst, set by an operator with the shell's credentials.

Every tenant has one API Gateway API key, whose value the authorizer returns as usageIdentifierKey
(`usage_key_for`); the key sits in the stack's usage plan (the defaults) or, once an operator sets
the tenant's rate or burst, in a plan of the tenant's own (`lm-tenant-<tenant>`) with that throttle.
A key is in one plan of the stage at a time, so setting or clearing an override moves it.
"""

from __future__ import annotations

from typing import Any

from ..api.auth import usage_key_for
from ..models.usage import TenantLimits


def tenant_plan_name(tenant: str) -> str:
    return f"lm-tenant-{tenant}"[:128]


def ensure_tenant_key(apigateway: Any, tenant: str) -> str:
    """The id of the tenant's API key, created (with its derived value) when missing."""
    value = usage_key_for(tenant)
    for page in apigateway.get_paginator("get_api_keys").paginate(includeValues=True):
        for key in page.get("items", []):
            if key.get("value") == value:
                return str(key["id"])
    created = apigateway.create_api_key(name=f"lm-{tenant}"[:128], value=value, enabled=True)
    return str(created["id"])


def _plans_holding(apigateway: Any, key_id: str) -> list[str]:
    plans = apigateway.get_usage_plans(keyId=key_id).get("items", [])
    return [str(plan["id"]) for plan in plans]


def place_tenant(
    apigateway: Any,
    *,
    tenant: str,
    api_id: str,
    stage: str,
    default_plan_id: str,
    limits: TenantLimits,
    overridden: bool,
) -> str:
    """Put the tenant's key in the plan its limits call for; returns that plan's id."""
    key_id = ensure_tenant_key(apigateway, tenant)
    plan_id = default_plan_id
    if overridden:
        throttle = {"rateLimit": limits.rate_per_second, "burstLimit": limits.burst}
        existing = [
            plan
            for plan in apigateway.get_usage_plans().get("items", [])
            if plan.get("name") == tenant_plan_name(tenant)
        ]
        if existing:
            plan_id = str(existing[0]["id"])
            apigateway.update_usage_plan(
                usagePlanId=plan_id,
                patchOperations=[
                    {"op": "replace", "path": "/throttle/rateLimit", "value": str(limits.rate_per_second)},
                    {"op": "replace", "path": "/throttle/burstLimit", "value": str(limits.burst)},
                ],
            )
        else:
            plan_id = str(
                apigateway.create_usage_plan(
                    name=tenant_plan_name(tenant),
                    description=f"rate and burst of tenant {tenant} (lm limits set)",
                    apiStages=[{"apiId": api_id, "stage": stage}],
                    throttle=throttle,
                )["id"]
            )
    for held in _plans_holding(apigateway, key_id):
        if held != plan_id:
            apigateway.delete_usage_plan_key(usagePlanId=held, keyId=key_id)
    if plan_id not in _plans_holding(apigateway, key_id):
        apigateway.create_usage_plan_key(usagePlanId=plan_id, keyId=key_id, keyType="API_KEY")
    return plan_id
