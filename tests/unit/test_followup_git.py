"""The git and GitHub calls a follow-up round adds: the PR's diff so far, a fast-forward-only push, and
the REST lookups (one conditional listing of a repo's comments, the PR, its review comments)."""

from __future__ import annotations

import pytest
import responses

from runner.errors import TransientError
from runner.github.hub import GitHubHub
from runner.github.rest import RestClient
from runner.sandbox.git_server import GitServer
from runner.workspace import GitWorkspace
from tests.fakes.memory_cache import FakeClock, MemoryKeyValueCache, MemoryResponseCache
from tests.unit.test_workspace import REPO, change, home, srv, token, ws  # noqa: F401 - fixtures

BRANCH = "agent-task-42"


def test_followup_diff_from_base_shows_only_the_branchs_changes(srv: GitServer, ws: GitWorkspace) -> None:
    url = srv.clone_url(REPO)
    first = ws.prepare("42", url, "main")
    change(ws, first, "print('hello, world')\n")
    ws.push(first, BRANCH, url)
    srv.push_commit(REPO, "main", {"NOTES.md": "team notes\n"}, "Team work", author="Dana Lee")  # main moved on

    follow_up = ws.prepare("42", url, BRANCH)
    diff = ws.diff_from_base(follow_up, url, "main")

    assert "+print('hello, world')" in diff and "-print('hi')" in diff
    assert "NOTES.md" not in diff and "README.md" not in diff
    assert ws.diff_from_base(follow_up, url, "release-9") == ""


def test_followup_push_fast_forward_adds_a_commit_and_never_rewrites(srv: GitServer, ws: GitWorkspace) -> None:
    url = srv.clone_url(REPO)
    first = ws.prepare("42", url, "main")
    round_1 = change(ws, first, "print('round 1')\n")
    ws.push(first, BRANCH, url)
    stale = ws.prepare("42", url, BRANCH)  # a round that started before another one pushed
    other = ws.prepare("42", url, BRANCH)
    round_2 = change(ws, other, "print('round 2')\n", "Round 2")
    ws.push_fast_forward(other, BRANCH, url)
    assert [c["sha"] for c in srv.commits(REPO, BRANCH)[:2]] == [round_2, round_1]

    change(ws, stale, "print('round 3')\n", "Round 3")
    with pytest.raises(TransientError, match="moved"):
        ws.push_fast_forward(stale, BRANCH, url)  # plain push() would replace the runner's own round 2
    assert srv.branch_sha(REPO, BRANCH) == round_2


API = "https://api.github.com"


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def make_hub() -> GitHubHub:
    clock = FakeClock()
    rest = RestClient(API, lambda: "test-token", cache=MemoryResponseCache(), sleep=clock.sleep, clock=clock)
    kv = MemoryKeyValueCache(clock)
    return GitHubHub(rest, kv=kv)


def test_followup_repo_comments_are_one_conditional_request(rsps):
    url = f"{API}/repos/acme/widgets/issues/comments"
    comments = [{"id": 1, "body": "/agent also update the README", "updated_at": "2024-05-01T12:00:00Z"}]
    rsps.get(url, json=comments, headers={"ETag": 'W/"abc"'})
    hub = make_hub()
    assert hub.repo_comments_since("acme/widgets", "2024-05-01T11:00:00Z") == comments
    rsps.replace(responses.GET, url, status=304)
    assert hub.repo_comments_since("acme/widgets", "2024-05-01T11:00:00Z") == comments  # replayed, free
    first, second = rsps.calls[0].request, rsps.calls[1].request
    assert "since=2024-05-01T11%3A00%3A00Z" in first.url and "sort=updated" in first.url
    assert "direction=asc" in first.url and second.headers["If-None-Match"] == 'W/"abc"'


def test_followup_own_comments_are_only_the_runners(rsps):
    rsps.get(f"{API}/user", json={"login": "agent-runner-bot"})
    rsps.get(f"{API}/repos/acme/widgets/issues/12/comments", json=[
        {"id": 1, "body": "<!-- agent-runner:followup 5 -->", "user": {"login": "mallory"}},
        {"id": 2, "body": "<!-- agent-runner:followup 5 -->", "user": {"login": "agent-runner-bot"}}])
    rsps.get(f"{API}/repos/acme/widgets/pulls/12/comments", json=[{"id": 9, "body": "nit", "path": "a.py"}])
    rsps.get(f"{API}/repos/acme/widgets/pulls/12", json={"number": 12, "state": "open"})
    hub = make_hub()
    assert [c.id for c in hub.own_comments("acme/widgets", 12)] == [2]
    assert hub.pr_review_comments("acme/widgets", 12)[0]["body"] == "nit"
    assert hub.get_pr("acme/widgets", 12)["state"] == "open"
