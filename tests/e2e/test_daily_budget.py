"""AGENT_DAILY_BUDGET_USD through the real CLI: a task's real model spend (LiteLLM's price for
gpt-4o-mini) uses up the day's budget; the next new task waits, unclaimed, with one status comment
that says so and when it starts, and later polls leave it alone until the budget allows it."""

from __future__ import annotations

import json

from runner.sandbox.model_server import reply
from tests.e2e.conftest import DISPATCH
from tests.e2e.test_flow import BACKEND
from tests.e2e.test_model_flow import GOOD, RENAME, model


def test_daily_budget_holds_new_tasks_until_it_allows_them(world):
    first = world.file_issue(RENAME, title="Rename greet")
    # 200k prompt + 20k completion tokens at gpt-4o-mini prices: about $0.042, over the $0.03 cap
    with model(world, [reply(GOOD, usage=(200_000, 20_000))], AGENT_DAILY_BUDGET_USD="0.03"):
        assert world.cli("run", "--once").returncode == 0
        assert "agent-done" in world.gh.labels_of(DISPATCH, first)

        second = world.file_issue(BACKEND)
        result = world.cli("run", "--once")
        assert result.returncode == 0, result.stderr[-2000:]  # waiting is not a failure
        [comment] = world.runner_comments(second)
        assert "Waiting: The daily budget of $0.03 is reached ($0.04 spent today" in comment["body"]
        assert "will start after 00:00 UTC" in comment["body"]
        assert world.gh.labels_of(DISPATCH, second) == ["copilot-agent"]  # not claimed: still eligible
        assert len(world.prs()) == 1

        writes = len(world.api_writes())
        assert world.cli("run", "--once").returncode == 0  # a later poll on the same day
        assert len(world.api_writes()) == writes  # no second comment, no edit, no label
        waiting = [t for t in json.loads(world.cli("status", "--json").stdout) if t["issue_number"] == second]
        assert waiting[0]["state"] == "waiting" and waiting[0]["next_attempt_at"].endswith("T00:00:00Z")

        # The operator raises the cap (a new UTC day does the same): the task starts, same comment.
        assert world.cli("run", "--once", AGENT_DAILY_BUDGET_USD="1.00").returncode == 0
    assert "agent-done" in world.gh.labels_of(DISPATCH, second)
    [comment] = world.runner_comments(second)
    assert "Pull request opened" in comment["body"] and len(world.prs()) == 2
