"""SIGKILL at every step boundary of a task, then `run --once` again: one PR, one status comment.

Kill points come from the local servers reacting to a request (never from hooks inside the runner):
the fake GitHub kills the runner's process group right after it answered a given write, the git
server kills it when the push arrives. Each cell is run with the journal kept and with
AGENT_STATE_DIR deleted (GitHub alone must be enough to finish without duplicates).
"""

from __future__ import annotations

import re
import shutil
import threading
import time

import pytest

from tests.e2e.conftest import DISPATCH, TARGET, kill_group
from tests.e2e.test_flow import BACKEND

BRANCH = "agent-task-550e8400-e29b-41d4-a716-446655440000"

# (cell name, server, method, path pattern)
KILL_POINTS = [
    ("after-claim-label", "github", "POST", rf"/repos/{DISPATCH}/issues/1/labels"),
    ("after-status-comment", "github", "POST", rf"/repos/{DISPATCH}/issues/1/comments"),
    ("during-push", "git", "POST", r".*git-receive-pack.*"),
    ("after-pr-created", "github", "POST", rf"/repos/{TARGET}/pulls"),
    ("after-final-status", "github", "PATCH", rf"/repos/{DISPATCH}/issues/comments/\d+"),
    ("after-done-label", "github", "PUT", rf"/repos/{DISPATCH}/issues/1/labels"),
]


def _arm(world, server: str, method: str, pattern: str):
    """Kill the runner's process group when the server sees the request; returns (holder, fired)."""
    holder: dict = {}
    fired = threading.Event()

    def maybe_kill(req) -> None:
        if fired.is_set() or req.method != method or not re.fullmatch(pattern, req.path.split("?")[0] if
                                                                      server == "github" else req.path):
            return
        fired.set()
        kill_group(holder["proc"])

    if server == "github":
        world.gh.after_request(maybe_kill)  # the write has landed; the runner may not have read the answer
    else:
        world.git.on_request(maybe_kill)  # the push is under way
    return holder, fired


@pytest.mark.parametrize("keep_journal", [True, False], ids=["journal-kept", "journal-deleted"])
@pytest.mark.parametrize("cell,server,method,pattern", KILL_POINTS, ids=[k[0] for k in KILL_POINTS])
def test_crash_recovery_finishes_with_one_pr_and_one_comment(world, cell, server, method, pattern, keep_journal):
    world.file_issue(BACKEND)
    holder, fired = _arm(world, server, method, pattern)
    holder["proc"] = world.spawn("run", "--once")
    holder["proc"].wait(timeout=120)
    assert fired.is_set(), f"kill point {cell} was never reached"
    extra = {}
    if not keep_journal:
        shutil.rmtree(world.state_dir)
        if cell == "after-claim-label":
            # No journal and no status comment: nothing says who holds the claim, so the contract
            # lets a runner take it over only once AGENT_TASK_TIMEOUT has passed.
            early = world.cli("run", "--once", AGENT_TASK_TIMEOUT="3600")
            assert early.returncode == 0 and world.runner_comments(1) == [] and world.prs() == []
            extra["AGENT_TASK_TIMEOUT"] = "2"
            time.sleep(2.5)
    time.sleep(0.2)

    result = world.cli("run", "--once", **extra)
    assert result.returncode == 0, result.stderr[-3000:]

    prs = world.prs()
    assert len(prs) == 1, [p["title"] for p in prs]
    assert prs[0]["head"]["ref"] == BRANCH
    assert '"Hello, " + name + "!"' in world.git.read_file(TARGET, BRANCH, "app.py")
    assert len(world.git.commits(TARGET, BRANCH)) == 2  # the initial commit and exactly one of ours
    comments = world.runner_comments(1)
    assert len(comments) == 1
    assert prs[0]["html_url"] in comments[0]["body"]
    labels = world.gh.labels_of(DISPATCH, 1)
    assert "agent-done" in labels and "agent-processing" not in labels and "agent-failed" not in labels
