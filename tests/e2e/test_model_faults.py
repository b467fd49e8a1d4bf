"""Model faults through the real CLI and LiteLLM's HTTP path: every fault ends in a PR or in a clear
failure, with a bounded number of requests (no retry storm), bounded time and memory, and comments
that fit GitHub's 65,536-character limit.

Several issues go through one ``run --once`` (each issue's title picks its script): a run costs
seconds of write spacing and a LiteLLM import, so faults share runs.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

from runner.sandbox.model_server import context_window_exceeded, error, reply
from tests.e2e.conftest import DISPATCH, TARGET
from tests.e2e.test_model_flow import GOOD, RENAME, WRONG_SEARCH, model, status_of

GITHUB_LIMIT = 65_536
HUGE_PROSE = "The greeting deserves a long and careful explanation, so here it is again. " * 28_000  # ~2 MB
# Runs the CLI and reports its peak memory (the largest of it and the git processes it waited for).
PEAK_RSS = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
            "print(f'peak_rss_kb={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}', file=sys.stderr); "
            "sys.exit(code)")


def by_title(scripts):
    """A model script per issue title (the prompt starts with ``# Task: <title>``); a script's last
    step answers every later request."""

    def answer(body):
        title = re.search(r"# Task: (.*)", body["messages"][1]["content"]).group(1)
        steps = scripts[title]
        return steps.pop(0) if len(steps) > 1 else steps[0]

    return answer


def requests_for(server, title):
    return [r for r in server.requests if f"# Task: {title}\n" in r["messages"][1]["content"]]


def branch_of(number):
    return f"agent-task-acme-tasks-{number}"


def assert_failed_cleanly(world, number):
    labels = world.gh.labels_of(DISPATCH, number)
    assert "agent-failed" in labels and "agent-processing" not in labels
    assert world.git.branch_sha(TARGET, branch_of(number)) is None


def test_model_faults_server_errors_context_window_and_spend_cap(world):
    flaky = world.file_issue(RENAME, title="Server error once")
    down = world.file_issue(RENAME, title="Server error always")
    too_big = world.file_issue(RENAME, title="Context window")
    costly = world.file_issue(RENAME, title="Spend cap")
    scripts = {
        "Server error once": [error(500), reply(GOOD)],
        "Server error always": [error(500)],
        "Context window": [context_window_exceeded()],
        # $0.0486 for gpt-4o-mini: under the $0.05 cap, but the next call (priced before it is sent) is not
        "Spend cap": [reply(WRONG_SEARCH, usage=(320_000, 1_000)), reply(GOOD)],
    }
    with model(world, by_title(scripts), AGENT_MAX_COST_USD="0.05", AGENT_WORKERS="4") as server:
        result = world.cli("run", "--once")
    assert result.returncode == 1

    assert len(requests_for(server, "Server error once")) == 2
    [pr] = world.prs()
    assert pr["html_url"] in status_of(world, flaky)

    assert len(requests_for(server, "Server error always")) == 3  # attempts per model, then it gives up
    assert "server error 500" in status_of(world, down)

    assert len(requests_for(server, "Context window")) == 1  # a retry cannot make the prompt fit
    assert "context window is too small" in status_of(world, too_big)

    assert len(requests_for(server, "Spend cap")) == 1
    spent = status_of(world, costly)
    assert "spend cap of $0.05" in spent and "$0.0486" in spent and "320,000 in" in spent

    for number in (down, too_big, costly):
        assert_failed_cleanly(world, number)


def test_model_faults_empty_and_enormous_replies(world):
    empty = world.file_issue(RENAME, title="Empty reply")
    null = world.file_issue(RENAME, title="Null reply")
    prose = world.file_issue(RENAME, title="Enormous prose")
    huge = world.file_issue(RENAME, title="Enormous reply with an edit")
    scripts = {
        "Empty reply": [reply("")],
        "Null reply": [reply(None)],
        "Enormous prose": [reply(HUGE_PROSE, usage=(2_000, 500_000))],
        "Enormous reply with an edit": [reply(HUGE_PROSE + "\n" + GOOD + HUGE_PROSE, usage=(2_000, 1_000_000))],
    }
    with model(world, by_title(scripts), AGENT_WORKERS="4") as server:
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-c", PEAK_RSS, sys.executable, "-m", "runner", "run", "--once"],
                                cwd=world.tmp, env=world.base_env(), capture_output=True, text=True, timeout=120)
        took = time.monotonic() - started
    assert result.returncode == 1, result.stderr[-3000:]
    assert took < 60
    peak_kb = int(re.search(r"peak_rss_kb=(\d+)", result.stderr).group(1))
    assert peak_kb < 600_000, f"peak memory {peak_kb // 1024} MB"
    assert len(server.requests) == 4  # one each: no retry for a reply that came back

    for number in (empty, null):
        assert "The model made no changes. Its reply was empty." in status_of(world, number)
        assert_failed_cleanly(world, number)

    said = status_of(world, prose)
    assert "The model made no changes" in said and "long and careful explanation" in said
    assert len(said) < GITHUB_LIMIT
    assert_failed_cleanly(world, prose)

    [pr] = world.prs()
    assert pr["head"]["ref"] == branch_of(huge)
    assert "long and careful explanation" in pr["body"] and len(pr["body"]) < GITHUB_LIMIT
    assert len(status_of(world, huge)) < GITHUB_LIMIT
    assert "def welcome(name)" in world.git.read_file(TARGET, branch_of(huge), "app.py")
    [commit, *_] = world.git.commits(TARGET, branch_of(huge))
    assert len(commit["message"]) < 10_000
