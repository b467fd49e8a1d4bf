"""The fake GitHub, driven over real HTTP with ``requests`` the way the runner will drive it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from runner.sandbox.github_server import FakeGitHub, RecordedRequest

FIXTURES = Path(__file__).resolve().parents[2] / "data" / "octokit-fixtures"
TOKEN = "test-token-0000000000000000000000000000"


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=TOKEN) as server:
        server.add_repo("acme/tasks", clone_url="http://127.0.0.1:9999/acme/tasks.git")
        server.add_repo("acme/widgets", clone_url="http://127.0.0.1:9999/acme/widgets.git", default_branch="trunk")
        yield server


@pytest.fixture
def api(gh: FakeGitHub) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["Authorization"] = f"token {TOKEN}"
        yield session


def recorded(name: str) -> list[dict[str, Any]]:
    return json.loads((FIXTURES / name).read_text())


def file_issues(gh: FakeGitHub, count: int, labels: list[str] | None = None) -> None:
    for n in range(1, count + 1):
        gh.create_issue("acme/tasks", title=f"Task {n}", body=f"Do thing {n}", author="alice", labels=labels or [])


# conditional requests and rate limit ------------------------------------------------------------


def test_github_server_etag_round_trip_answers_304_without_spending_rate_limit(
    gh: FakeGitHub, api: requests.Session
) -> None:
    file_issues(gh, 2, ["copilot-agent"])
    first = api.get(f"{gh.url}/repos/acme/tasks/issues", params={"labels": "copilot-agent"})
    etag = first.headers["ETag"]
    again = api.get(
        f"{gh.url}/repos/acme/tasks/issues", params={"labels": "copilot-agent"}, headers={"If-None-Match": etag}
    )

    assert etag.startswith('W/"')
    assert again.status_code == 304 and again.content == b""
    assert again.headers["x-ratelimit-remaining"] == first.headers["x-ratelimit-remaining"] == "4999"
    assert gh.rate_remaining == 4999


def test_github_server_etag_changes_when_the_list_changes(gh: FakeGitHub, api: requests.Session) -> None:
    file_issues(gh, 1)
    etag = api.get(f"{gh.url}/repos/acme/tasks/issues").headers["ETag"]
    gh.add_label_to_issue("acme/tasks", 1, "copilot-agent", actor="bob")
    changed = api.get(f"{gh.url}/repos/acme/tasks/issues", headers={"If-None-Match": etag})

    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert [lab["name"] for lab in changed.json()[0]["labels"]] == ["copilot-agent"]


@pytest.mark.parametrize("sent", ['"{tag}"', 'W/"{tag}"'])
def test_github_server_single_resource_etag_matches_strong_and_weak_form(
    gh: FakeGitHub, api: requests.Session, sent: str
) -> None:
    file_issues(gh, 1)
    etag = api.get(f"{gh.url}/repos/acme/tasks/issues/1").headers["ETag"]
    tag = etag.strip('"')
    answer = api.get(f"{gh.url}/repos/acme/tasks/issues/1", headers={"If-None-Match": sent.format(tag=tag)})

    assert not etag.startswith("W/")
    assert answer.status_code == 304


def test_github_server_rate_limit_exhaustion_answers_403_until_reset(gh: FakeGitHub, api: requests.Session) -> None:
    gh.set_rate_remaining(1, reset_in=0.15)
    last_allowed = api.get(f"{gh.url}/repos/acme/tasks")
    refused = api.get(f"{gh.url}/repos/acme/tasks")
    still_readable = api.get(f"{gh.url}/rate_limit")
    time.sleep(0.2)
    after_reset = api.get(f"{gh.url}/repos/acme/tasks")

    assert last_allowed.status_code == 200 and last_allowed.headers["x-ratelimit-remaining"] == "0"
    assert refused.status_code == 403
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.json()["message"].startswith("API rate limit exceeded")
    assert int(refused.headers["x-ratelimit-reset"]) >= int(time.time()) - 1
    assert still_readable.json()["resources"]["core"]["remaining"] == 0
    assert after_reset.status_code == 200 and after_reset.headers["x-ratelimit-remaining"] == "4999"


def test_github_server_every_answer_carries_rate_limit_headers(gh: FakeGitHub, api: requests.Session) -> None:
    answer = api.get(f"{gh.url}/repos/acme/nope")

    assert answer.status_code == 404 and answer.json()["message"] == "Not Found"
    assert answer.headers["x-ratelimit-resource"] == "core"
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    assert {"x-ratelimit-limit", "x-ratelimit-used", "x-ratelimit-reset", "x-github-request-id"} <= set(answer.headers)
    assert int(answer.headers["x-ratelimit-reset"]) < 10_000_000_000  # epoch seconds, not ms


def test_github_server_rate_limit_endpoint_is_free(gh: FakeGitHub, api: requests.Session) -> None:
    body = api.get(f"{gh.url}/rate_limit").json()

    assert body["resources"]["core"]["remaining"] == 5000 == gh.rate_remaining


# pagination --------------------------------------------------------------------------------------


def test_github_server_paginates_through_repositories_id_links(gh: FakeGitHub, api: requests.Session) -> None:
    file_issues(gh, 7)
    repo_id = api.get(f"{gh.url}/repos/acme/tasks").json()["id"]
    url: str | None = f"{gh.url}/repos/acme/tasks/issues?per_page=3"
    numbers, links = [], []
    while url:
        page = api.get(url)
        numbers += [i["number"] for i in page.json()]
        links.append(page.headers.get("Link", ""))
        url = page.links.get("next", {}).get("url")

    assert numbers == [7, 6, 5, 4, 3, 2, 1]
    assert f'{gh.url}/repositories/{repo_id}/issues?per_page=3&page=2>; rel="next"' in links[0]
    assert 'rel="last"' in links[0] and 'rel="prev"' not in links[0]
    assert 'rel="first"' in links[2] and 'rel="next"' not in links[2]
    assert [r.path for r in gh.requests[-2:]] == [f"/repositories/{repo_id}/issues"] * 2


def test_github_server_304_carries_no_link_header(gh: FakeGitHub, api: requests.Session) -> None:
    file_issues(gh, 4)
    first = api.get(f"{gh.url}/repos/acme/tasks/issues", params={"per_page": 2})
    again = api.get(
        f"{gh.url}/repos/acme/tasks/issues", params={"per_page": 2}, headers={"If-None-Match": first.headers["ETag"]}
    )

    assert 'rel="next"' in first.headers["Link"]
    assert again.status_code == 304 and "Link" not in again.headers


def test_github_server_paginates_comments_and_events(gh: FakeGitHub, api: requests.Session) -> None:
    file_issues(gh, 1)
    for n in range(5):
        gh.add_comment("acme/tasks", 1, f"note {n}", author="bob")
        gh.add_label_to_issue("acme/tasks", 1, f"area-{n}", actor="bob")
    comments = api.get(f"{gh.url}/repos/acme/tasks/issues/1/comments", params={"per_page": 2})
    events = api.get(f"{gh.url}/repos/acme/tasks/issues/1/events", params={"per_page": 4})
    events_2 = api.get(events.links["next"]["url"])

    assert [c["body"] for c in comments.json()] == ["note 0", "note 1"]
    assert "/repositories/" in comments.links["next"]["url"]
    assert [e["label"]["name"] for e in events.json() + events_2.json()] == [f"area-{n}" for n in range(5)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"labels": "copilot-agent"}, [3, 1]),
        ({"labels": "copilot-agent,priority:high"}, [3]),
        ({"labels": "Copilot-Agent"}, [3, 1]),
        ({"labels": "agent-done"}, []),
        ({}, [3, 2, 1]),
        ({"state": "closed"}, [4]),
        ({"state": "all", "direction": "asc"}, [1, 2, 3, 4]),
    ],
)
def test_github_server_issue_list_filters(
    gh: FakeGitHub, api: requests.Session, query: dict, expected: list[int]
) -> None:
    gh.create_issue("acme/tasks", "Add /healthz", author="alice", labels=["copilot-agent"])
    gh.create_issue("acme/tasks", "Typo in README", author="alice")
    gh.create_issue("acme/tasks", "Fix crash", author="alice", labels=["copilot-agent", "priority:high"])
    gh.create_issue("acme/tasks", "Old task", author="alice", labels=["copilot-agent"])
    gh.edit_issue("acme/tasks", 4, state="closed")

    answer = api.get(f"{gh.url}/repos/acme/tasks/issues", params=query)

    assert [i["number"] for i in answer.json()] == expected


def test_github_server_issue_list_since_filters_on_updated_at(gh: FakeGitHub, api: requests.Session) -> None:
    file_issues(gh, 1)
    future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 120))
    past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 120))

    assert api.get(f"{gh.url}/repos/acme/tasks/issues", params={"since": future}).json() == []
    assert len(api.get(f"{gh.url}/repos/acme/tasks/issues", params={"since": past}).json()) == 1


# issues, pull requests, labels -------------------------------------------------------------------


def test_github_server_lists_pull_requests_among_issues(gh: FakeGitHub, api: requests.Session) -> None:
    file_issues(gh, 1)
    api.post(f"{gh.url}/repos/acme/tasks/pulls", json={"title": "Add /healthz", "head": "agent-task-1", "base": "main"})
    issues = api.get(f"{gh.url}/repos/acme/tasks/issues").json()

    assert [(i["number"], "pull_request" in i) for i in issues] == [(2, True), (1, False)]
    assert issues[0]["pull_request"]["html_url"].endswith("/acme/tasks/pull/2")


def test_github_server_api_label_add_creates_label_and_labeled_event(gh: FakeGitHub, api: requests.Session) -> None:
    file_issues(gh, 1)
    gh.add_label_to_issue("acme/tasks", 1, "copilot-agent", actor="bob")
    added = api.post(f"{gh.url}/repos/acme/tasks/issues/1/labels", json={"labels": ["agent-processing"]})
    events = api.get(f"{gh.url}/repos/acme/tasks/issues/1/events").json()

    assert added.status_code == 200
    assert [lab["name"] for lab in added.json()] == ["copilot-agent", "agent-processing"]
    assert api.get(f"{gh.url}/repos/acme/tasks/labels/agent-processing").json()["color"] == "ededed"
    assert [(e["event"], e["label"]["name"], e["actor"]["login"]) for e in events] == [
        ("labeled", "copilot-agent", "bob"),
        ("labeled", "agent-processing", "agent-runner-bot"),
    ]
    assert events[0]["id"] < events[1]["id"]


@pytest.mark.parametrize(
    ("method", "body", "expected"),
    [
        ("POST", ["agent-done"], ["copilot-agent", "agent-done"]),
        ("POST", {"labels": ["agent-done"]}, ["copilot-agent", "agent-done"]),
        ("PUT", ["agent-done"], ["agent-done"]),
        ("PUT", {"labels": [{"name": "agent-done"}]}, ["agent-done"]),
        ("PUT", [], []),
    ],
)
def test_github_server_issue_labels_accept_bare_arrays(
    gh: FakeGitHub, api: requests.Session, method: str, body: Any, expected: list[str]
) -> None:
    gh.create_issue("acme/tasks", "Add /healthz", author="alice", labels=["copilot-agent"])
    answer = api.request(method, f"{gh.url}/repos/acme/tasks/issues/1/labels", json=body)

    assert answer.status_code == 200
    assert [lab["name"] for lab in answer.json()] == expected == gh.labels_of("acme/tasks", 1)


def test_github_server_label_removal_decodes_names_and_404s_when_absent(gh: FakeGitHub, api: requests.Session) -> None:
    gh.create_issue("acme/tasks", "Fix crash", author="alice", labels=["copilot-agent", "priority:high"])
    removed = api.delete(f"{gh.url}/repos/acme/tasks/issues/1/labels/priority%3Ahigh")
    again = api.delete(f"{gh.url}/repos/acme/tasks/issues/1/labels/priority%3Ahigh")
    last_event = gh.events("acme/tasks", 1)[-1]

    assert [lab["name"] for lab in removed.json()] == ["copilot-agent"]
    assert again.status_code == 404 and again.json()["message"] == "Label does not exist"
    assert (last_event["event"], last_event["label"]["name"]) == ("unlabeled", "priority:high")


def test_github_server_label_changes_bump_updated_at(api: requests.Session) -> None:
    now = [1_760_000_000.0]
    with FakeGitHub(token=TOKEN, clock=lambda: now[0]) as gh:
        gh.add_repo("acme/tasks")
        file_issues(gh, 1)
        now[0] += 90
        api.post(f"{gh.url}/repos/acme/tasks/issues/1/labels", json=["agent-processing"])
        since_before = api.get(f"{gh.url}/repos/acme/tasks/issues", params={"since": "2025-10-09T08:54:00Z"})
        issue = gh.issue("acme/tasks", 1)

    assert (issue["created_at"], issue["updated_at"]) == ("2025-10-09T08:53:20Z", "2025-10-09T08:54:50Z")
    assert [i["number"] for i in since_before.json()] == [1]


def test_github_server_repo_label_create_rejects_duplicates_and_bad_colors(
    gh: FakeGitHub, api: requests.Session
) -> None:
    created = api.post(f"{gh.url}/repos/acme/tasks/labels", json={"name": "agent-done", "color": "0e8a16"})
    duplicate = api.post(f"{gh.url}/repos/acme/tasks/labels", json={"name": "Agent-Done", "color": "0e8a16"})
    bad_color = api.post(f"{gh.url}/repos/acme/tasks/labels", json={"name": "foo", "color": "invalid"})

    assert created.status_code == 201 and created.headers["Location"].endswith("/labels/agent-done")
    assert duplicate.status_code == 422
    assert duplicate.json()["errors"] == [{"resource": "Label", "code": "already_exists", "field": "name"}]
    assert bad_color.json()["errors"] == recorded("errors.json")[0]["response"]["errors"]


def test_github_server_pull_create_refuses_a_second_open_pr_for_the_head(gh: FakeGitHub, api: requests.Session) -> None:
    pr = {"title": "Add /healthz", "head": "agent-task-42", "base": "main", "body": "Fixes acme/tasks#1"}
    first = api.post(f"{gh.url}/repos/acme/tasks/pulls", json=pr)
    second = api.post(f"{gh.url}/repos/acme/tasks/pulls", json={**pr, "head": "acme:agent-task-42"})

    assert first.status_code == 201
    assert first.json()["head"]["ref"] == "agent-task-42" and first.json()["base"]["ref"] == "main"
    assert second.status_code == 422 and second.json()["message"] == "Validation Failed"
    assert second.json()["errors"] == [
        {
            "resource": "PullRequest",
            "code": "custom",
            "message": "A pull request already exists for acme:agent-task-42.",
        }
    ]
    assert len(gh.pulls("acme/tasks")) == 1


@pytest.mark.parametrize(
    ("ahead", "error"),
    [
        (0, {"resource": "PullRequest", "code": "custom", "message": "No commits between main and agent-task-7"}),
        (None, {"resource": "PullRequest", "code": "invalid", "field": "head"}),
    ],
)
def test_github_server_pull_create_needs_commits_on_an_existing_head(
    gh: FakeGitHub, api: requests.Session, ahead: int | None, error: dict
) -> None:
    seen = []
    gh.compare = lambda repo, base, head: seen.append((repo, base, head)) or ahead
    answer = api.post(f"{gh.url}/repos/acme/tasks/pulls", json={"title": "t", "head": "agent-task-7", "base": "main"})

    assert answer.status_code == 422 and answer.json()["errors"] == [error]
    assert seen == [("acme/tasks", "main", "agent-task-7")]


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ("acme:agent-task-1", ["agent-task-1"]),
        ("agent-task-1", ["agent-task-2", "agent-task-1"]),  # GitHub ignores a head without owner
        ("someone-else:agent-task-1", []),
    ],
)
def test_github_server_pull_list_head_filter_needs_owner(
    gh: FakeGitHub, api: requests.Session, head: str, expected: list[str]
) -> None:
    gh.create_pull("acme/tasks", "agent-task-1")
    gh.create_pull("acme/tasks", "agent-task-2")
    answer = api.get(f"{gh.url}/repos/acme/tasks/pulls", params={"head": head, "state": "all"})

    assert [p["head"]["ref"] for p in answer.json()] == expected


def test_github_server_pull_patch_updates_title_body_and_state(gh: FakeGitHub, api: requests.Session) -> None:
    number = gh.create_pull("acme/tasks", "agent-task-1", title="Draft")["number"]
    patched = api.patch(
        f"{gh.url}/repos/acme/tasks/pulls/{number}",
        json={"title": "Add /healthz", "body": "Round 2", "state": "closed"},
    )

    assert patched.status_code == 200
    assert (patched.json()["title"], patched.json()["body"], patched.json()["state"]) == (
        "Add /healthz",
        "Round 2",
        "closed",
    )
    assert api.get(f"{gh.url}/repos/acme/tasks/pulls", params={"head": "acme:agent-task-1"}).json() == []


def test_github_server_issue_create_over_the_api(gh: FakeGitHub, api: requests.Session) -> None:
    answer = api.post(
        f"{gh.url}/repos/acme/tasks/issues",
        json={"title": "Add /healthz", "body": "please", "labels": ["copilot-agent"]},
    )

    assert answer.status_code == 201
    assert answer.json()["user"]["login"] == "agent-runner-bot"
    assert gh.labels_of("acme/tasks", answer.json()["number"]) == ["copilot-agent"]


# comments ----------------------------------------------------------------------------------------


def test_github_server_comment_patch_edits_in_place(gh: FakeGitHub, api: requests.Session) -> None:
    file_issues(gh, 1)
    posted = api.post(
        f"{gh.url}/repos/acme/tasks/issues/1/comments", json={"body": "<!-- agent-runner:status -->\nWorking"}
    )
    edited = api.patch(posted.json()["url"], json={"body": "<!-- agent-runner:status -->\nDone"})

    assert posted.status_code == 201 and posted.headers["Location"] == posted.json()["url"]
    assert edited.json()["id"] == posted.json()["id"]
    assert [c["body"] for c in gh.comments("acme/tasks", 1)] == ["<!-- agent-runner:status -->\nDone"]
    assert gh.issue("acme/tasks", 1)["comments"] == 1


def test_github_server_repo_comment_list_sorts_and_filters(gh: FakeGitHub, api: requests.Session) -> None:
    file_issues(gh, 2)
    gh.add_comment("acme/tasks", 1, "/agent add tests", author="alice")
    gh.add_comment("acme/tasks", 2, "/agent cancel", author="bob")
    plain = api.get(f"{gh.url}/repos/acme/tasks/issues/comments").json()
    newest_first = api.get(
        f"{gh.url}/repos/acme/tasks/issues/comments", params={"sort": "created", "direction": "desc"}
    ).json()
    single = api.get(plain[1]["url"]).json()

    assert [c["body"] for c in plain] == ["/agent add tests", "/agent cancel"]
    assert [c["body"] for c in newest_first] == ["/agent cancel", "/agent add tests"]
    assert single["issue_url"].endswith("/repos/acme/tasks/issues/2")


@pytest.mark.parametrize(
    ("method", "path", "payload", "resource"),
    [
        ("POST", "/repos/acme/tasks/issues/1/comments", {}, "IssueComment"),
        ("POST", "/repos/acme/tasks/issues", {"title": "t"}, "Issue"),
        ("POST", "/repos/acme/tasks/pulls", {"title": "t", "head": "x", "base": "main"}, "PullRequest"),
        ("PATCH", "/repos/acme/tasks/issues/1", {}, "Issue"),
    ],
)
def test_github_server_rejects_bodies_over_65536_characters(
    gh: FakeGitHub, api: requests.Session, method: str, path: str, payload: dict, resource: str
) -> None:
    file_issues(gh, 1)
    answer = api.request(method, gh.url + path, json={**payload, "body": "x" * 65537})
    fits = api.request(method, gh.url + path.replace("pulls", "issues"), json={"title": "t", "body": "x" * 65536})

    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {
            "resource": resource,
            "code": "custom",
            "field": "body",
            "message": "body is too long (maximum is 65536 characters)",
        }
    ]
    assert fits.status_code in (200, 201)


# auth, permissions, repos ------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [None, "token wrong", f"basic {TOKEN}", f"token {TOKEN}x"])
def test_github_server_rejects_bad_credentials(gh: FakeGitHub, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = requests.get(f"{gh.url}/repos/acme/tasks", headers=headers)

    assert answer.status_code == 401 and answer.json()["message"] == "Bad credentials"
    assert gh.rate_remaining == 5000


@pytest.mark.parametrize("scheme", ["token", "Bearer"])
def test_github_server_accepts_token_and_bearer(gh: FakeGitHub, scheme: str) -> None:
    assert (
        requests.get(f"{gh.url}/user", headers={"Authorization": f"{scheme} {TOKEN}"}).json()["login"]
        == "agent-runner-bot"
    )


def test_github_server_revoked_token_answers_401(gh: FakeGitHub, api: requests.Session) -> None:
    assert api.get(f"{gh.url}/user").status_code == 200
    gh.revoke_token()
    assert api.get(f"{gh.url}/user").status_code == 401


@pytest.mark.parametrize(
    ("role", "permission"),
    [
        ("admin", "admin"),
        ("maintain", "write"),
        ("write", "write"),
        ("triage", "read"),
        ("read", "read"),
        ("none", "none"),
    ],
)
def test_github_server_collaborator_permission_folds_roles(
    gh: FakeGitHub, api: requests.Session, role: str, permission: str
) -> None:
    gh.set_permission("acme/tasks", "alice", role)
    body = api.get(f"{gh.url}/repos/acme/tasks/collaborators/alice/permission").json()

    assert (body["permission"], body["role_name"], body["user"]["login"]) == (permission, role, "alice")


def test_github_server_permission_of_known_outsider_is_none_and_of_unknown_user_404(
    gh: FakeGitHub, api: requests.Session
) -> None:
    gh.create_issue("acme/tasks", "drive-by", author="mallory")

    assert api.get(f"{gh.url}/repos/acme/tasks/collaborators/mallory/permission").json()["permission"] == "none"
    assert api.get(f"{gh.url}/repos/acme/tasks/collaborators/nobody-at-all/permission").status_code == 404


def test_github_server_repo_shows_clone_url_default_branch_and_permissions(
    gh: FakeGitHub, api: requests.Session
) -> None:
    gh.set_permission("acme/widgets", "agent-runner-bot", "write")
    repo = api.get(f"{gh.url}/repos/acme/widgets").json()

    assert (repo["full_name"], repo["clone_url"], repo["default_branch"]) == (
        "acme/widgets",
        "http://127.0.0.1:9999/acme/widgets.git",
        "trunk",
    )
    assert repo["permissions"] == {"admin": False, "maintain": False, "push": True, "triage": True, "pull": True}
    assert api.get(f"{gh.url}/repositories/{repo['id']}").json()["full_name"] == "acme/widgets"


def test_github_server_read_only_token_cannot_label(gh: FakeGitHub, api: requests.Session) -> None:
    file_issues(gh, 1)
    gh.set_permission("acme/tasks", "agent-runner-bot", "read")

    assert api.post(f"{gh.url}/repos/acme/tasks/issues/1/labels", json=["x"]).status_code == 403
    assert gh.labels_of("acme/tasks", 1) == []


@pytest.mark.parametrize(("raw", "status"), [(b"{not json", 400), (b'{"body": 5}', 422)])
def test_github_server_rejects_malformed_bodies(gh: FakeGitHub, api: requests.Session, raw: bytes, status: int) -> None:
    file_issues(gh, 1)
    answer = api.post(
        f"{gh.url}/repos/acme/tasks/issues/1/comments", data=raw, headers={"Content-Type": "application/json"}
    )

    assert answer.status_code == status
    assert gh.comments("acme/tasks", 1) == []


# fault injection, hooks, recording ---------------------------------------------------------------


def test_github_server_fault_after_effect_lands_the_write_and_answers_502(
    gh: FakeGitHub, api: requests.Session
) -> None:
    file_issues(gh, 1)
    gh.fail_next("POST", r"/repos/acme/tasks/issues/\d+/comments", 502, after_effect=True)
    failed = api.post(f"{gh.url}/repos/acme/tasks/issues/1/comments", json={"body": "status"})
    retried = api.post(f"{gh.url}/repos/acme/tasks/issues/1/comments", json={"body": "status"})

    assert failed.status_code == 502 and retried.status_code == 201
    assert [c["body"] for c in gh.comments("acme/tasks", 1)] == ["status", "status"]
    assert gh.pending_faults == 0


def test_github_server_fault_before_effect_changes_nothing(gh: FakeGitHub, api: requests.Session) -> None:
    file_issues(gh, 1)
    gh.fail_next("POST", r"/repos/acme/tasks/issues/1/labels", 403, times=2, headers={"retry-after": "2"})
    answers = [api.post(f"{gh.url}/repos/acme/tasks/issues/1/labels", json=["x"]) for _ in range(3)]

    assert [a.status_code for a in answers] == [403, 403, 200]
    assert answers[0].headers["retry-after"] == "2"
    assert "secondary rate limit" in answers[0].json()["message"]
    assert gh.labels_of("acme/tasks", 1) == ["x"]


def test_github_server_fault_headers_override_the_standard_ones(gh: FakeGitHub, api: requests.Session) -> None:
    gh.fail_next("*", r"/repos/acme/tasks", 403, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"})
    answer = api.get(f"{gh.url}/repos/acme/tasks")

    assert answer.status_code == 403
    assert (answer.headers["x-ratelimit-remaining"], answer.headers["x-ratelimit-reset"]) == ("0", "1")


def test_github_server_fault_can_answer_an_html_page(gh: FakeGitHub, api: requests.Session) -> None:
    gh.fail_next("GET", r"/user", 502, body="<html><body>Unicorn!</body></html>")
    answer = api.get(f"{gh.url}/user")

    assert answer.status_code == 502 and answer.headers["content-type"].startswith("text/html")
    assert "Unicorn" in answer.text


def test_github_server_fault_path_must_match_fully(gh: FakeGitHub, api: requests.Session) -> None:
    file_issues(gh, 1)
    gh.fail_next("GET", r"/repos/acme/tasks/issues", 500)

    assert api.get(f"{gh.url}/repos/acme/tasks/issues/1").status_code == 200
    assert api.get(f"{gh.url}/repos/acme/tasks/issues").status_code == 500


def test_github_server_callbacks_see_each_request_before_and_after(gh: FakeGitHub, api: requests.Session) -> None:
    seen: list[tuple[str, str, int | None]] = []
    gh.on_request(lambda r: seen.append(("before", r.path, r.status)))
    gh.after_request(lambda r: seen.append(("after", r.path, r.status)))
    api.get(f"{gh.url}/repos/acme/tasks")
    deadline = time.monotonic() + 5  # "after" runs once the answer is written, maybe after the client read it
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)

    assert seen == [("before", "/repos/acme/tasks", None), ("after", "/repos/acme/tasks", 200)]


def test_github_server_records_requests(gh: FakeGitHub, api: requests.Session) -> None:
    file_issues(gh, 1)
    api.post(f"{gh.url}/repos/acme/tasks/issues/1/comments?x=1", json={"body": "hi"}, headers={"X-Trace": "t1"})
    req: RecordedRequest = gh.requests[-1]

    assert (req.method, req.path, req.query, req.body, req.status) == (
        "POST",
        "/repos/acme/tasks/issues/1/comments",
        {"x": "1"},
        {"body": "hi"},
        201,
    )
    assert req.headers["x-trace"] == req.headers["X-Trace"] == "t1"
    assert req.time <= time.monotonic()


def test_github_server_hands_requests_to_the_validator(api: requests.Session) -> None:
    calls = []

    def validator(method: str, path: str, query: dict, headers: dict, body: bytes) -> list[str]:
        calls.append((method, path, query, body))
        return [f"{method} {path}: nope"] if query else []

    with FakeGitHub(token=TOKEN, validator=validator) as gh:
        gh.add_repo("acme/tasks")
        api.get(f"{gh.url}/repos/acme/tasks/issues", params={"bogus": "1"})
        api.get(f"{gh.url}/repos/acme/tasks")

    assert calls[0] == ("GET", "/repos/acme/tasks/issues", {"bogus": "1"}, b"")
    assert gh.violations == ["GET /repos/acme/tasks/issues: nope"]


def test_github_server_stop_closes_kept_alive_connections(api: requests.Session) -> None:
    gh = FakeGitHub(token=TOKEN).start()
    assert api.get(f"{gh.url}/user").status_code == 200
    gh.stop()

    with pytest.raises(requests.ConnectionError):
        api.get(f"{gh.url}/user", timeout=2)


# shapes against recorded api.github.com traffic ---------------------------------------------------


def test_github_server_issue_json_has_the_recorded_keys(gh: FakeGitHub, api: requests.Session) -> None:
    file_issues(gh, 1, ["bug"])
    listed = api.get(f"{gh.url}/repos/acme/tasks/issues").json()[0]
    single = api.get(f"{gh.url}/repos/acme/tasks/issues/1").json()
    real_listed = recorded("paginate-issues.json")[0]["response"][0]
    real_single = recorded("add-labels-to-issue.json")[0]["response"]

    assert list(listed) == list(real_listed)
    assert list(single) == list(real_single)
    assert list(listed["user"]) == list(real_listed["user"])


def test_github_server_label_and_repo_json_have_the_recorded_keys(gh: FakeGitHub, api: requests.Session) -> None:
    file_issues(gh, 1, ["bug"])
    label = api.get(f"{gh.url}/repos/acme/tasks/labels").json()[0]
    repo = api.get(f"{gh.url}/repos/acme/tasks").json()

    assert list(label) == list(recorded("labels.json")[0]["response"][0])
    assert set(repo) == set(recorded("get-repository.json")[0]["response"])


def test_github_server_link_header_has_the_recorded_form(gh: FakeGitHub, api: requests.Session) -> None:
    file_issues(gh, 13)
    repo_id = api.get(f"{gh.url}/repos/acme/tasks").json()["id"]
    ours = api.get(f"{gh.url}/repositories/{repo_id}/issues", params={"per_page": 3, "page": 2}).headers["Link"]
    real = recorded("paginate-issues.json")[1]["headers"]["link"]

    assert ours.replace(gh.url, "https://api.github.com").replace(str(repo_id), "1000") == real
