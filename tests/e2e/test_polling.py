"""`run` as a service: conditional polling that costs nothing while idle, and a clean SIGTERM stop."""

from __future__ import annotations

import signal
import time

from tests.e2e.conftest import DISPATCH, kill_group
from tests.e2e.test_flow import BACKEND

ISSUES_PATH = f"/repos/{DISPATCH}/issues"


def _polls(world):
    return [r for r in world.gh.requests if r.method == "GET" and r.path == ISSUES_PATH]


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_polling_idle_runner_sends_etags_and_is_charged_nothing(world):
    proc = world.spawn("run", AGENT_POLL_INTERVAL="0.2")
    try:
        assert _wait_for(lambda: len(_polls(world)) >= 2)  # the first poll's answer is in
        charged_after_first = world.gh.rate_remaining
        assert _wait_for(lambda: len(_polls(world)) >= 8)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        kill_group(proc)
    polls = _polls(world)
    assert all(p.headers.get("If-None-Match") for p in polls[1:])
    assert all(p.status == 304 for p in polls[1:])
    assert world.gh.rate_remaining == charged_after_first
    assert polls[0].query.get("labels") == "copilot-agent" and polls[0].query.get("state") == "open"


def test_polling_picks_up_an_issue_filed_while_running(world):
    proc = world.spawn("run", AGENT_POLL_INTERVAL="0.3")
    try:
        assert _wait_for(lambda: len(_polls(world)) >= 2)
        number = world.file_issue(BACKEND)
        assert _wait_for(lambda: "agent-done" in world.gh.labels_of(DISPATCH, number), timeout=60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        kill_group(proc)
    assert len(world.prs()) == 1 and len(world.runner_comments(number)) == 1


def test_polling_restart_reuses_persisted_etags(world):
    assert world.cli("run", "--once").returncode == 0
    first = len(_polls(world))
    assert world.cli("run", "--once").returncode == 0
    later = _polls(world)[first:]
    assert later and all(p.headers.get("If-None-Match") and p.status == 304 for p in later)


def test_polling_second_signal_exits_at_once(world):
    world.file_issue(BACKEND)
    world.git.on_request(lambda _req: time.sleep(0.5))  # keep the task busy in git for a while
    proc = world.spawn("run", AGENT_POLL_INTERVAL="0.2")
    try:
        assert _wait_for(lambda: len(world.git.requests) >= 1, timeout=30)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=5)
    finally:
        kill_group(proc)
    assert code != 0  # it did not wait for the task
    # ...and the next run finishes the task it left claimed
    world.git._callbacks.clear()
    assert world.cli("run", "--once").returncode == 0
    assert len(world.prs()) == 1 and len(world.runner_comments(1)) == 1
