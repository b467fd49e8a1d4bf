"""The follow-up journal and `/agent cancel`'s registry; the pipeline stopping at a cancel."""

from __future__ import annotations

import pytest

from runner import config
from runner.followup_cancel import CancelRegistry
from runner.followup_state import FollowupLog, FollowupRow, Mark
from runner.pipeline import Pipeline
from runner.ports import ChangeResult, RepoInfo, Usage
from runner.state import Journal, TaskRecord
from runner.steps import StepRunner
from tests.fakes.fake_hub import FakeHub
from tests.fakes.fake_workspace import FakeWorkspace


class Clock:
    def __init__(self, now: float = 1_714_564_800.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def row(comment_id: int, created_at: float, **changes) -> FollowupRow:
    base = FollowupRow(repo="acme/widgets", comment_id=comment_id, number=12, on_pr=True, author="alice",
                       kind="round", instruction="also update the README", created_at=created_at)
    return FollowupRow(**{**base.__dict__, **changes})


@pytest.fixture
def log(tmp_path):
    journal = Journal(tmp_path / "state.db")
    yield FollowupLog(journal, Clock())
    journal.close()


def test_followup_log_records_each_comment_once_even_after_reopening(tmp_path):
    journal = Journal(tmp_path / "state.db")
    first = FollowupLog(journal, Clock())
    assert first.record(row(1, 100.0)) is True
    first.update(("acme/widgets", 1), state="done", reply_id=77)
    journal.close()

    again = FollowupLog(Journal(tmp_path / "state.db"), Clock())
    assert again.record(row(1, 100.0)) is False
    stored = again.get(("acme/widgets", 1))
    assert stored.state == "done" and stored.reply_id == 77 and stored.on_pr is True
    again.journal.close()


def test_followup_log_waiting_is_oldest_first_and_skips_backoff(log):
    log.record(row(3, 300.0))
    log.record(row(1, 100.0))
    log.record(row(2, 200.0, state="queued", next_attempt_at=5_000.0))
    log.record(row(4, 50.0, state="done"))
    assert [r.comment_id for r in log.waiting(now=1_000.0)] == [1, 3]
    assert [r.comment_id for r in log.waiting(now=6_000.0)] == [1, 2, 3]


def test_followup_log_cancel_flags_only_earlier_queued_rounds_of_that_task(log):
    log.record(row(1, 100.0, state="queued", dispatch_number=7))
    log.record(row(2, 300.0, state="queued", dispatch_number=7))  # asked after the cancel
    log.record(row(3, 100.0, state="queued", dispatch_number=8))
    log.record(row(4, 100.0, state="done", dispatch_number=7))
    assert log.cancel_queued(7, before=200.0, who="maint") == 1
    assert [log.get(("acme/widgets", n)).cancelled_by for n in (1, 2, 3, 4)] == ["maint", None, None, None]


def test_followup_log_adds_round_usage_to_the_task_once(tmp_path):
    journal = Journal(tmp_path / "state.db")
    log = FollowupLog(journal, Clock())
    journal.upsert(TaskRecord(task_id="t-7", dispatch_repo="acme/tasks", issue_number=7, state="done",
                              tokens_in=1000, tokens_out=100, cost_usd=0.0010, turns=1))
    done = row(1, 100.0, task_id="t-7", dispatch_number=7, tokens_in=900, tokens_out=80, cost_usd=0.0002,
               turns=1, model="openai/gpt-4o-mini")
    log.record(done)
    log.count_usage(done, dispatch_repo="acme/tasks", target_repo="acme/widgets")
    log.count_usage(done, dispatch_repo="acme/tasks", target_repo="acme/widgets")  # a rerun: no double count
    task = journal.task("t-7")
    assert (task.tokens_in, task.tokens_out, task.turns, task.model) == (1900, 180, 2, "openai/gpt-4o-mini")
    assert task.cost_usd == pytest.approx(0.0012) and task.cost_known and task.state == "done"

    unpriced = row(2, 200.0, task_id="t-7", dispatch_number=7, tokens_in=10, cost_usd=None, cost_known=False)
    log.record(unpriced)
    log.count_usage(unpriced, dispatch_repo="acme/tasks", target_repo="acme/widgets")
    assert journal.task("t-7").cost_known is False
    journal.close()


def test_followup_log_task_unknown_to_the_journal_gets_a_row_with_unknown_cost(log):
    lost = row(1, 100.0, task_id="t-9", dispatch_number=9, tokens_in=900, tokens_out=80, cost_usd=0.0002)
    log.record(lost)
    log.count_usage(lost, dispatch_repo="acme/tasks", target_repo="acme/widgets")
    task = log.journal.task("t-9")
    assert (task.issue_number, task.state, task.tokens_in, task.cost_known) == (9, "done", 900, False)


def test_followup_log_marks_per_repo(log):
    assert log.mark("acme/widgets") is None
    log.set_mark("acme/widgets", Mark(since=200.0, started=100.0))
    assert log.mark("acme/widgets") == Mark(200.0, 100.0) and log.mark("acme/tasks") is None


def test_followup_cancel_registry_flags_only_work_in_flight():
    cancels = CancelRegistry()
    assert cancels.request(7, "maint") is False and cancels.requested(7) is None
    cancels.started(7)
    cancels.started(7)
    assert cancels.request(7, "maint") is True and cancels.request(7, "alice") is True
    assert cancels.requested(7) == "maint" and cancels.requested(8) is None
    cancels.finished(7)
    assert cancels.requested(7) == "maint"  # one piece of work is still running
    cancels.finished(7)
    cancels.started(7)  # a later run of the same task is not cancelled by the old request
    assert cancels.requested(7) is None


SETTINGS = config.from_mapping({"GITHUB_TOKEN": "t", "AGENT_DISPATCH_REPO": "acme/tasks",
                                "AGENT_TARGET_REPO": "acme/widgets"})
ISSUE = {"number": 4, "title": "Tidy", "body": "task_id: t-4\n\n## Instruction\n\nTidy the code.",
         "user": {"login": "alice"}, "labels": [{"name": "copilot-agent"}], "comments": 0}


@pytest.mark.parametrize("cancel_at_turn", [True, False], ids=["during-model-turn", "before-checkout"])
def test_followup_cancel_stops_the_pipeline_with_nothing_pushed(tmp_path, cancel_at_turn):
    cancels = CancelRegistry()
    cancels.started(4)

    def planner(task, checkout, on_turn=None):
        if cancel_at_turn:
            cancels.request(4, "maint")
            on_turn(1, Usage(100, 10, 0.001))
        return ChangeResult(summary="Tidied.", changed_files=("app.py",))

    if not cancel_at_turn:
        cancels.request(4, "maint")
    hub = FakeHub()
    hub.repos["acme/widgets"] = RepoInfo("acme/widgets", "http://git.test/acme/widgets.git", "main")
    hub.labelers[("acme/tasks", 4, "copilot-agent")] = "alice"
    hub.permissions[("acme/tasks", "alice")] = "write"
    ws = FakeWorkspace(tmp_path / "work")
    pipeline = Pipeline(SETTINGS, hub, ws, planner, Journal(tmp_path / "state.db"),
                        steps=StepRunner(wait=lambda _s: None), cancelled=cancels.requested)
    assert pipeline.run(ISSUE) == "failed"
    [comment] = hub.comments[("acme/tasks", 4)]
    assert "Cancelled by @maint. Nothing was pushed." in comment.body
    assert ws.pushes == [] and "create_pr" not in hub.calls and "agent-failed" in hub.labels[("acme/tasks", 4)]
