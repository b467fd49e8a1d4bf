"""Graceful shutdown of `run`: SIGTERM mid-task lets the task reach a safe point and exits 0 soon
after; the next start finishes the task with one PR and one status comment; SIGTERM while idle exits
at once. (A second signal exiting at once is in test_polling.py.)"""

from __future__ import annotations

import signal
import threading
import time

from runner.sandbox.model_server import delay, reply
from tests.e2e.conftest import DISPATCH, TARGET, kill_group
from tests.e2e.test_flow import PLAIN
from tests.e2e.test_github_faults import assert_done_once, branch
from tests.e2e.test_model_flow import GOOD, RENAME, model
from tests.e2e.test_polling import _wait_for

MODEL_DELAY = 1.5


def _stop(proc, *, within: float) -> tuple[int, float]:
    """SIGTERM, then the exit code and how long the exit took."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=within)
    return code, time.monotonic() - started


def _still_claimed(world, number: int = 1) -> None:
    labels = world.gh.labels_of(DISPATCH, number)
    assert "agent-processing" in labels and "agent-done" not in labels and "agent-failed" not in labels
    assert world.prs() == [] and len(world.runner_comments(number)) == 1


def test_shutdown_during_a_model_call_waits_for_the_answer_then_the_next_run_finishes(world):
    world.file_issue(RENAME, title="Rename greet")
    with model(world, [delay(MODEL_DELAY, then=reply(GOOD)), reply(GOOD)]) as server:
        proc = world.spawn("run", AGENT_POLL_INTERVAL="0.2")
        try:
            assert _wait_for(lambda: len(server.requests) == 1, timeout=60)
            code, took = _stop(proc, within=MODEL_DELAY + 10)
        finally:
            kill_group(proc)
        assert code == 0, proc.stdout.read()[-3000:]
        assert took < MODEL_DELAY + 5  # the answer, then the next safe point: no new step started
        _still_claimed(world)
        assert world.git.branch_sha(TARGET, branch()) is None  # stopped before committing

        result = world.cli("run", "--once")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(server.requests) == 2
    assert_done_once(world)
    assert "def welcome(name)" in world.git.read_file(TARGET, branch(), "app.py")


def test_shutdown_during_a_slow_push_then_a_restart_finishes_and_an_idle_stop_is_prompt(world):
    world.file_issue(PLAIN)
    pushing, slow = threading.Event(), threading.Event()
    slow.set()

    def slow_push(rec) -> None:
        if slow.is_set() and rec.method == "POST" and "git-receive-pack" in rec.path:
            pushing.set()
            time.sleep(1.0)

    world.git.on_request(slow_push)
    proc = world.spawn("run", AGENT_POLL_INTERVAL="0.2")
    try:
        assert pushing.wait(timeout=60)
        code, took = _stop(proc, within=15)
    finally:
        kill_group(proc)
    assert code == 0, proc.stdout.read()[-3000:]
    assert took < 5
    _still_claimed(world)
    assert world.git.branch_sha(TARGET, branch()) is not None  # the push finished before the stop

    slow.clear()
    restarted = world.spawn("run", AGENT_POLL_INTERVAL="0.2")  # as a service manager would restart it
    try:
        # A stop is not a fault: the restart resumes at once rather than after a retry back-off.
        assert _wait_for(lambda: "agent-done" in world.gh.labels_of(DISPATCH, 1), timeout=20)
        time.sleep(0.5)  # idle: polling, nothing in flight
        code, took = _stop(restarted, within=10)
    finally:
        kill_group(restarted)
    assert code == 0
    assert took < 1.5, f"an idle runner took {took:.2f} s to stop"
    assert_done_once(world)
