"""The poll loop and the daily budget: a task told to wait takes no worker while the budget is spent."""

from __future__ import annotations

import time

from runner import config
from runner.github.poller import PollResult
from runner.service import Service
from runner.state import Journal, TaskRecord
from tests.fakes.fake_hub import FakeHub

SETTINGS = config.from_mapping({"GITHUB_TOKEN": "t", "AGENT_DISPATCH_REPO": "acme/tasks", "AGENT_WORKERS": "1",
                                "AGENT_DAILY_BUDGET_USD": "1.00", "AGENT_RUNNER_ID": "runner-a"})
WAITING = {"number": 1, "created_at": "2026-03-14T08:00:00Z", "labels": [{"name": "copilot-agent"}]}
CLAIMED = {"number": 2, "created_at": "2026-03-14T09:00:00Z",
           "labels": [{"name": "copilot-agent"}, {"name": "agent-processing"}]}


class Poller:
    def poll(self):
        return PollResult(issues=[WAITING, CLAIMED], changed=False, requests=1)


class Pipeline:
    def __init__(self):
        self.ran = []

    def run(self, issue):
        self.ran.append(issue["number"])
        return "done"


def make(tmp_path, spent):
    journal = Journal(tmp_path / "state.db")
    journal.upsert(TaskRecord("spent", "acme/tasks", 9, "done", cost_usd=spent))
    journal.upsert(TaskRecord("t-1", "acme/tasks", 1, "waiting", next_attempt_at=time.time() + 3600))
    journal.upsert(TaskRecord("t-2", "acme/tasks", 2, "working", runner_id="runner-a"))  # ours, unfinished
    pipeline = Pipeline()
    return Service(SETTINGS, Poller(), pipeline, FakeHub(), journal), pipeline


def test_service_waiting_task_takes_no_worker_while_the_budget_is_spent(tmp_path):
    service, pipeline = make(tmp_path, spent=1.50)
    for future in service.tick():
        future.result(timeout=5)
    service.shutdown()
    # The older waiting issue would come first; it must not hold the only worker (nor make the loop
    # spin polling for it): the claimed task is finished instead.
    assert pipeline.ran == [2]


def test_service_waiting_task_starts_once_the_budget_allows(tmp_path):
    service, pipeline = make(tmp_path, spent=0.20)  # e.g. restarted with a higher cap
    for future in service.tick(limit_to_free_workers=False):
        future.result(timeout=5)
    service.shutdown()
    assert sorted(pipeline.ran) == [1, 2]
