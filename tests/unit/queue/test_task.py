"""A queued task inside a worker, against a real redis-server: lease first, fresh issue, then the guard."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from runner.config import from_mapping
from runner.errors import Interrupted, TransientError
from runner.queue.jobs import JobQueue
from runner.queue.task import TaskRunner
from runner.state import Journal, TaskRecord

RUNNER = "agent-runner-host-a-101"
SETTINGS = from_mapping({"GITHUB_TOKEN": "ghs_unitTestToken0123456789", "AGENT_DISPATCH_REPO": "acme/tasks",
                         "AGENT_QUEUE_URL": "redis://127.0.0.1:6379/0", "AGENT_QUEUE_LEASE_TTL": "1",
                         "AGENT_RUNNER_ID": RUNNER})
TASK = "acme-tasks-7"  # a plain issue's task id: <owner>-<name>-<number>


class Issues:
    """Just enough of the Hub: the issue as GitHub shows it now."""

    def __init__(self, labels: list[str]):
        self.labels = labels

    def get_issue(self, repo: str, number: int) -> dict[str, Any]:
        return {"number": number, "state": "open", "title": "Change greeting", "body": "Make it friendlier.",
                "labels": [{"name": name} for name in self.labels], "user": {"login": "alice"}}


class Pipeline:
    def __init__(self, behaviour: Callable[[dict[str, Any]], str]):
        self.behaviour, self.runs = behaviour, 0

    def run(self, issue: dict[str, Any]) -> str:
        self.runs += 1
        return self.behaviour(issue)


@pytest.fixture
def make(redis, tmp_path):
    def build(behaviour: Callable[[dict[str, Any]], str], labels=("copilot-agent",)):
        queue = JobQueue(redis, SETTINGS)
        journal = Journal(tmp_path / "state.db")
        pipeline = Pipeline(behaviour)
        runner = TaskRunner(SETTINGS, Issues(list(labels)), pipeline, queue, journal,
                            task_stop=threading.Event(), shutdown=threading.Event())
        return runner, pipeline, queue, journal
    return build


def _enqueued(queue: JobQueue) -> str:
    assert queue.offer(TASK, 7) == "queued"
    return queue.redis.get(queue.guard_key(TASK)).decode().removeprefix("job:")


def test_task_runner_runs_the_pipeline_while_holding_the_lease(make, redis):
    seen = {}

    def behaviour(issue):
        seen["holder"] = redis.get(queue.lease_key(TASK)).decode()
        seen["offer"] = queue.offer(TASK, 7)  # a second poller, while the task runs
        return "done"

    runner, _pipeline, queue, _ = make(behaviour)
    assert runner.run(7, TASK, _enqueued(queue)) == "done"
    assert seen["holder"].startswith(RUNNER + ":") and seen["offer"] == "running"
    assert redis.get(queue.lease_key(TASK)) is None  # released
    assert redis.get(queue.guard_key(TASK)) == b"wait:ended"  # a stale poll cannot enqueue it again
    assert queue.offer(TASK, 7) == "waiting"


def test_task_runner_skips_a_task_another_worker_is_running(make, redis):
    runner, pipeline, queue, _ = make(lambda issue: "done")
    job = _enqueued(queue)
    queue.lease(TASK, owner="agent-runner-host-b-202").acquire()
    assert runner.run(7, TASK, job) == "skipped"
    assert pipeline.runs == 0
    assert redis.get(queue.guard_key(TASK)) is None  # this job is spent; the lease guards the task


@pytest.mark.parametrize("labels", [
    ("copilot-agent", "agent-done"),
    ("copilot-agent", "agent-failed"),
    ("agent-processing",),  # someone removed the dispatch label
])
def test_task_runner_skips_an_issue_that_changed_while_the_job_waited(make, labels):
    runner, pipeline, queue, _ = make(lambda issue: "done", labels=labels)
    assert runner.run(7, TASK, _enqueued(queue)) == "skipped"
    assert pipeline.runs == 0


def test_task_runner_deferred_task_pauses_for_its_back_off(make, redis):
    def behaviour(issue):
        journal.upsert(TaskRecord(task_id=TASK, dispatch_repo="acme/tasks", issue_number=7, state="working",
                                  next_attempt_at=time.time() + 120))
        raise TransientError("GitHub answered 502")

    runner, _pipeline, queue, journal = make(behaviour)
    assert runner.run(7, TASK, _enqueued(queue)) == "deferred"
    assert redis.get(queue.guard_key(TASK)) == b"wait:deferred"
    assert 100_000 < redis.pttl(queue.guard_key(TASK)) <= 120_000


def test_task_runner_stops_a_task_whose_lease_another_worker_took(make, redis):
    def behaviour(issue):
        redis.set(queue.lease_key(TASK), "agent-runner-host-b-202:cafe", px=10_000)
        if not runner.task_stop.wait(3.0):
            return "done"
        raise Interrupted("stopping: the task will be finished by the next run")

    runner, _pipeline, queue, _ = make(behaviour)
    assert runner.run(7, TASK, _enqueued(queue)) == "interrupted"
    assert redis.get(queue.lease_key(TASK)) == b"agent-runner-host-b-202:cafe"  # not ours to drop
    assert redis.get(queue.guard_key(TASK)) is None
    assert not runner.task_stop.is_set()  # the next task starts clean
