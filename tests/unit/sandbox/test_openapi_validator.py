"""The OpenAPI request check, alone and hooked into the fake GitHub."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from github import Auth, Github

from runner.sandbox.github_server import FakeGitHub
from tests.fakes.openapi_validator import ALLOW_LIST, Validator, make_validator

TOKEN = "test-token-0000000000000000000000000000"
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def validate() -> Validator:
    return make_validator()


@pytest.mark.parametrize(
    ("method", "path", "query", "body"),
    [
        (
            "GET",
            "/api/v3/repos/acme/tasks/issues",
            {"state": "open", "labels": "copilot-agent", "per_page": "100"},
            b"",
        ),
        ("GET", "/repos/acme/tasks/issues", {"since": "2025-10-09T08:53:20Z", "sort": "updated"}, b""),
        ("GET", "/repositories/100000/issues", {"per_page": "3", "page": "2"}, b""),
        ("POST", "/repos/acme/widgets/pulls", {}, b'{"title": "Add /healthz", "head": "agent-task-1", "base": "main"}'),
        ("POST", "/repos/acme/tasks/issues/1/labels", {}, b'["agent-processing"]'),
        ("PUT", "/repos/acme/tasks/issues/1/labels", {}, b"[]"),
        ("DELETE", "/repos/acme/tasks/issues/1/labels/priority%3Ahigh", {}, b""),
        ("PATCH", "/repos/acme/tasks/issues/comments/3000001", {}, b'{"body": "Done"}'),
        ("GET", "/repos/acme/tasks/collaborators/alice/permission", {}, b""),
        ("GET", "/rate_limit", {}, b""),
    ],
)
def test_openapi_validator_passes_requests_github_accepts(
    validate, method: str, path: str, query: dict, body: bytes
) -> None:
    assert validate(method, path, query, JSON, body) == []


@pytest.mark.parametrize(
    ("method", "path", "query", "body", "expected"),
    [
        ("GET", "/repos/acme/tasks/isues", {}, b"", "Path not found"),
        ("DELETE", "/repos/acme/tasks/issues", {}, b"", "Operation delete not found"),
        (
            "POST",
            "/repos/acme/widgets/pulls",
            {},
            b'{"title": 5, "head": "x", "base": "main"}',
            "5 is not of type 'string'",
        ),
        ("GET", "/repos/acme/tasks/issues", {"state": "opened"}, b"", "Invalid query parameter: state"),
        ("GET", "/repos/acme/tasks/issues", {"perpage": "100"}, b"", "'perpage' is not in GitHub's description"),
        ("POST", "/repos/acme/tasks/issues/1/comments", {}, b'{"bdy": "hi"}', "'body' is a required property"),
        ("POST", "/repos/acme/tasks/issues/1/comments", {}, b"{not json", "body is not JSON"),
    ],
)
def test_openapi_validator_reports_what_github_would_refuse(
    validate, method: str, path: str, query: dict, body: bytes, expected: str
) -> None:
    found = validate(method, path, query, JSON, body)

    assert len(found) == 1
    assert found[0].startswith(f"{method} {path}: ") and expected in found[0]


def test_openapi_validator_allow_list_entries_say_why() -> None:
    assert ALLOW_LIST and all(entry.why and entry.methods for entry in ALLOW_LIST)


def test_openapi_validator_is_fast_after_warm_up(validate) -> None:
    validate("GET", "/repos/acme/tasks/issues", {"per_page": "100"}, {}, b"")
    started = time.perf_counter()
    for _ in range(20):
        validate("POST", "/repos/acme/tasks/issues/1/comments", {}, JSON, b'{"body": "status"}')
    per_request = (time.perf_counter() - started) / 20

    assert per_request < 0.05  # measured ~3-8 ms; an e2e run sends a few hundred requests


@pytest.fixture
def checked_gh(validate) -> Iterator[FakeGitHub]:
    with FakeGitHub(token=TOKEN, validator=validate) as gh:
        gh.add_repo("acme/tasks")
        gh.create_issue("acme/tasks", "Add /healthz", author="alice", labels=["copilot-agent"])
        yield gh


def test_openapi_validator_hooked_in_records_violations(checked_gh: FakeGitHub) -> None:
    auth = {"Authorization": f"token {TOKEN}"}
    requests.post(
        f"{checked_gh.url}/repos/acme/tasks/pulls", json={"title": 5, "head": "x", "base": "main"}, headers=auth
    )
    requests.get(f"{checked_gh.url}/repos/acme/tasks/issues", params={"labels": "copilot-agent"}, headers=auth)

    assert len(checked_gh.violations) == 1
    assert checked_gh.violations[0].startswith("POST /repos/acme/tasks/pulls: ")


def test_openapi_validator_finds_nothing_in_a_runner_like_session(checked_gh: FakeGitHub) -> None:
    gh = checked_gh
    with requests.Session() as api:
        api.headers["Authorization"] = f"Bearer {TOKEN}"
        for n in range(4):
            gh.create_issue("acme/tasks", f"Task {n}", author="alice", labels=["copilot-agent"])
        url = f"{gh.url}/repos/acme/tasks/issues?labels=copilot-agent&state=open&per_page=2"
        while url:
            url = api.get(url).links.get("next", {}).get("url")
        api.get(f"{gh.url}/repos/acme/tasks/issues/1/events", params={"per_page": 100})
        api.get(f"{gh.url}/repos/acme/tasks/collaborators/alice/permission")
        api.post(f"{gh.url}/repos/acme/tasks/issues/1/labels", json={"labels": ["agent-processing"]})
        status = api.post(f"{gh.url}/repos/acme/tasks/issues/1/comments", json={"body": "Working"}).json()
        api.patch(status["url"], json={"body": "Done"})
        api.post(f"{gh.url}/repos/acme/tasks/pulls", json={"title": "t", "head": "agent-task-1", "base": "main"})
        api.get(f"{gh.url}/repos/acme/tasks/pulls", params={"head": "acme:agent-task-1", "state": "open"})
        api.delete(f"{gh.url}/repos/acme/tasks/issues/1/labels/agent-processing")

    assert gh.violations == []
    assert all(r.status is not None and r.status < 400 for r in gh.requests)


def test_openapi_validator_accepts_what_pygithub_sends(checked_gh: FakeGitHub) -> None:
    # no pauses between requests: the fake has no secondary limits unless a test injects them
    client = Github(
        auth=Auth.Token(TOKEN),
        base_url=checked_gh.url,
        retry=None,
        seconds_between_requests=0,
        seconds_between_writes=0,
    )
    issue = client.get_repo("acme/tasks").get_issue(1)
    issue.add_to_labels("agent-processing")  # PyGithub sends a bare JSON array
    issue.remove_from_labels("copilot-agent")
    issue.create_comment("Working")
    client.close()

    assert checked_gh.labels_of("acme/tasks", 1) == ["agent-processing"]
    assert checked_gh.violations == []
