"""The environment of every function, as one validated settings model."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Json, field_validator

PREFIX = "LM_"


class Settings(BaseModel):
    """`LM_<FIELD>` variables, validated. A plain model read by `from_env`, not pydantic-settings:
    that package (with dotenv and argparse) added about 12 ms to every cold start."""

    model_config = ConfigDict(extra="ignore")

    data_table: str = "DataTable"
    keys_table: str = "ApiKeysTable"
    idempotency_table: str = "IdempotencyTable"
    transcripts_queue_url: str = ""
    curation_queue_url: str = ""

    # Model endpoint: any OpenAI-compatible server. Without a key or base URL the offline
    # rule-based extractor runs instead (and says so).
    llm_model: str = "gpt-4o-mini"
    llm_base_url: str | None = None
    llm_api_key: str | None = Field(default=None, description="Plain key (local use)")
    llm_api_key_secret: str | None = Field(default=None, description="Secrets Manager name or ARN of the key")
    llm_timeout_seconds: float = 60.0
    llm_max_retries: int = 3
    llm_structured_mode: str = Field(default="auto", pattern="^(auto|json_schema|tools|json_object)$")
    # Every extraction request caps its completion: a model that runs away stops there (and gets one
    # repair call). 2048 covers a full reply of every store; a 1.5B model writes about 24 tokens/s here.
    llm_max_completion_tokens: int = Field(default=2048, ge=64)
    # A maxLength on every free-text string of the reply schema, for servers that decode under it
    # (llama.cpp): a small model repeating itself inside a string stops there. The same bounded
    # schema keeps turn indexes in the transcript, caps operations per user message and offers no
    # noop (extraction_contract/schema.py). Off by default: hosted strict modes may refuse maxLength.
    llm_bounded_strings: bool = False
    # Fields of the server's own (beyond OpenAI's API) sent with every extraction request, as a JSON
    # object. The local stack sends {"cache_prompt": false}: llama.cpp's server otherwise reuses its
    # prompt cache, and the same request then gets a different greedy reply after another request.
    llm_extra_body: Json[dict[str, Any]] | None = None
    # Embeddings: an OpenAI-compatible endpoint, else the local sentence model when installed,
    # else a deterministic hashing fallback (named as such wherever it is used).
    embedding_backend: Literal["auto", "openai", "local", "hashing"] = "auto"
    embedding_model: str = "text-embedding-3-small"
    embedding_base_url: str | None = None
    embedding_dimension: int = 384
    # Where the embedder's cosine similarities mean "unrelated" and "the same thing" on the
    # calibrated score scale (core/scoring.py); unset: the embedder's own measured values.
    score_cosine_floor: float | None = Field(default=None, ge=-1.0, lt=1.0)
    score_cosine_full: float | None = Field(default=None, gt=-1.0, le=1.0)

    # Knowledge index: the embedded engine on disk (local, tests) or OpenSearch (AWS).
    index_engine: Literal["embedded", "opensearch"] = "embedded"
    index_path: str = ".local/index.db"
    opensearch_endpoint: str | None = None
    # serverless: a classic Serverless vector collection; serverless-nextgen: a NextGen one;
    # managed: an OpenSearch Service domain, 2.4 or later (adapters/index/opensearch.py says why).
    opensearch_flavour: Literal["serverless", "serverless-nextgen", "managed"] = "serverless"
    opensearch_index: str = "learning-machine"

    config_cache_seconds: int = 10

    # Per-tenant limits: the deployment's defaults (template parameters Tenant*), which an operator
    # overrides per tenant (`lm limits set`). Rate and burst are enforced by API Gateway's usage plan.
    limit_rate_per_second: float = Field(default=50.0, gt=0)
    limit_burst: int = Field(default=100, ge=1)
    limit_transcripts_per_day: int = Field(default=10_000, ge=0)
    limit_tokens_per_month: int = Field(default=50_000_000, ge=0)
    limits_cache_seconds: int = 10
    # Prices for the usage report's cost estimate, US dollars per million (template parameters Price*).
    price_prompt_tokens: float = Field(default=0.15, ge=0)
    price_completion_tokens: float = Field(default=0.60, ge=0)
    price_embedding_tokens: float = Field(default=0.02, ge=0)
    price_requests: float = Field(default=3.50, ge=0)
    # The transcripts queue's maxReceiveCount: a failure on that attempt is counted as failed.
    max_receive_count: int = Field(default=3, ge=1)
    idempotency_ttl_seconds: int = 7 * 24 * 3600
    # 20 simultaneous writers for one user needed up to 8 attempts (tests/integration/test_reliability.py).
    write_retries: int = 10
    # Curation slices: units (a user, a namespace or a chunk of one) per invocation, and the seconds
    # of the invocation kept free after the last unit starts (a unit must finish within them).
    curation_units_per_slice: int = 200
    curation_reserve_seconds: float = 120.0
    curation_lease_seconds: int = 300

    @field_validator(
        "llm_base_url",
        "llm_api_key",
        "llm_api_key_secret",
        "llm_extra_body",
        "embedding_base_url",
        "opensearch_endpoint",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # CloudFormation parameters cannot be null: an empty string means "not configured".
        return None if value == "" else value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        return cls.model_validate(
            {name[len(PREFIX) :].lower(): value for name, value in environ.items() if name.startswith(PREFIX)}
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
