"""Secrets are redacted wherever text enters the service: one rule table, then every write path.

Fake secrets are assembled from parts, so that this file itself holds nothing a secret scanner
would take for a real key.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from learning_machine.api import deps
from learning_machine.core.redaction import KINDS, PLACEHOLDER, holds_secret, luhn_valid, redact
from learning_machine.models.common import MAX_BODY_BYTES
from learning_machine.services.indexing import KNOWLEDGE
from learning_machine.stores.api_keys import KEY_PREFIX
from tests.conftest import Aws
from tests.support.handlers import FakeContext, load_handler, rest_event

Call = Callable[..., tuple[int, Any]]

OPENAI_KEY = "sk-" + "proj-" + "4fXb9QvT2mLr8sKd0wZyA1cE7hJ3nP6u"
ANTHROPIC_KEY = "sk-" + "ant-" + "api03-Zq81vLm2Xk9Tn4Rb7Yw3Pd6Hs0Gf5Jc"
AWS_KEY_ID = "AKIA" + "IOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
GITHUB_TOKEN = "ghp_" + "Xk3m9QpL2vR8tY6wZ1aB4cD7eF0gH5iJ2kL8"
GITHUB_PAT = "github_pat_" + "11ABCDEFG0aBcDeFgHiJkL_mNoPqRsTuVwXyZ0123456789abcdefghijklmnop"
SLACK_TOKEN = "xox" + "b-" + "2048123456-4096123456-Qw3rTy7UiOpAsDfGhJkL"
GOOGLE_KEY = "AIza" + "SyD4x9Kq2Lm7Np3Rs8Tv1Wx6Yz0Ab5Cd2Ef"
LM_KEY = KEY_PREFIX + "Q2x9v_Lm3-Tq8Rz1Yw4Pb7Nc0Hd5Kf6Js2Ga9Ve3Ux8"  # 43 url-safe characters
JWT = (
    "eyJ" + "hbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiJhZGEiLCJleHAiOjE3MzAwMDAwMDB9"
    ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)
BEARER = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
PEM = (
    "-----BEGIN "
    + "RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunV\n"
    "TLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLc\n"
    "-----END RSA PRIVATE KEY-----"
)
CARD = "4111 1111 1111 1111"  # the classic Visa test number: Luhn-valid


def assert_redacted(text: str, secret: str, kind: str) -> str:
    redacted, kinds = redact(text)
    assert secret not in redacted, redacted
    assert f"[REDACTED:{kind}]" in redacted
    assert kinds == [kind]
    return redacted


# -- one test per kind -------------------------------------------------------------------------
def test_openai_keys() -> None:
    text = f"Here is my OpenAI key {OPENAI_KEY}, please use it for the staging project."
    assert assert_redacted(text, OPENAI_KEY, "openai_key") == (
        "Here is my OpenAI key [REDACTED:openai_key], please use it for the staging project."
    )
    legacy = "sk-" + "T3BlbkFJ" + "a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ0123"
    assert_redacted(f"old key: {legacy}", legacy, "openai_key")


def test_anthropic_keys() -> None:
    assert_redacted(f"ANTHROPIC_API_KEY={ANTHROPIC_KEY}", ANTHROPIC_KEY, "anthropic_key")


def test_aws_access_key_ids() -> None:
    assert_redacted(f"The deploy user has access key {AWS_KEY_ID}.", AWS_KEY_ID, "aws_access_key_id")
    session = "ASIA" + "Y34FZKBOKMUTVV7A"
    assert_redacted(f"temporary creds {session} expire at noon", session, "aws_access_key_id")


def test_aws_secret_keys_when_labelled() -> None:
    text = f"aws_secret_access_key = {AWS_SECRET}"
    assert assert_redacted(text, AWS_SECRET, "aws_secret_access_key") == (
        "aws_secret_access_key = [REDACTED:aws_secret_access_key]"
    )
    assert_redacted(f"My AWS secret key is {AWS_SECRET}", AWS_SECRET, "aws_secret_access_key")
    unlabelled = f"The path {AWS_SECRET} is in the bucket listing."
    assert redact(unlabelled) == (unlabelled, [])


def test_github_tokens() -> None:
    assert_redacted(f"My token is {GITHUB_TOKEN}.", GITHUB_TOKEN, "github_token")
    assert_redacted(f"CI uses {GITHUB_PAT} to push tags", GITHUB_PAT, "github_token")


def test_slack_tokens() -> None:
    assert_redacted(f"The bot posts with {SLACK_TOKEN} into #alerts", SLACK_TOKEN, "slack_token")


def test_google_api_keys() -> None:
    assert_redacted(f"Maps works with key {GOOGLE_KEY} on localhost.", GOOGLE_KEY, "google_api_key")


def test_this_services_own_api_keys() -> None:
    assert len(LM_KEY) == len(KEY_PREFIX) + 43
    assert_redacted(f"Our Learning Machine key is {LM_KEY}", LM_KEY, "learning_machine_key")
    for _ in range(200):  # keys as `lm keys create` makes them, whatever characters they hold
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        assert_redacted(f"use {key}.", key, "learning_machine_key")


def test_jwts() -> None:
    assert_redacted(f"The session cookie was {JWT}; it expired.", JWT, "jwt")


def test_bearer_tokens() -> None:
    text = f"curl -H 'Authorization: Bearer {BEARER}' https://api.example.com/v1/me"
    assert assert_redacted(text, BEARER, "bearer_token") == (
        "curl -H 'Authorization: Bearer [REDACTED:bearer_token]' https://api.example.com/v1/me"
    )
    assert_redacted(f"the bearer token is {BEARER}", BEARER, "bearer_token")


def test_other_authorization_headers() -> None:
    basic = "YWRhOmh1bnRlcjJodW50ZXIy"  # base64 of user:password
    text = f"Authorization: Basic {basic}"
    assert assert_redacted(text, basic, "authorization") == "Authorization: Basic [REDACTED:authorization]"


def test_private_key_blocks() -> None:
    text = f"Here is the deploy key:\n{PEM}\nDoes it look right?"
    assert assert_redacted(text, "MIIEowIBAAKCAQEA", "private_key") == (
        "Here is the deploy key:\n[REDACTED:private_key]\nDoes it look right?"
    )
    # A block pasted without its END line is still removed, to the end of the message.
    cut = PEM.split("-----END")[0]
    assert_redacted(f"key follows {cut}", "MIIEowIBAAKCAQEA", "private_key")


@pytest.mark.parametrize(
    ("text", "secret", "expected"),
    [
        (
            "My password is hunter2, please remember it.",
            "hunter2",
            "My password is [REDACTED:password], please remember it.",
        ),
        ("password: correct-horse-battery-staple", "correct-horse", "password: [REDACTED:password]"),
        ("Set pwd=S3cr3t! in the env file", "S3cr3t", "Set pwd=[REDACTED:password] in the env file"),
        ("my passcode is 7781", "7781", "my passcode is [REDACTED:password]"),
        ("My PIN is 1234.", "1234", "My PIN is [REDACTED:password]."),
        ("The wifi password for the office is 'blue sky 42'.", "blue sky", None),
        ("DB_PASSWORD=pa55w0rd", "pa55w0rd", "DB_PASSWORD=[REDACTED:password]"),
        ("my password is sunshine", "sunshine", "my password is [REDACTED:password]"),
    ],
)
def test_passwords_after_a_label(text: str, secret: str, expected: str | None) -> None:
    redacted = assert_redacted(text, secret, "password")
    assert expected is None or redacted == expected


def test_connection_strings_with_credentials() -> None:
    text = "Connect with postgres://billing:Tr0ub4dor@db.internal.example.com:5432/billing please"
    redacted = assert_redacted(text, "Tr0ub4dor", "connection_string")
    assert redacted.endswith(
        "postgres://billing:[REDACTED:connection_string]@db.internal.example.com:5432/billing please"
    )


@pytest.mark.parametrize(
    "card",
    [CARD, "4111-1111-1111-1111", "5555555555554444", "3782 822463 10005", "6011 0009 9013 9424"],
)
def test_card_numbers_luhn_valid(card: str) -> None:
    assert_redacted(f"My card {card} was declined yesterday.", card, "card_number")


def test_card_security_codes() -> None:
    assert_redacted("and the CVV is 321", "321", "card_security_code")


def test_social_security_numbers() -> None:
    assert_redacted("My SSN is 078-05-1120.", "078-05-1120", "social_security_number")


def test_bank_account_numbers() -> None:
    assert_redacted("Pay the refund into account number 12345678.", "12345678", "account_number")
    assert_redacted("The branch sort code: 12-34-56", "12-34-56", "account_number")
    assert_redacted("IBAN DE89 3704 0044 0532 0130 00 for the refund", "3704 0044", "iban")


def test_labelled_generated_secrets() -> None:
    assert_redacted("client_secret=8a7b6c5d4e3f2a1b0c9d", "8a7b6c5d4e3f2a1b0c9d", "secret")
    assert_redacted("The API key is Zt4qLm9Xv2Rp8Wn3", "Zt4qLm9Xv2Rp8Wn3", "secret")


# -- what must survive -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "I prefer tabs over spaces and answers in French.",
        "Transcript tr_abc123 was about order 48213, placed on 2024-05-01.",
        "My order #A-48213 still hasn't arrived; ticket TCK-2024-0042 is open.",
        "Request id 550e8400-e29b-41d4-a716-446655440000 failed at 2024-05-01T10:15:00Z.",
        "Deployed commit 3f786850e387550fdab836ed7e6dc881de23001b to production.",
        "The sha256 is e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.",
        "The password is incorrect. Your password is too short. Password: required.",
        "I forgot my password again, how do I reset it?",
        "Bearer tokens are described in RFC 6750.",
        "Authorization: the process of deciding who may do what.",
        "See https://example.com:8080/docs?page=2 or write to ada@example.com.",
        "Between 2024-05-01 and 2024-06-01 we shipped 1200 orders.",
        "Call +4915123456789 or use epoch 1700000000000 in the query.",
        "task-force meeting about sk-learn at 3pm",
        "The pin is loose and the token is valid.",
        "Use the ghp prefix check and the AKIA prefix check in the scanner.",
        "Pi is 3.14159265358979323846 and e is 2.718281828459045.",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == (text, [])
    assert not holds_secret(text)


@pytest.mark.parametrize(
    "digits",
    ["4111 1111 1111 1112", "4111-1111-1111-1110", "5555555555554440", "1234567890123", "6011000990139425"],
)
def test_luhn_invalid_digit_runs_are_left_alone(digits: str) -> None:
    assert not luhn_valid(digits)
    text = f"Reference {digits} is on the invoice."
    assert redact(text) == (text, [])


EVERY_KIND = "\n".join(
    [
        f"key {OPENAI_KEY} and {ANTHROPIC_KEY}",
        f"aws {AWS_KEY_ID} secret_access_key: {AWS_SECRET}",
        f"tokens {GITHUB_TOKEN} {SLACK_TOKEN} {GOOGLE_KEY} {LM_KEY} {JWT}",
        f"Authorization: Bearer {BEARER}",
        "Authorization: Basic YWRhOmh1bnRlcjJodW50ZXIy",
        PEM,
        "my password is hunter2 and my pin is 4321",
        "redis://default:Tr0ub4dor@cache:6379",
        f"card {CARD} cvv 123, SSN 078-05-1120, account number 12345678, IBAN GB82WEST12345698765432",
        "token=Zt4qLm9Xv2Rp8Wn3",
    ]
)


def test_every_kind_is_covered_and_redacting_again_changes_nothing() -> None:
    once, kinds = redact(EVERY_KIND)
    assert set(kinds) == set(KINDS)
    assert redact(once) == (once, [])
    assert holds_secret(once)  # placeholders still mark the sentence for the offline extractor
    assert len(PLACEHOLDER.findall(once)) == len(kinds)


# Secrets, labels, placeholders and punctuation, glued in any order: redacting twice never differs.
PIECES = [OPENAI_KEY, JWT, BEARER, CARD, AWS_SECRET, "[REDACTED:password]", " ", "://", *"'.-@:="]
PIECES += "password pin token Bearer Authorization: is hunter2 1234 eyJ sk- 4111 ghp_ AKIA".split()
PIECES += ["postgres://u:p@h", "account number ", "Authorization: Basic ", "cvv "]


def test_redacting_redacted_text_changes_nothing() -> None:
    # Found this way: a replacement can expose a secret to a rule that ran before it.
    for text in ("postgres://u:p@hpostgres://u:p@h", f"account number {CARD}{GITHUB_TOKEN}"):
        once, kinds = redact(text)
        assert redact(once) == (once, []) and len(kinds) == 2, once
    rng = random.Random(6)
    for _ in range(2_000):
        once, _ = redact("".join(rng.choices(PIECES, k=rng.randint(1, 20))))
        assert redact(once) == (once, []), once


def test_no_input_makes_a_pattern_slow() -> None:
    hostile = [
        "a." * 10_000,
        "sk-" * 6_000,
        "token=" * 3_300,
        "eyJ-" * 5_000,
        "4111 " * 4_000,
        "a://b:c@" * 2_500,
    ]
    for text in hostile:
        started = time.perf_counter()
        redact(text[:20_000])
        assert time.perf_counter() - started < 0.5, text[:20]


# -- through the real API handler --------------------------------------------------------------
HANDLER_FOR = {"/v1/search": "search"}


@pytest.fixture
def call(aws: Aws) -> Call:
    handlers = {name: load_handler(name) for name in ("api", "search")}

    def invoke(
        method: str, path: str, body: Any = None, query: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        handler = handlers[HANDLER_FOR.get(path, "api")]
        reply = handler.lambda_handler(rest_event(method, path, body=body, query=query), FakeContext())
        return reply["statusCode"], json.loads(reply["body"]) if reply["body"] else None

    return invoke


def stored_everywhere(aws: Aws, index_dir: Path) -> str:
    """Every item of every table and every byte of the index, as one string to search."""
    ddb = boto3.client("dynamodb")
    items = [
        json.dumps(page["Items"], default=str)
        for table in ddb.list_tables()["TableNames"]
        for page in ddb.get_paginator("scan").paginate(TableName=table)
    ]
    index = [p.read_bytes().decode("latin-1") for p in sorted(index_dir.glob("index.db*"))]
    return "\n".join(items + index)


def test_a_posted_transcript_is_queued_and_recorded_only_redacted(aws: Aws, call: Call) -> None:
    messages = [
        {"role": "user", "content": f"My OpenAI key is {OPENAI_KEY} and my password is hunter2."},
        {"role": "assistant", "content": "Please do not share those. What is failing?"},
        {"role": "user", "content": f"The call sends Authorization: Bearer {BEARER} and card {CARD} fails."},
    ]
    body = {"user_id": "ada", "session_id": "s1", "messages": messages, "metadata": {"note": "pwd=hunter2"}}
    status, accepted = call("POST", "/v1/transcripts", body)
    assert status == 202

    queued = aws.queue_messages()
    assert len(queued) == 1
    for secret in (OPENAI_KEY, "hunter2", BEARER, CARD, CARD.replace(" ", "")):
        assert secret not in queued[0]["Body"]
    envelope = json.loads(queued[0]["Body"])
    assert envelope["transcript"]["messages"][0]["content"] == (
        "My OpenAI key is [REDACTED:openai_key] and my password is [REDACTED:password]."
    )
    assert envelope["transcript"]["metadata"] == {"note": "pwd=[REDACTED:password]"}

    status, record = call("GET", f"/v1/transcripts/{accepted['transcript_id']}")
    assert status == 200
    assert record["redacted"] == {"openai_key": 1, "password": 2, "bearer_token": 1, "card_number": 1}


def test_a_transcript_without_secrets_reports_nothing_redacted(aws: Aws, call: Call) -> None:
    body = {"user_id": "ada", "session_id": "s1", "messages": [{"role": "user", "content": "Order 48213?"}]}
    _, accepted = call("POST", "/v1/transcripts", body)
    assert call("GET", f"/v1/transcripts/{accepted['transcript_id']}")[1]["redacted"] == {}
    assert (
        json.loads(aws.queue_messages()[0]["Body"])["transcript"]["messages"][0]["content"] == "Order 48213?"
    )


def test_a_transcript_that_outgrows_the_queue_once_redacted_is_refused_whole(aws: Aws, call: Call) -> None:
    content = "pin: 123 " * 2_000  # 18 kB that triple in size once each PIN is replaced
    messages = [{"role": "user", "content": content}] * 10
    body = {"user_id": "ada", "session_id": "s1", "messages": messages}
    assert len(json.dumps(body)) < MAX_BODY_BYTES
    status, reply = call("POST", "/v1/transcripts", body)
    assert status == 413 and reply["detail"][0]["loc"] == ["body"]
    assert aws.queue_messages() == []


def test_a_memory_created_or_updated_through_the_api_is_stored_redacted(
    aws: Aws, call: Call, tmp_path: Path
) -> None:
    status, memory = call(
        "POST", "/v1/users/ada/memories", {"layer": "knowledge", "content": "Their VPN password is hunter2."}
    )
    assert status == 201
    assert memory["content"] == "Their VPN password is [REDACTED:password]."
    path = f"/v1/users/ada/memories/{memory['memory_id']}"
    status, updated = call("PATCH", path, {"content": f"Their deploy key is {GITHUB_TOKEN}."})
    assert status == 200 and updated["content"] == "Their deploy key is [REDACTED:github_token]."
    listed = call("GET", "/v1/users/ada/memories")[1]["memories"]
    assert [m["content"] for m in listed] == ["Their deploy key is [REDACTED:github_token]."]
    everything = stored_everywhere(aws, tmp_path)
    assert "hunter2" not in everything and GITHUB_TOKEN not in everything


def test_a_memory_saved_by_an_agent_tool_is_stored_redacted(aws: Aws, call: Call) -> None:
    on = {"stores": {"user_profile": {"modes": ["always", "agentic"]}}}
    assert call("PUT", "/v1/config", on)[0] == 200
    tool_call = {
        "name": "save_memory",
        "arguments": {"layer": "profile", "content": f"Card on file is {CARD}."},
        "user_id": "ada",
    }
    status, reply = call("POST", "/v1/tools/call", tool_call)
    assert status == 200, reply
    assert reply["result"]["memory"]["content"] == "Card on file is [REDACTED:card_number]."
    stored = call("GET", "/v1/users/ada/memories")[1]["memories"]
    assert [m["content"] for m in stored] == ["Card on file is [REDACTED:card_number]."]


def test_an_insight_is_stored_and_indexed_redacted(aws: Aws, call: Call, tmp_path: Path) -> None:
    insight = {
        "title": f"Staging token {SLACK_TOKEN}",
        "content": f"Deploys to staging authenticate with Authorization: Bearer {BEARER} from the vault.",
        "context": f"Only when the key {OPENAI_KEY} is rotated.",
        "source": "https://ops:Tr0ub4dor@wiki.example.com/deploys",
    }
    status, saved = call("POST", "/v1/knowledge", insight)
    assert status == 201
    stored = saved["insight"]
    assert stored["title"] == "Staging token [REDACTED:slack_token]"
    assert "[REDACTED:bearer_token]" in stored["content"] and BEARER not in stored["content"]
    assert stored["context"] == "Only when the key [REDACTED:openai_key] is rotated."
    assert stored["source"] == "https://ops:[REDACTED:connection_string]@wiki.example.com/deploys"

    index = deps.services().indexer
    for query in (BEARER, SLACK_TOKEN, OPENAI_KEY):
        # Keyword search finds no document holding the token; the API's hybrid search may still
        # return the nearest vector, and what it returns holds no token either.
        assert index.search("acme", ["global"], [KNOWLEDGE], query, 10, mode="keyword") == []
        status, found = call("POST", "/v1/search", {"query": query, "stores": ["knowledge"]})
        assert status == 200 and query not in json.dumps(found["results"])
    hits = index.search("acme", ["global"], [KNOWLEDGE], "staging vault", 10, mode="keyword")
    assert [h.payload["insight_id"] for h in hits] == [stored["insight_id"]]  # indexed, redacted
    everything = stored_everywhere(aws, tmp_path)
    for secret in (BEARER, SLACK_TOKEN, OPENAI_KEY, "Tr0ub4dor"):
        assert secret not in everything


def test_proposals_imports_and_rejections_are_redacted(aws: Aws, call: Call, tmp_path: Path) -> None:
    _, proposal = call("POST", "/v1/knowledge/proposals", {"title": "Login", "content": "pwd=hunter2 works"})
    assert proposal["content"] == "pwd=[REDACTED:password] works"
    path = f"/v1/knowledge/proposals/{proposal['insight_id']}/reject"
    assert call("POST", path, {"reason": f"It leaks {GITHUB_TOKEN}"})[0] == 200
    items = [{"item_id": "faq-1", "title": "Keys", "content": f"Use {GOOGLE_KEY} for maps."}]
    assert call("POST", "/v1/knowledge/import", {"items": items})[0] == 200
    contents = [i["content"] for i in call("GET", "/v1/knowledge")[1]["insights"]]
    assert contents == ["Use [REDACTED:google_api_key] for maps."]
    everything = stored_everywhere(aws, tmp_path)
    for secret in ("hunter2", GITHUB_TOKEN, GOOGLE_KEY):
        assert secret not in everything


def test_entity_names_facts_events_and_descriptions_are_redacted(
    aws: Aws, call: Call, tmp_path: Path
) -> None:
    entity = {
        "name": "Billing DB",
        "entity_type": "system",
        "description": "Reached at postgres://billing:Tr0ub4dor@db.internal:5432/billing",
        "properties": {"admin": "password: hunter2"},
        "namespace": "global",
    }
    status, created = call("POST", "/v1/entities", entity)
    assert status == 200, created
    assert (
        created["description"]
        == "Reached at postgres://billing:[REDACTED:connection_string]@db.internal:5432/billing"
    )
    assert created["properties"] == {"admin": "password: [REDACTED:password]"}
    where = {"namespace": "global"}
    facts = {"facts": [f"Its read replica uses key {AWS_KEY_ID}."]}
    status, with_fact = call("POST", "/v1/entities/Billing DB/facts", facts, where)
    assert status == 200, with_fact
    assert with_fact["facts"][0]["content"] == "Its read replica uses key [REDACTED:aws_access_key_id]."
    events = {"events": [{"content": f"Rotated the token {GITHUB_TOKEN}", "date_text": "yesterday"}]}
    status, with_event = call("POST", "/v1/entities/Billing DB/events", events, where)
    assert status == 200, with_event
    assert with_event["events"][0]["content"] == "Rotated the token [REDACTED:github_token]"
    everything = stored_everywhere(aws, tmp_path)
    for secret in ("Tr0ub4dor", "hunter2", AWS_KEY_ID, GITHUB_TOKEN):
        assert secret not in everything


def test_profile_fields_set_through_the_api_are_redacted(aws: Aws, call: Call) -> None:
    status, profile = call(
        "PATCH", "/v1/users/ada/profile", {"fields": {"name": "Ada", "company": f"key {GOOGLE_KEY}"}}
    )
    assert status == 200, profile
    assert profile["fields"] == {"name": "Ada", "company": "key [REDACTED:google_api_key]"}
