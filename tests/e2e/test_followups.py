"""`/agent` follow-ups on the runner's PR and `/agent cancel`, through the real CLI, LiteLLM's real HTTP
path (a scripted model server) and the local GitHub and git servers."""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import time

import pytest

from runner.sandbox.model_server import ScriptedModelServer, delay, reply
from tests.e2e.conftest import DISPATCH, TARGET, kill_group
from tests.e2e.test_crash_recovery import _arm
from tests.e2e.test_flow import BACKEND

BRANCH = "agent-task-550e8400-e29b-41d4-a716-446655440000"
RUNNER_MARK = "<!-- agent-runner:followup "

README_REPLY = """I added a usage line to the README.

README.md
```markdown
<<<<<<< SEARCH
# widgets
=======
# widgets

Call `greet(name)` for a friendly greeting.
>>>>>>> REPLACE
```
"""

RENAME_REPLY = """Renamed greet to welcome.

app.py
```python
<<<<<<< SEARCH
def greet(name):
=======
def welcome(name):
>>>>>>> REPLACE
```
"""


@contextlib.contextmanager
def model(world, script):
    with ScriptedModelServer(script) as server:
        world.env.update({"AGENT_MODEL": "openai/gpt-4o-mini", "AGENT_LLM_API_BASE": server.url,
                          "OPENAI_API_KEY": "test-openai-key", "AGENT_MODEL_TIMEOUT": "10"})
        yield server


def status_body(world, number):
    [comment] = world.runner_comments(number)
    return comment["body"]


def replies(world, pr_number):
    return [c for c in world.gh.comments(TARGET, pr_number) if RUNNER_MARK in c["body"]]


def test_followups_pr_comment_adds_a_commit_a_reply_and_round_two(world):
    number = world.file_issue(BACKEND)
    assert world.cli("run", "--once").returncode == 0
    [pr] = world.prs()
    first = world.git.commits(TARGET, BRANCH)
    world.gh.add_comment(TARGET, pr["number"], "/agent also update the README", author="alice")
    world.gh.add_comment(TARGET, pr["number"], "/agent delete every file", author="reader")  # read-only

    with model(world, [reply(README_REPLY, usage=(900, 80))]) as server:
        result = world.cli("run", "--once")
        assert result.returncode == 0, result.stderr[-3000:]
        assert len(server.requests) == 1  # only alice's comment reached the model
        prompt = json.dumps(server.requests[0]["messages"])
        assert "also update the README" in prompt and "delete every file" not in prompt
        assert "Make the greeting friendlier" in prompt  # the original task
        assert '+    return \\"Hello, \\" + name + \\"!\\"' in prompt  # the PR's diff so far

        commits = world.git.commits(TARGET, BRANCH)
        assert len(commits) == len(first) + 1 and commits[1]["sha"] == first[0]["sha"]  # on top, no force
        assert "Agent-Followup: " in commits[0]["message"]
        assert "friendly greeting" in world.git.read_file(TARGET, BRANCH, "README.md")
        assert '"Hello, " + name + "!"' in world.git.read_file(TARGET, BRANCH, "app.py")  # round 1 kept
        [answer] = replies(world, pr["number"])
        assert "round 2 for @alice" in answer["body"] and "usage line to the README" in answer["body"]
        assert commits[0]["sha"][:12] in answer["body"]
        status = status_body(world, number)
        assert "- Round: 2" in status and pr["html_url"] in status and "$" in status.split("- Cost:")[1][:12]
        assert len(world.prs()) == 1

        writes = len(world.api_writes())  # a restart: nothing left to do, nothing done twice
        again = world.cli("run", "--once")
        assert again.returncode == 0, again.stderr[-3000:]
        assert len(world.api_writes()) == writes and len(server.requests) == 1
        assert len(world.git.commits(TARGET, BRANCH)) == len(first) + 1
    with sqlite3.connect(world.state_dir / "state.db") as db:  # one cached listing per watched repo
        listings = db.execute("SELECT COUNT(*) FROM http_cache WHERE key LIKE '%/issues/comments?%'").fetchone()[0]
    assert listings <= 2


def test_followups_cancel_stops_a_running_task_before_anything_is_pushed(world):
    number = world.file_issue("Rename greet to welcome.", title="Rename greet")

    def cancel_then_answer(_request):  # the task is running: its model call is under way
        world.gh.add_comment(DISPATCH, number, "/agent cancel", author="maint")
        return delay(4, reply(RENAME_REPLY))

    with model(world, [cancel_then_answer]) as server:
        world.env["AGENT_POLL_INTERVAL"] = "0.5"
        proc = world.spawn("run")
        try:
            end = time.monotonic() + 60
            while time.monotonic() < end and "agent-failed" not in world.gh.labels_of(DISPATCH, number):
                time.sleep(0.2)
            proc.terminate()
            out, _ = proc.communicate(timeout=30)
        finally:
            kill_group(proc)
    assert len(server.requests) == 1
    body = status_body(world, number)
    assert "Cancelled by @maint" in body and "Nothing was pushed" in body, out[-3000:]
    assert "agent-failed" in world.gh.labels_of(DISPATCH, number)
    assert world.git.branch_sha(TARGET, f"agent-task-acme-tasks-{number}") is None and world.prs() == []


README_BLOCK = """/agent also update the README

README.md
```markdown
<<<<<<< SEARCH
# widgets
=======
# widgets

Call `greet(name)` for a friendly greeting.
>>>>>>> REPLACE
```
"""

# (cell, server, method, path pattern, journal kept): SIGKILL when the server sees the request
ROUND_KILL_POINTS = [
    ("after-claim-reply", "github", "POST", rf"/repos/{TARGET}/issues/1/comments", False),
    ("during-push", "git", "POST", r".*git-receive-pack.*", True),
    ("after-final-reply", "github", "PATCH", rf"/repos/{TARGET}/issues/comments/\d+", False),
]


@pytest.mark.parametrize("cell,server,method,pattern,keep_journal", ROUND_KILL_POINTS,
                         ids=[k[0] for k in ROUND_KILL_POINTS])
def test_followups_crash_mid_round_ends_with_one_commit_and_one_reply(world, cell, server, method, pattern,
                                                                      keep_journal):
    number = world.file_issue(BACKEND)
    assert world.cli("run", "--once").returncode == 0
    [pr] = world.prs()
    before = len(world.git.commits(TARGET, BRANCH))
    world.gh.add_comment(TARGET, pr["number"], README_BLOCK, author="alice")  # edits given: no model
    holder, fired = _arm(world, server, method, pattern)
    holder["proc"] = world.spawn("run", "--once")
    holder["proc"].wait(timeout=120)
    assert fired.is_set(), f"kill point {cell} was never reached"
    if not keep_journal:
        shutil.rmtree(world.state_dir)

    result = world.cli("run", "--once")
    assert result.returncode == 0, result.stderr[-3000:]
    commits = world.git.commits(TARGET, BRANCH)
    assert len(commits) == before + 1 and "friendly greeting" in world.git.read_file(TARGET, BRANCH, "README.md")
    [answer] = replies(world, pr["number"])
    assert '"state": "done"' in answer["body"] and commits[0]["sha"][:12] in answer["body"]
    assert "- Round: 2" in status_body(world, number) and len(world.prs()) == 1
