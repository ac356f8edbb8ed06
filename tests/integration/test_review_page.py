"""The review page (shared/learning_machine/review/index.html) in headless Chromium against the local stack.

Debian's chromium, driven by Playwright, opens {api_url}/review, connects with a fresh tenant's key and
reviews what the HTTP API seeded: profile, memories by layer with provenance and history, sessions,
private and shared entities with their edges, and pending proposals, one approved and one rejected.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Response, Route, expect, sync_playwright

from local.template import REPO_ROOT
from tests.fakes.openai_server import FakeOpenAIServer
from tests.integration.conftest import Stack, fake_model_env, wait_for

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
# The machine's closed network refuses Chromium's own background connections; these keep it quiet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = REPO_ROOT / ".local" / "test-artifacts" / "review-page.png"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
USER = "grace"
HOSTILE = '<img src=x onerror="window.__injected = 1"> & <b>not bold</b>'
APPROVE_TITLE = "Prefer British spelling"
REJECT_TITLE = "Grace keeps a nanosecond of wire"
REJECT_REASON = "Anecdote, not a reusable insight."


@pytest.fixture(scope="module")
def stack_extra_env(fake_model: FakeOpenAIServer) -> dict[str, str]:
    # The same environment as test_learning_loop.py, so the running stack is reused, not restarted.
    return fake_model_env(fake_model)


Api = Callable[..., httpx.Response]


@dataclass
class Seeded:
    key: str
    api: Api
    transcript_id: str
    edited_memory_id: str
    approve_id: str
    reject_id: str


def ok(reply: httpx.Response) -> Any:
    assert reply.is_success, f"{reply.request.method} {reply.request.url}: {reply.status_code} {reply.text}"
    return reply.json() if reply.content else None


@pytest.fixture(scope="module")
def seeded(stack: Stack) -> Iterator[Seeded]:
    """A fresh tenant whose user `grace` has something in every section of the page, all through HTTP."""
    key = stack.new_tenant_key(f"review-{uuid.uuid4().hex[:6]}")
    with httpx.Client(base_url=stack.api_url, timeout=30) as http:

        def api(method: str, path: str, **kwargs: Any) -> httpx.Response:
            return http.request(method, path, headers={"Authorization": f"Bearer {key}"}, **kwargs)

        transcript_id = f"review-{uuid.uuid4().hex[:8]}"
        ok(
            api(
                "POST",
                "/v1/transcripts",
                json={
                    "transcript_id": transcript_id,
                    "user_id": USER,
                    "session_id": "s-review",
                    "messages": [
                        {"role": "user", "content": "remember policies: Answer in British English."},
                        {"role": "user", "content": "set role: Rear admiral"},
                    ],
                },
            )
        )

        def learned() -> bool:
            return ok(api("GET", f"/v1/transcripts/{transcript_id}"))["status"] in ("done", "failed")

        wait_for(learned, f"transcript {transcript_id} to be learned")
        assert ok(api("GET", f"/v1/transcripts/{transcript_id}"))["status"] == "done"

        memories = f"/v1/users/{USER}/memories"
        edited = ok(
            api("POST", memories, json={"layer": "knowledge", "content": "Works on the A-0 compiler."})
        )
        ok(api("PATCH", f"{memories}/{edited['memory_id']}", json={"content": "Works on FLOW-MATIC."}))
        ok(api("POST", memories, json={"layer": "feedback", "content": HOSTILE, "polarity": "negative"}))
        forgotten = ok(api("POST", memories, json={"layer": "profile", "content": "Lives in Arlington."}))
        ok(api("DELETE", f"{memories}/{forgotten['memory_id']}"))

        private = {"namespace": "user", "user_id": USER}
        for name, kind in (("FLOW-MATIC", "product"), ("Remington Rand", "company")):
            ok(api("POST", "/v1/entities", json={"name": name, "entity_type": kind, **private}))
        facts = {"facts": ["The first English-like data processing language."]}
        ok(api("POST", "/v1/entities/FLOW-MATIC/facts", params=private, json=facts))
        events = {"events": [{"content": "Released to customers.", "date_text": "1958"}]}
        ok(api("POST", "/v1/entities/FLOW-MATIC/events", params=private, json=events))
        edge = {"relationships": [{"relation": "built_at", "target": "Remington Rand"}]}
        ok(api("POST", "/v1/entities/FLOW-MATIC/relationships", params=private, json=edge))

        shared = {"namespace": "global"}
        for name, kind in (("COBOL", "product"), ("UNIVAC I", "system")):
            ok(api("POST", "/v1/entities", json={"name": name, "entity_type": kind, **shared}))
        edge = {"relationships": [{"relation": "runs_on", "target": "UNIVAC I"}]}
        ok(api("POST", "/v1/entities/COBOL/relationships", params=shared, json=edge))

        to_approve = ok(
            api(
                "POST",
                "/v1/knowledge/proposals",
                json={"title": APPROVE_TITLE, "content": "Write colour and organise in answers.", **shared},
            )
        )
        to_reject = ok(
            api(
                "POST",
                "/v1/knowledge/proposals",
                json={"title": REJECT_TITLE, "content": "She hands out 30 cm of wire.", **private},
            )
        )
        yield Seeded(
            key, api, transcript_id, edited["memory_id"], to_approve["insight_id"], to_reject["insight_id"]
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Debian's chromium is missing ({CHROMIUM}): `make install` installs it "
            "(or run `apt-get install chromium` as root)",
            pytrace=False,
        )
    expect.set_options(timeout=20_000)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert errors == [], f"the page threw: {errors}"


def connect(page: Page, stack: Stack, key: str) -> None:
    page.goto(f"{stack.api_url}/review")
    expect(page.get_by_label("API base URL")).to_have_value(stack.api_url)
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Connect").click()


def test_reviewing_a_user_and_deciding_proposals(page: Page, stack: Stack, seeded: Seeded) -> None:
    error = page.get_by_test_id("error")
    connect(page, stack, "lm_not-a-key")
    expect(error).to_contain_text("Error 401: Unauthorized")

    connect(page, stack, seeded.key)
    expect(page.get_by_test_id("status")).to_have_text(f"Connected to {stack.api_url}.")
    expect(error).to_be_hidden()
    page.get_by_label("User id").fill(USER)
    page.get_by_role("button", name="Open", exact=True).click()
    expect(page.locator("#user-title")).to_have_text(f"User {USER}")

    # Profile fields and memories by layer, each with where it came from.
    role = page.get_by_test_id("profile").locator("dd[data-field=role]")
    expect(role).to_contain_text("Rear admiral")
    expect(role.get_by_test_id("provenance")).to_contain_text(
        f"via extraction · transcript {seeded.transcript_id}"
    )
    policy = page.get_by_test_id("layer-policies").get_by_test_id("memory")
    expect(policy).to_contain_text("Answer in British English.")
    provenance = policy.get_by_test_id("provenance").first  # the memory's own; its versions follow
    expect(provenance).to_contain_text(f"transcript {seeded.transcript_id}")
    expect(provenance).to_contain_text("model fake-model")

    # The edited memory, under its layer, with its history: the old value is kept.
    edited = page.get_by_test_id("layer-knowledge").locator(f'[data-memory-id="{seeded.edited_memory_id}"]')
    expect(edited.get_by_test_id("memory-content")).to_have_text("Works on FLOW-MATIC.")
    expect(edited).to_contain_text("version 2")
    expect(edited.get_by_test_id("provenance").first).to_contain_text("via api")
    history = edited.get_by_test_id("memory-history")
    expect(history).to_be_hidden()
    toggle = edited.get_by_role("button", name="History (2 versions)")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(history).to_be_visible()
    expect(history.locator("[data-version='1']")).to_contain_text("v1 created")
    expect(history.locator("[data-version='2']")).to_contain_text("v2 updated")
    expect(history.get_by_test_id("superseded-value")).to_have_text("Replaced: Works on the A-0 compiler.")

    # A deleted memory leaves the profile layer but keeps its history.
    expect(page.get_by_test_id("layer-profile")).to_contain_text("None.")
    removed = page.get_by_test_id("removed-memories").get_by_test_id("memory")
    expect(removed.get_by_test_id("memory-content")).to_have_text("Lives in Arlington.")
    expect(removed).to_contain_text("deleted")

    # Stored text is shown as text, never as markup.
    feedback = page.get_by_test_id("layer-feedback").get_by_test_id("memory")
    expect(feedback.get_by_test_id("memory-content")).to_have_text(HOSTILE)
    expect(page.locator("img")).to_have_count(0)
    assert page.evaluate("window.__injected") is None

    session = page.get_by_test_id("sessions").locator('[data-session-id="s-review"]')
    expect(session).to_contain_text("User: remember policies: Answer in British English.")

    # Private entities with facts and edges; a shared entity's edges load when it is opened.
    flow = page.get_by_test_id("user-entities").locator('[data-entity-name="FLOW-MATIC"]')
    expect(flow.get_by_test_id("facts")).to_contain_text("The first English-like data processing language.")
    expect(flow.get_by_test_id("events")).to_contain_text("1958: Released to customers.")
    expect(flow.get_by_test_id("edges")).to_have_text("FLOW-MATIC —built_at→ Remington Rand")
    cobol = page.get_by_test_id("shared-entities").locator('[data-entity-name="COBOL"]')
    cobol.locator("summary").click()
    expect(cobol.get_by_test_id("edges")).to_have_text("COBOL —runs_on→ UNIVAC I")

    # Both pending proposals, the shared one and the user's private one.
    proposals = page.get_by_test_id("proposals")
    expect(proposals.get_by_role("heading", name="Pending proposals (2)")).to_be_visible()
    to_approve = proposals.locator(f'[data-insight-id="{seeded.approve_id}"]')
    to_reject = proposals.locator(f'[data-insight-id="{seeded.reject_id}"]')
    expect(to_approve).to_contain_text(APPROVE_TITLE)
    expect(to_reject).to_contain_text(f"{REJECT_TITLE} private to {USER}")

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    shot = SCREENSHOT.read_bytes()
    assert shot.startswith(PNG_SIGNATURE) and len(shot) > 30_000, f"{SCREENSHOT}: {len(shot)} bytes"

    def searchable() -> list[str]:
        body = {"query": "British spelling colour", "namespace": "global", "stores": ["knowledge"]}
        return [r["id"] for r in ok(seeded.api("POST", "/v1/search", json=body))["results"]]

    assert seeded.approve_id not in searchable()  # pending knowledge is not searchable

    to_approve.get_by_role("button", name="Approve").click()
    expect(to_approve).to_have_count(0)
    expect(page.get_by_test_id("status")).to_have_text(f"Approved “{APPROVE_TITLE}”.")
    active = ok(seeded.api("GET", "/v1/knowledge", params={"namespace": "global"}))["insights"]
    assert [(i["insight_id"], i["status"]) for i in active] == [(seeded.approve_id, "active")]
    assert seeded.approve_id in searchable()

    # A blank reason is refused by the API, and the page says which field is at fault.
    to_reject.get_by_role("button", name="Reject…").click()
    reason = to_reject.get_by_label("Reason for rejecting")
    reason.fill("   ")
    to_reject.get_by_role("button", name="Confirm reject").click()
    expect(error).to_contain_text("Error 422")
    expect(error.get_by_role("list", name="Fields at fault")).to_contain_text("body.reason")
    expect(to_reject).to_have_count(1)
    reason.fill(REJECT_REASON)
    to_reject.get_by_role("button", name="Confirm reject").click()
    expect(to_reject).to_have_count(0)
    expect(error).to_be_hidden()
    expect(proposals.get_by_role("heading", name="Pending proposals (0)")).to_be_visible()
    expect(proposals).to_contain_text("No pending proposals.")

    private = {"namespace": "user", "user_id": USER}
    assert ok(seeded.api("GET", "/v1/knowledge/proposals", params=private))["insights"] == []
    insights = ok(seeded.api("GET", f"/v1/users/{USER}/export"))["insights"]
    rejected = next(i for i in insights if i["insight_id"] == seeded.reject_id)
    assert rejected["status"] == "rejected"
    assert rejected["review"]["decision"] == "rejected" and rejected["review"]["reason"] == REJECT_REASON


def test_usage_is_charted_per_day(page: Page, stack: Stack, seeded: Seeded) -> None:
    report = ok(seeded.api("GET", "/v1/usage"))
    today = report["days"][-1]
    assert today["transcripts_accepted"] >= 1
    connect(page, stack, seeded.key)
    chart = page.get_by_test_id("usage-chart")
    expect(chart.locator("rect.bar")).to_have_count(30)
    bar = chart.locator(f'rect[data-date="{today["date"]}"]')
    expect(bar).to_have_attribute("data-value", str(today["transcripts_accepted"]))
    expect(page.get_by_test_id("usage-summary")).to_contain_text("transcripts/day")
    page.get_by_test_id("usage-metric").select_option("reads")
    reads = ok(seeded.api("GET", "/v1/usage"))["days"][-1]["reads"]  # reads so far, none from the page
    expect(bar).to_have_attribute("data-value", str(reads))
    expect(chart).to_have_attribute("aria-label", re.compile(r"^Reads \(context, search\) per day"))


def test_the_users_list_opens_a_user(page: Page, stack: Stack, seeded: Seeded) -> None:
    connect(page, stack, seeded.key)
    expect(page.get_by_test_id("status")).to_have_text(f"Connected to {stack.api_url}.")
    problem = page.get_by_test_id("users-problem")
    assert problem.is_hidden(), f"the page could not list users: {problem.text_content()}"
    page.get_by_test_id("users").get_by_role("button", name=USER, exact=True).click()
    expect(page.locator("#user-title")).to_have_text(f"User {USER}")
    expect(page.get_by_test_id("users").get_by_role("button", name=USER, exact=True)).to_have_attribute(
        "aria-current", "true"
    )
    expect(page).to_have_url(f"{stack.api_url}/review#user={USER}")


def test_a_late_answer_for_a_stored_key_does_not_undo_a_newer_connection(
    page: Page, stack: Stack, seeded: Seeded
) -> None:
    """On load the page connects with the key the tab stored; if the user connects with another key
    meanwhile, the first connection's late 401 must not hide the workspace."""
    connect(page, stack, "lm_not-a-key")  # now stored in the tab
    expect(page.get_by_test_id("error")).to_contain_text("Error 401")
    held: list[Route] = []

    def hold_the_stale_key(route: Route) -> None:
        if "lm_not-a-key" in (route.request.headers.get("authorization") or ""):
            held.append(route)  # answered only after the newer connection has finished
        else:
            route.continue_()

    page.route("**/v1/config", hold_the_stale_key)
    connect(page, stack, seeded.key)  # the reload starts a connection with the stored bad key first
    expect(page.get_by_test_id("status")).to_have_text(f"Connected to {stack.api_url}.")
    assert len(held) == 1

    def stale(response: Response) -> bool:
        return "lm_not-a-key" in (response.request.headers.get("authorization") or "")

    with page.expect_response(stale) as answer:
        held[0].continue_()
    assert answer.value.status == 401
    page.wait_for_timeout(300)  # the page's handling of that answer (not a timing assertion)
    expect(page.get_by_test_id("status")).to_have_text(f"Connected to {stack.api_url}.")
    expect(page.get_by_test_id("error")).to_be_hidden()
