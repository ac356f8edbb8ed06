"""The local API serves the static review page at /review without the authorizer; the API stays guarded."""

from __future__ import annotations

import re

import pytest
from werkzeug.test import Client

from local.api_server import LocalApi
from local.lambda_runtime import LambdaRuntime
from local.template import LocalTemplate


@pytest.fixture(scope="module")
def client() -> Client:
    template = LocalTemplate.load(endpoint_url="http://127.0.0.1:5999", env={})
    return Client(LocalApi(template, LambdaRuntime(template)))


@pytest.mark.parametrize("path", ["/review", "/review/"])
def test_the_review_page_is_served_without_a_key(client: Client, path: str) -> None:
    reply = client.get(path)
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert reply.headers["Cache-Control"] == "no-store"
    assert "<title>Learning Machine: review</title>" in reply.get_data(as_text=True)


def test_the_api_behind_it_still_needs_a_key(client: Client) -> None:
    assert client.get("/v1/users/grace/export").status_code == 401
    assert client.post("/review").status_code == 403  # only GET (and HEAD) reach the page


def test_the_page_is_self_contained_and_never_writes_markup_from_data(client: Client) -> None:
    page = client.get("/review").get_data(as_text=True)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "loads something from elsewhere"
    assert "<link" not in page and "@import" not in page
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in page
