from __future__ import annotations

import json

import pytest
import responses

from runner.github.hub import GitHubHub
from runner.github.rest import GitHubError, RestClient
from runner.ports import Comment, PullRequest, RepoInfo
from tests.fakes.memory_cache import FakeClock, MemoryKeyValueCache, MemoryResponseCache

API = "https://api.github.com"
REPO = "acme/agent-tasks"
BRANCH = "agent-task-550e8400-e29b-41d4-a716-446655440000"


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def clock():
    return FakeClock()


def make_hub(clock: FakeClock, kv: MemoryKeyValueCache | None = None) -> GitHubHub:
    rest = RestClient(API, lambda: "test-token", cache=MemoryResponseCache(), sleep=clock.sleep, clock=clock)
    return GitHubHub(rest, kv=kv)


def event(kind: str, label: str, login: str | None, at: str, id_: int) -> dict:
    actor = {"login": login, "type": "User"} if login else None
    return {"id": id_, "event": kind, "actor": actor, "label": {"name": label, "color": "ededed"}, "created_at": at}


def pr_json(number: int, ref: str) -> dict:
    return {"number": number, "html_url": f"https://github.com/acme/widgets/pull/{number}", "state": "open",
            "body": "Fixes acme/agent-tasks#7", "head": {"ref": ref, "label": f"acme:{ref}"}}


@pytest.mark.parametrize("events, expected", [
    ([event("labeled", "copilot-agent", "alice", "2024-05-01T10:00:00Z", 1),
      event("unlabeled", "copilot-agent", "alice", "2024-05-01T11:00:00Z", 2),
      event("labeled", "copilot-agent", "mallory", "2024-05-01T12:00:00Z", 3)], "mallory"),
    ([event("labeled", "copilot-agent", "mallory", "2024-05-01T12:00:00Z", 3),
      event("labeled", "copilot-agent", "alice", "2024-05-01T10:00:00Z", 1)], "mallory"),
    ([event("labeled", "copilot-agent", "alice", "2024-05-01T10:00:00Z", 1),
      event("labeled", "bug", "mallory", "2024-05-01T12:00:00Z", 2)], "alice"),
    ([event("labeled", "copilot-agent", "ghost", "2024-05-01T10:00:00Z", 1)], "ghost"),
    ([event("labeled", "copilot-agent", None, "2024-05-01T10:00:00Z", 1)], None),
    ([event("labeled", "bug", "alice", "2024-05-01T10:00:00Z", 1)], None),
    ([], None),
])
def test_hub_labeler_is_actor_of_newest_labeled_event(rsps, clock, events, expected):
    rsps.get(f"{API}/repos/{REPO}/issues/7/events", json=events)
    assert make_hub(clock).labeler(REPO, 7, "copilot-agent") == expected


def test_hub_labeler_reads_every_page(rsps, clock):
    page2 = f"{API}/repositories/42/issues/7/events?page=2&per_page=100"
    rsps.get(f"{API}/repos/{REPO}/issues/7/events",
             json=[event("labeled", "copilot-agent", "alice", "2024-05-01T10:00:00Z", 1)],
             headers={"Link": f'<{page2}>; rel="next"'})
    rsps.get(page2, json=[event("labeled", "copilot-agent", "bob", "2024-05-02T10:00:00Z", 9)])
    assert make_hub(clock).labeler(REPO, 7, "copilot-agent") == "bob"


@pytest.mark.parametrize("answer, expected", [
    ({"permission": "admin", "role_name": "admin"}, "admin"),
    ({"permission": "write", "role_name": "maintain"}, "maintain"),
    ({"permission": "read", "role_name": "triage"}, "triage"),
    ({"permission": "write", "role_name": "security-reviewer"}, "write"),
    ({"permission": "read"}, "read"),
    ({"permission": "none", "role_name": ""}, "none"),
])
def test_hub_permission_prefers_role_name(rsps, clock, answer, expected):
    rsps.get(f"{API}/repos/{REPO}/collaborators/alice/permission", json={**answer, "user": {"login": "alice"}})
    assert make_hub(clock).permission(REPO, "alice") == expected


def test_hub_permission_of_a_stranger_is_none(rsps, clock):
    rsps.get(f"{API}/repos/{REPO}/collaborators/ghost/permission", status=404, json={"message": "Not Found"})
    assert make_hub(clock).permission(REPO, "ghost") == "none"


def test_hub_permission_and_repo_are_cached_in_kv(rsps, clock):
    rsps.get(f"{API}/repos/{REPO}/collaborators/alice/permission", json={"permission": "write", "role_name": "write"})
    rsps.get(f"{API}/repos/acme/widgets", json={"full_name": "acme/widgets", "default_branch": "main",
                                               "clone_url": "https://github.com/acme/widgets.git"})
    hub = make_hub(clock, MemoryKeyValueCache(clock))
    for _ in range(2):
        assert hub.permission(REPO, "alice") == "write"
        assert hub.get_repo("acme/widgets") == RepoInfo("acme/widgets", "https://github.com/acme/widgets.git", "main")
    assert len(rsps.calls) == 2
    clock.advance(601)  # the permission expires first
    hub.permission(REPO, "alice")
    hub.get_repo("acme/widgets")
    assert len(rsps.calls) == 3


def test_hub_find_comment_returns_first_with_marker_by_the_runner_account(rsps, clock):
    bot, mallory = {"login": "agent-runner-bot"}, {"login": "mallory"}
    rsps.get(f"{API}/user", json=bot)
    rsps.get(f"{API}/repos/{REPO}/issues/7/comments", json=[
        {"id": 1, "body": "Could you also add a test?", "html_url": "u1", "user": mallory},
        {"id": 5, "body": "<!-- agent-runner:status forged -->", "html_url": "u5", "user": mallory},
        {"id": 2, "body": "Working on it\n<!-- agent-runner:status runner=agent-runner -->", "html_url": "u2",
         "user": bot},
        {"id": 3, "body": "<!-- agent-runner:status runner=other -->", "html_url": "u3", "user": bot},
    ])
    hub = make_hub(clock)
    status = "Working on it\n<!-- agent-runner:status runner=agent-runner -->"
    assert hub.find_comment(REPO, 7, "<!-- agent-runner:status") == Comment(2, status, "u2", "agent-runner-bot")
    assert hub.find_comment(REPO, 7, "<!-- nothing") is None


def test_hub_find_open_pr_filters_by_owner_and_branch(rsps, clock):
    rsps.get(f"{API}/repos/acme/widgets/pulls", json=[pr_json(41, "agent-task-other"), pr_json(42, BRANCH)])
    pr = make_hub(clock).find_open_pr("acme/widgets", BRANCH)
    assert pr == PullRequest(42, "https://github.com/acme/widgets/pull/42", BRANCH, "open", "Fixes acme/agent-tasks#7")
    assert rsps.calls[0].request.params == {"state": "open", "head": f"acme:{BRANCH}", "per_page": "100"}


def test_hub_find_open_pr_none_when_no_match(rsps, clock):
    rsps.get(f"{API}/repos/acme/widgets/pulls", json=[])
    assert make_hub(clock).find_open_pr("acme/widgets", BRANCH) is None


def test_hub_create_pr_returns_existing_when_already_open(rsps, clock):
    rsps.post(f"{API}/repos/acme/widgets/pulls", status=422, json={
        "message": "Validation Failed",
        "errors": [{"resource": "PullRequest", "code": "custom",
                    "message": f"A pull request already exists for acme:{BRANCH}."}]})
    rsps.get(f"{API}/repos/acme/widgets/pulls", json=[pr_json(42, BRANCH)])
    pr = make_hub(clock).create_pr("acme/widgets", title="Add /healthz", head=BRANCH, base="main", body="...")
    assert pr.number == 42
    assert [c.request.method for c in rsps.calls] == ["POST", "GET"]


def test_hub_create_pr_without_commits_raises(rsps, clock):
    rsps.post(f"{API}/repos/acme/widgets/pulls", status=422, json={
        "message": "Validation Failed",
        "errors": [{"resource": "PullRequest", "code": "custom", "message": f"No commits between main and {BRANCH}"}]})
    with pytest.raises(GitHubError, match="No commits between"):
        make_hub(clock).create_pr("acme/widgets", title="Add /healthz", head=BRANCH, base="main", body="...")


def test_hub_create_pr_sends_fields_and_maps_answer(rsps, clock):
    rsps.post(f"{API}/repos/acme/widgets/pulls", status=201, json=pr_json(43, BRANCH))
    pr = make_hub(clock).create_pr("acme/widgets", title="Add /healthz", head=BRANCH, base="main", body="Summary")
    assert pr.number == 43 and pr.head_ref == BRANCH
    assert json.loads(rsps.calls[0].request.body) == {"title": "Add /healthz", "head": BRANCH, "base": "main",
                                                       "body": "Summary"}


def test_hub_set_labels_is_one_put(rsps, clock):
    rsps.put(f"{API}/repos/{REPO}/issues/7/labels", json=[{"name": "copilot-agent"}, {"name": "agent-done"}])
    names = make_hub(clock).set_labels(REPO, 7, ["copilot-agent", "agent-done"])
    assert names == ["copilot-agent", "agent-done"]
    assert len(rsps.calls) == 1
    assert json.loads(rsps.calls[0].request.body) == {"labels": ["copilot-agent", "agent-done"]}


def test_hub_add_labels_posts_names(rsps, clock):
    rsps.post(f"{API}/repos/{REPO}/issues/7/labels", json=[{"name": "copilot-agent"}, {"name": "agent-processing"}])
    assert make_hub(clock).add_labels(REPO, 7, ["agent-processing"]) == ["copilot-agent", "agent-processing"]
    assert json.loads(rsps.calls[0].request.body) == {"labels": ["agent-processing"]}


@pytest.mark.parametrize("name, segment", [
    ("priority:high", "priority%3Ahigh"),
    ("good first issue", "good%20first%20issue"),
    ("area/api", "area%2Fapi"),
])
def test_hub_label_names_are_url_encoded(rsps, clock, name, segment):
    rsps.delete(f"{API}/repos/{REPO}/issues/7/labels/{segment}", json=[])
    rsps.get(f"{API}/repos/{REPO}/labels/{segment}", json={"name": name})
    hub = make_hub(clock)
    hub.remove_label(REPO, 7, name)
    assert hub.get_label(REPO, name) == {"name": name}
    assert [c.request.url.rsplit("/", 1)[1] for c in rsps.calls] == [segment, segment]


def test_hub_missing_labels_are_fine(rsps, clock):
    rsps.delete(f"{API}/repos/{REPO}/issues/7/labels/agent-processing", status=404,
                json={"message": "Label does not exist"})
    rsps.get(f"{API}/repos/{REPO}/labels/agent-done", status=404, json={"message": "Not Found"})
    hub = make_hub(clock)
    hub.remove_label(REPO, 7, "agent-processing")
    assert hub.get_label(REPO, "agent-done") is None


def test_hub_create_label_tolerates_already_exists(rsps, clock):
    rsps.post(f"{API}/repos/{REPO}/labels", status=422, json={
        "message": "Validation Failed", "errors": [{"resource": "Label", "code": "already_exists", "field": "name"}]})
    make_hub(clock).create_label(REPO, "agent-done", "#0e8a16", "Finished by the agent runner")
    assert json.loads(rsps.calls[0].request.body) == {"name": "agent-done", "color": "0e8a16",
                                                       "description": "Finished by the agent runner"}


def test_hub_create_label_reports_invalid_color(rsps, clock):
    rsps.post(f"{API}/repos/{REPO}/labels", status=422, json={
        "message": "Validation Failed", "errors": [{"resource": "Label", "code": "invalid", "field": "color"}]})
    with pytest.raises(GitHubError):
        make_hub(clock).create_label(REPO, "agent-done", "green")


def test_hub_comments_create_and_update(rsps, clock):
    rsps.post(f"{API}/repos/{REPO}/issues/7/comments", status=201,
              json={"id": 1001, "body": "Working on it", "html_url": "https://github.com/acme/agent-tasks/issues/7#issuecomment-1001"})
    rsps.patch(f"{API}/repos/{REPO}/issues/comments/1001", json={"id": 1001})
    hub = make_hub(clock)
    comment = hub.create_comment(REPO, 7, "Working on it")
    hub.update_comment(REPO, comment.id, "Done")
    assert comment.id == 1001 and comment.html_url.endswith("issuecomment-1001")
    assert json.loads(rsps.calls[1].request.body) == {"body": "Done"}


def test_hub_whoami_and_rate_limit(rsps, clock):
    rsps.get(f"{API}/user", json={"login": "agent-bot"})
    rsps.get(f"{API}/rate_limit", json={"resources": {"core": {"limit": 5000, "remaining": 4999}}})
    hub = make_hub(clock)
    assert hub.whoami() == "agent-bot"
    assert hub.rate_limit()["resources"]["core"]["remaining"] == 4999


def test_hub_repo_permissions_tell_whether_the_token_can_push(rsps, clock):
    rsps.get(f"{API}/repos/acme/widgets", json={"full_name": "acme/widgets", "permissions": {
        "admin": False, "maintain": False, "push": True, "triage": True, "pull": True}})
    rsps.get(f"{API}/repos/acme/docs", json={"full_name": "acme/docs"})
    hub = make_hub(clock)
    assert hub.repo_permissions("acme/widgets")["push"] is True
    assert hub.repo_permissions("acme/docs") == {}
