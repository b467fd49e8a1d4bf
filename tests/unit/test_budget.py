"""The daily budget: today's spend from the journal, the UTC day boundary, and a waiting new task."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from runner import config
from runner.budget import DailyBudget, day_start, next_day_start
from runner.pipeline import Pipeline
from runner.ports import ChangeResult, RepoInfo
from runner.state import Journal, TaskRecord
from runner.steps import StepRunner
from tests.fakes.fake_hub import FakeHub
from tests.fakes.fake_workspace import FakeWorkspace


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize("now, start, nxt", [
    ("2026-03-14 15:09:26", "2026-03-14 00:00:00", "2026-03-15 00:00:00"),
    ("2026-03-14 00:00:00", "2026-03-14 00:00:00", "2026-03-15 00:00:00"),
    ("2026-12-31 23:59:59", "2026-12-31 00:00:00", "2027-01-01 00:00:00"),
])
def test_budget_day_is_the_utc_day(now, start, nxt):
    assert day_start(epoch(now)) == epoch(start) and next_day_start(epoch(now)) == epoch(nxt)


def journal_at(tmp_path, clock):
    return Journal(tmp_path / "state.db", clock=lambda: clock[0])


def test_budget_counts_only_tasks_updated_today(tmp_path):
    clock = [epoch("2026-03-13 22:00:00")]
    journal = journal_at(tmp_path, clock)
    journal.upsert(TaskRecord("yesterday", "acme/tasks", 1, "done", cost_usd=4.00))
    clock[0] = epoch("2026-03-14 09:30:00")
    journal.upsert(TaskRecord("today-1", "acme/tasks", 2, "done", cost_usd=0.75))
    journal.upsert(TaskRecord("today-2", "acme/tasks", 3, "working", cost_usd=0.30))
    journal.upsert(TaskRecord("unpriced", "acme/tasks", 4, "done", cost_usd=None, cost_known=False))
    budget = DailyBudget(1.00, journal, clock=lambda: clock[0])
    state = budget.blocking()
    assert state is not None and state.spent_usd == pytest.approx(1.05)
    assert state.resets_at == epoch("2026-03-15 00:00:00")
    assert "The daily budget of $1.00 is reached ($1.05 spent today" in state.wait_message()
    assert "2026-03-15 00:00 UTC" in state.wait_message()
    assert DailyBudget(2.00, journal, clock=lambda: clock[0]).blocking() is None
    assert DailyBudget(None, journal, clock=lambda: clock[0]).blocking() is None  # no cap configured


SETTINGS = config.from_mapping({"GITHUB_TOKEN": "t", "AGENT_DISPATCH_REPO": "acme/tasks",
                                "AGENT_TARGET_REPO": "acme/widgets", "AGENT_DAILY_BUDGET_USD": "1.00"})
ISSUE = {"number": 4, "title": "Tidy", "body": "task_id: t-4\n\n## Instruction\n\nTidy the code.",
         "user": {"login": "alice"}, "labels": [{"name": "copilot-agent"}], "comments": 0}


def make(tmp_path, clock):
    hub = FakeHub()
    hub.repos["acme/widgets"] = RepoInfo("acme/widgets", "http://git.test/acme/widgets.git", "main")
    hub.labelers[("acme/tasks", 4, "copilot-agent")] = "alice"
    hub.permissions[("acme/tasks", "alice")] = "write"
    journal = journal_at(tmp_path, clock)
    pipeline = Pipeline(SETTINGS, hub, FakeWorkspace(tmp_path / "work"),
                        lambda task, checkout, on_turn=None: ChangeResult("Tidied.", ("app.py",)), journal,
                        clock=lambda: clock[0], steps=StepRunner(wait=lambda _s: None))
    return pipeline, hub, journal


def test_budget_spent_new_task_waits_with_one_comment_then_starts_next_day(tmp_path):
    clock = [epoch("2026-03-14 09:30:00")]
    pipeline, hub, journal = make(tmp_path, clock)
    journal.upsert(TaskRecord("earlier", "acme/tasks", 1, "done", cost_usd=1.20))

    assert pipeline.run(ISSUE) == "waiting"
    [comment] = hub.comments[("acme/tasks", 4)]
    assert "Waiting: The daily budget of $1.00 is reached" in comment.body
    assert "will start after 00:00 UTC, at 2026-03-15 00:00 UTC" in comment.body
    assert "agent-processing" not in hub.labels.get(("acme/tasks", 4), [])  # still eligible, not claimed

    calls = len(hub.calls)
    clock[0] += 600  # a later poll, same day: no request at all, so no second comment
    assert pipeline.run({**ISSUE, "comments": 1}) == "waiting"
    assert len(hub.calls) == calls

    clock[0] = epoch("2026-03-15 00:01:00")  # a new UTC day: the same comment goes on to the PR
    assert pipeline.run({**ISSUE, "comments": 1}) == "done"
    [comment] = hub.comments[("acme/tasks", 4)]
    assert "Pull request opened" in comment.body and hub.calls.count("create_pr") == 1


def test_budget_never_stops_a_task_already_claimed(tmp_path):
    clock = [epoch("2026-03-14 09:30:00")]
    pipeline, _, journal = make(tmp_path, clock)
    journal.upsert(TaskRecord("earlier", "acme/tasks", 1, "done", cost_usd=5.00))
    claimed = {**ISSUE, "labels": [{"name": "copilot-agent"}, {"name": "agent-processing"}]}
    assert pipeline.run(claimed) == "done"
