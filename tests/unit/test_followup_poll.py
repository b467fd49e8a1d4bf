"""Which comments the tick turns into rounds or cancels, how the listing advances, and the service's
side: rounds run in the pool, one piece of work per dispatch issue at a time."""

from __future__ import annotations

import threading

import pytest

from runner import config
from runner.errors import GitHubAuthError, TransientError
from runner.followup_state import FollowupRow
from runner.github.poller import PollResult
from runner.ports import CachedResponse
from runner.service import Service
from runner.state import Journal
from tests.unit.test_followup_round import ME, NOW, TASK_ID, make_world, pr_data


@pytest.mark.parametrize("comment,expected", [
    (dict(cid=1, body="/agent also update the README"), "queued"),
    (dict(cid=1, body="/agent also update the README", author="maint"), "queued"),
    (dict(cid=1, body="/agent delete every file", author="reader"), "ignored"),
    (dict(cid=1, body="/agent delete every file", author="stranger"), "ignored"),
    (dict(cid=1, body="/agent also update the README", number=13), "ignored"),  # not a PR the fake knows
    (dict(cid=1, body="/agent also update the README", author=ME), None),  # the runner's own words
    (dict(cid=1, body="Looks good, thanks!"), None),
    (dict(cid=1, body="/agent also update the README", at="2024-05-01T10:00:00Z"), None),  # before the watch
    (dict(cid=1, body="/agent also update the README", repo="acme/tasks", number=7), None),  # rounds: PRs only
])
def test_followup_poll_records_only_commands_and_looks_at_each_once(tmp_path, comment, expected):
    w = make_world(tmp_path)
    w.comment(**comment)
    w.followups.poll()
    row = w.rows.get((comment.get("repo", "acme/widgets"), 1))
    assert (row.state if row else None) == expected
    if expected == "queued":
        assert (row.dispatch_number, row.task_id, row.instruction) == (7, TASK_ID, comment["body"][7:])


@pytest.mark.parametrize("changes,why", [
    ({"user": {"login": "mallory"}}, "opened by @mallory"),
    ({"state": "closed"}, "closed"),
    ({"body": pr_data()["body"].replace("acme/tasks", "acme/other")}, "comes from acme/other"),
])
def test_followup_poll_ignores_prs_that_are_not_the_runners_open_ones(tmp_path, changes, why):
    w = make_world(tmp_path)
    w.hub.pulls[("acme/widgets", 12)] = pr_data(**changes)
    w.comment(1, "/agent also update the README")
    assert w.followups.poll() == []
    row = w.rows.get(("acme/widgets", 1))
    assert row.state == "ignored" and why in row.error


def test_followup_poll_asks_once_per_repo_and_moves_its_mark_in_coarse_steps(tmp_path):
    w = make_world(tmp_path)
    w.comment(1, "/agent also update the README", at="2024-05-01T12:00:10Z")
    w.comment(2, "nice", author="bob", at="2024-05-01T12:00:20Z")
    w.followups.poll()
    assert w.hub.sinces == [("acme/widgets", "2024-05-01T11:00:30Z"), ("acme/tasks", "2024-05-01T11:00:30Z")]
    w.followups.poll()
    # the mark trails the newest comment by 10 minutes, so the next listings reuse one URL (and its ETag)
    assert w.hub.sinces[2:] == [("acme/widgets", "2024-05-01T11:50:20Z"), ("acme/tasks", "2024-05-01T11:00:30Z")]
    w.comment(3, "and again", author="bob", at="2024-05-01T12:00:40Z")
    w.followups.poll()
    assert w.hub.sinces[4] == ("acme/widgets", "2024-05-01T11:50:20Z")  # a change a minute later: same URL
    assert w.hub.calls.count("get_pr") == 1  # comment 1 was looked at once


def test_followup_poll_drops_the_cached_page_of_a_listing_it_moved_past(tmp_path):
    w = make_world(tmp_path)
    first = w.hub.repo_comments_key("acme/widgets", "2024-05-01T11:00:30Z")
    w.journal.put(first, CachedResponse('W/"a"', []))
    w.followups.poll()  # nothing new: the same listing is asked again next time
    assert w.journal.get(first) is not None
    w.comment(1, "thanks", author="bob", at="2024-05-01T12:00:20Z")
    w.followups.poll()
    assert w.journal.get(first) is None


def test_followup_poll_survives_a_repo_that_cannot_be_read(tmp_path):
    w = make_world(tmp_path)
    w.hub.listing["acme/tasks"] = TransientError("GitHub answered 502")
    w.comment(1, "/agent also update the README")
    assert [row.comment_id for row in w.followups.poll()] == [1]
    w.hub.listing["acme/tasks"] = GitHubAuthError("GitHub answered 401")
    with pytest.raises(GitHubAuthError):
        w.followups.poll()


@pytest.mark.parametrize("where", [dict(repo="acme/tasks", number=7), dict(repo="acme/widgets", number=12)],
                         ids=["on-dispatch-issue", "on-pr"])
def test_followup_cancel_reaches_the_running_work_of_that_task(tmp_path, where):
    w = make_world(tmp_path)
    w.cancels.started(7)
    w.comment(1, "/agent cancel", author="maint", **where)
    w.comment(2, "/agent cancel", author="reader", at="2024-05-01T12:00:01Z", **where)
    assert w.followups.poll() == []
    assert w.cancels.requested(7) == "maint"
    assert w.rows.get((where["repo"], 1)).state == "done" and w.rows.get((where["repo"], 2)).state == "ignored"


def test_followup_cancel_with_nothing_running_changes_nothing_later(tmp_path):
    w = make_world(tmp_path)
    w.comment(1, "/agent cancel", author="maint", repo="acme/tasks", number=7)
    w.followups.poll()
    w.cancels.started(7)
    assert w.cancels.requested(7) is None and w.rows.get(("acme/tasks", 1)).state == "done"


class NoIssues:
    def poll(self):
        return PollResult(issues=[], changed=False, requests=1)


class StubFollowups:
    """Hands out rounds and records which ran, holding each until told to finish."""

    def __init__(self, rows):
        self.rows, self.ran, self.release = rows, [], threading.Event()

    def poll(self):
        rows, self.rows = self.rows, []
        return rows

    def run(self, row):
        self.ran.append(row.comment_id)
        self.release.wait(5)
        return "done"


def round_row(comment_id, dispatch_number):
    return FollowupRow(repo="acme/widgets", comment_id=comment_id, number=12, on_pr=True, author="alice",
                       kind="round", instruction="x", created_at=NOW, state="queued", dispatch_number=dispatch_number)


def test_followup_service_runs_rounds_one_per_dispatch_issue(tmp_path):
    settings = config.from_mapping({"GITHUB_TOKEN": "t", "AGENT_DISPATCH_REPO": "acme/tasks", "AGENT_WORKERS": "3"})
    stub = StubFollowups([round_row(1, 7), round_row(2, 7), round_row(3, 8)])
    service = Service(settings, NoIssues(), pipeline=None, hub=None, journal=Journal(tmp_path / "state.db"),
                      followups=stub)
    futures = service.tick()
    assert len(futures) == 2 and service.cancels.request(7, "maint")  # 7 is in flight
    stub.release.set()
    assert [f.result(timeout=5) for f in futures] == ["done", "done"]
    service.shutdown()
    assert sorted(stub.ran) == [1, 3] and service.cancels.requested(7) is None
