"""GitHub faults on every write the runner makes, through the real CLI against the local GitHub.

The five writes of a task: claim label (POST), status comment (POST), pull request (POST), status
comment edit (PATCH) and label swap (PUT). Every write meets an answer lost before the write landed
(500, 502, 503, a reset connection) and one lost after it landed (502, reset); a timeout after the
write landed, secondary and primary rate limits and a revoked token each meet one representative
write. After every run: writes were at least 1 s apart, nothing went out while a rate limit said to
wait, and there is exactly one status comment, one PR and the right labels. Writes are spaced 1 s,
so each fault costs seconds: the tables put one fault on each write of a run.
"""

from __future__ import annotations

import math
import re
import threading
import time

import pytest

from runner import config
from runner.app import build
from runner.github.rest import RestClient
from runner.sandbox.github_server import FakeGitHub
from tests.e2e.conftest import DISPATCH, TARGET, TOKEN
from tests.e2e.test_flow import PLAIN

WRITES = ("label", "comment", "pr", "edit", "swap")  # in the order a task makes them
SECONDARY = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
                        "again. If you reach out to GitHub Support for help, please include the request ID.",
             "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}
FAST = {"AGENT_GITHUB_TIMEOUT": "1", "AGENT_SECONDARY_WAIT": "1"}


@pytest.fixture(autouse=True)
def _real_write_spacing(world):
    """These tests check GitHub's 1 s between writes, so they run with the default spacing."""
    world.env["AGENT_WRITE_INTERVAL"] = "1"


def branch(number: int = 1) -> str:
    return f"agent-task-acme-tasks-{number}"


class Faults:
    """Faults fired at chosen requests of one issue's task, from the server's request hook (never
    inside the runner): ``arm(write, kinds)`` gives the next requests of that write ``kinds`` one by
    one. The status comment edit is armed once the task's PR POST arrives, so it hits the final edit
    and not the claim's own retry."""

    def __init__(self, gh, number: int = 1):
        self.gh, self.number = gh, number
        self.queues: dict[str, list[str]] = {}
        self.fired: list[tuple[object, str, float]] = []  # (request, kind, seconds nothing may follow)
        self.pr_seen = False
        gh.on_request(self._on_request)

    def arm(self, write: str, kinds: tuple[str, ...]) -> None:
        assert write in WRITES
        self.queues[write] = list(kinds)

    @property
    def pending(self) -> dict[str, list[str]]:
        return {write: kinds for write, kinds in self.queues.items() if kinds}

    def _write_of(self, rec) -> str | None:
        issue = f"/repos/{DISPATCH}/issues/{self.number}"
        edit = re.fullmatch(rf"/repos/{DISPATCH}/issues/comments/(\d+)", rec.path)
        if rec.method == "POST" and rec.path == f"/repos/{TARGET}/pulls":
            self.pr_seen = self.pr_seen or (rec.body or {}).get("head") == branch(self.number)
            return "pr" if (rec.body or {}).get("head") == branch(self.number) else None
        if rec.method == "PATCH" and edit and self.pr_seen:
            mine = {c["id"] for c in self.gh.comments(DISPATCH, self.number)}
            return "edit" if int(edit.group(1)) in mine else None
        return {("POST", f"{issue}/labels"): "label", ("POST", f"{issue}/comments"): "comment",
                ("PUT", f"{issue}/labels"): "swap"}.get((rec.method, rec.path))

    def _on_request(self, rec) -> None:
        write = self._write_of(rec)
        if write and self.queues.get(write):
            kind = self.queues[write].pop(0)
            self.fired.append((rec, kind, self._fire(kind, rec.method, re.escape(rec.path))))

    def _fire(self, kind: str, method: str, path: str) -> float:
        """Injects ``kind`` for the request being handled; returns how long the client must hold off."""
        gh = self.gh
        if kind in ("500", "502", "503"):
            gh.fail_next(method, path, int(kind))
        elif kind in ("502-landed", "reset", "reset-landed"):
            gh.fail_next(method, path, 502 if kind == "502-landed" else 0, after_effect=kind != "reset")
        elif kind == "timeout-landed":
            gh.slow_next(method, path, 2.5)  # the client gives up after AGENT_GITHUB_TIMEOUT=1
        elif kind in ("403-retry-after", "429-retry-after"):
            gh.fail_next(method, path, int(kind[:3]), headers={"retry-after": "1"})
            return 1.0
        elif kind == "429-no-retry-after":
            gh.fail_next(method, path, 429)
            return 1.0  # AGENT_SECONDARY_WAIT
        elif kind == "403-secondary-again":
            gh.fail_next(method, path, 403, body=SECONDARY)
            return 2.0  # a second secondary limit in a row doubles the wait
        elif kind == "primary-exhausted":
            wall = time.time()
            gh.set_rate_remaining(0, reset_in=2)
            return math.ceil(wall + 2) - wall  # nothing before x-ratelimit-reset
        elif kind == "revoke":
            gh.revoke_token()
        else:
            raise ValueError(kind)
        return 0.0


def writes_of(requests):
    return [r for r in requests if r.method in ("POST", "PATCH", "PUT", "DELETE")]


def assert_writes_spaced(requests) -> None:
    """GitHub asks for at least 1 s between writes: checked on arrival times at the server."""
    times = [r.time for r in writes_of(requests)]
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert all(gap >= 0.99 for gap in gaps), [round(g, 3) for g in gaps]


def assert_no_request_during_limits(requests, faults: Faults) -> None:
    """After a rate-limited answer nothing at all went out before the wait it asked for."""
    limits = [(rec, kind, wait) for rec, kind, wait in faults.fired if wait > 0]
    assert limits
    for rec, kind, wait in limits:
        later = [r for r in requests if r.time > rec.time]
        assert later, f"nothing was sent after {kind}"
        assert later[0].time - rec.time >= wait - 0.01, (kind, rec.method, rec.path, wait, later[0].time - rec.time)


def assert_done_once(world, number: int = 1) -> None:
    """One PR with one commit of ours, one status comment linking it, labels swapped."""
    prs = [p for p in world.prs() if p["head"]["ref"] == branch(number)]
    assert len(prs) == 1, [p["title"] for p in world.prs()]
    assert len(world.git.commits(TARGET, branch(number))) == 2  # the initial commit and exactly one of ours
    comments = world.runner_comments(number)
    assert len(comments) == 1
    assert prs[0]["html_url"] in comments[0]["body"]
    assert sorted(world.gh.labels_of(DISPATCH, number)) == ["agent-done", "copilot-agent"]


# Every write, answers lost before the write landed (one row) and after it landed (the other). The
# two rows are two issues in one run with two workers, sharing one write queue.
ROWS = {
    1: {"label": "500", "comment": "502", "pr": "reset", "edit": "503", "swap": "reset"},
    2: {"label": "reset-landed", "comment": "502-landed", "pr": "502-landed", "edit": "reset-landed",
        "swap": "502-landed"},
}


def test_github_faults_every_write_survives_a_lost_answer(world):
    armed = []
    for number, row in ROWS.items():
        assert world.file_issue(PLAIN, title=f"Change greeting {number}") == number
        faults = Faults(world.gh, number)
        for write, kind in row.items():
            faults.arm(write, (kind,))
        armed.append(faults)
    result = world.cli("run", "--once", AGENT_WORKERS=str(len(ROWS)), **FAST)
    assert result.returncode == 0, result.stderr[-3000:]
    assert all(f.pending == {} for f in armed) and world.gh.pending_faults == 0, "a fault never fired"
    assert_writes_spaced(world.gh.requests)
    for number in ROWS:
        assert_done_once(world, number)
    assert TOKEN not in result.stderr + result.stdout


# Slow kinds, one representative write each; the label swap meets two secondary limits in a row.
SLOW_ROW = {"label": ("403-retry-after",), "comment": ("429-retry-after",), "pr": ("timeout-landed",),
            "edit": ("primary-exhausted",), "swap": ("429-no-retry-after", "403-secondary-again")}


def test_github_faults_rate_limits_and_timeouts_are_waited_out(world):
    world.file_issue(PLAIN)
    faults = Faults(world.gh)
    for write, kinds in SLOW_ROW.items():
        faults.arm(write, kinds)
    result = world.cli("run", "--once", **FAST)
    assert result.returncode == 0, result.stderr[-3000:]
    assert faults.pending == {} and world.gh.pending_faults == 0, "a fault never fired"
    requests = world.gh.requests
    assert_no_request_during_limits(requests, faults)
    assert_writes_spaced(requests)
    assert_done_once(world)


def test_github_faults_token_revoked_mid_run_keeps_the_claim_for_a_later_run(world):
    world.file_issue(PLAIN)
    faults = Faults(world.gh)
    faults.arm("pr", ("revoke",))
    first = world.cli("run", "--once")
    assert first.returncode == 1
    assert "401" in first.stderr and "GITHUB_TOKEN" in first.stderr
    revoked_at = faults.fired[0][0]
    after = [r for r in world.gh.requests if r.time > revoked_at.time]
    assert writes_of(after) == [] and len(after) < 3, "the runner kept knocking with a revoked token"
    assert world.prs() == [] and len(world.runner_comments(1)) == 1
    assert "agent-processing" in world.gh.labels_of(DISPATCH, 1)  # still claimed, not failed
    assert world.git.branch_sha(TARGET, branch()) is not None

    world.gh.restore_token()
    second = world.cli("run", "--once")
    assert second.returncode == 0, second.stderr[-3000:]
    assert_done_once(world)
    assert_writes_spaced([r for r in world.gh.requests if r.time > revoked_at.time])


def test_github_faults_waits_default_to_githubs_rules(tmp_path):
    """Only the e2e tests shorten them: 30 s per request, and GitHub's minute after a secondary limit
    that names no retry-after."""
    env = {"GITHUB_TOKEN": "unused-token", "AGENT_DISPATCH_REPO": DISPATCH, "AGENT_STATE_DIR": str(tmp_path)}
    default = build(config.from_mapping(env))
    shortened = build(config.from_mapping({**env, **FAST}))
    try:
        assert (default.rest.timeout, default.rest._limits.secondary_wait) == (30.0, 60.0)
        assert (shortened.rest.timeout, shortened.rest._limits.secondary_wait) == (1.0, 1.0)
    finally:
        for app in (default, shortened):
            app.service.shutdown()
            app.journal.close()


def test_github_faults_rate_limit_holds_a_request_already_waiting_to_be_sent():
    """A limit that arrives while another thread's request queues for the connection holds that
    request too (the follow-up poll reads while a task writes)."""
    with FakeGitHub(token=TOKEN) as gh:
        gh.add_repo(DISPATCH)
        number = gh.create_issue(DISPATCH, title="Change greeting", author="alice")["number"]
        gh.fail_next("POST", rf"/repos/{DISPATCH}/issues/{number}/labels", 403, headers={"retry-after": "1"},
                     delay=0.3)
        rest = RestClient(gh.url, lambda: TOKEN)
        writer = threading.Thread(target=rest.post, args=(f"/repos/{DISPATCH}/issues/{number}/labels",
                                                          {"labels": ["agent-processing"]}))
        writer.start()
        assert _until(lambda: len(gh.requests) == 1)
        time.sleep(0.1)  # the 403 is still on its way: the reader passes the gate and queues
        rest.get("/user")
        writer.join(timeout=10)
        rest.close()
    limited, *later = gh.requests
    assert limited.status == 403 and sorted(r.method for r in later) == ["GET", "POST"]
    answered = limited.time + 0.3
    assert all(r.time - answered >= 0.99 for r in later), [round(r.time - answered, 3) for r in later]


def _until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False
