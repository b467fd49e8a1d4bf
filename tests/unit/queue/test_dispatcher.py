"""The queue-mode poller: decides like the local mode, enqueues instead of running (real redis-server)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from rq import Queue

from runner.config import from_mapping
from runner.queue.dispatcher import QueueService
from runner.queue.jobs import QUEUE_NAME, JobQueue, connect
from runner.queue.local_redis import free_port
from runner.state import Journal

SETTINGS = from_mapping({"GITHUB_TOKEN": "ghs_unitTestToken0123456789", "AGENT_DISPATCH_REPO": "acme/tasks",
                         "AGENT_QUEUE_URL": "redis://127.0.0.1:6379/0", "AGENT_QUEUE_LEASE_TTL": "1"})


def _issue(number: int, *labels: str) -> dict[str, Any]:
    return {"number": number, "state": "open", "title": f"Task {number}", "body": "Make the greeting friendlier.",
            "labels": [{"name": name} for name in ("copilot-agent", *labels)], "user": {"login": "alice"},
            "created_at": f"2026-03-0{number}T10:00:00Z", "updated_at": f"2026-03-0{number}T10:00:00Z"}


@dataclass
class Poll:
    issues: list[dict[str, Any]]


class Poller:
    def __init__(self, issues: list[dict[str, Any]]):
        self.issues = issues

    def poll(self) -> Poll:
        return Poll(self.issues)


class NoPipeline:
    def run(self, issue):  # queue mode never runs a task in the poller
        raise AssertionError("the poller ran a task")


def _service(redis, tmp_path, issues) -> QueueService:
    queue = JobQueue(redis, SETTINGS)
    return QueueService(SETTINGS, Poller(issues), NoPipeline(), hub=None, journal=Journal(tmp_path / "state.db"),
                        queue=queue)


def _queued(redis) -> list[int]:
    return sorted(job.args[0] for job in Queue(QUEUE_NAME, connection=redis).get_jobs())


def test_queue_service_enqueues_new_and_orphaned_tasks_only(redis, tmp_path):
    issues = [
        _issue(1),                              # new
        _issue(2, "agent-processing"),          # claimed; its worker holds the lease
        _issue(3, "agent-processing"),          # claimed; its worker died (no lease)
        _issue(4, "agent-done"),
        _issue(5, "agent-failed"),
    ]
    service = _service(redis, tmp_path, issues)
    service.queue.lease("acme-tasks-2", owner="agent-runner-host-b-202").acquire()
    assert service.run_once() == 0
    assert _queued(redis) == [1]  # #3's lease has just been seen free: its worker may still take it back
    time.sleep(1.1)  # one lease ttl later, nobody did
    assert _service(redis, tmp_path, issues).run_once() == 0
    assert _queued(redis) == [1, 3]


def test_queue_service_two_pollers_enqueue_each_task_once(redis, tmp_path):
    issues = [_issue(n) for n in range(1, 8)]
    first, second = _service(redis, tmp_path, issues), _service(redis, tmp_path, issues)
    assert first.run_once() == 0 and second.run_once() == 0
    assert _queued(redis) == [1, 2, 3, 4, 5, 6, 7]


def test_queue_service_once_without_redis_exits_1(tmp_path):
    queue = JobQueue(connect(f"redis://127.0.0.1:{free_port()}/0", timeout=1), SETTINGS)
    service = QueueService(SETTINGS, Poller([_issue(1)]), NoPipeline(), hub=None,
                           journal=Journal(tmp_path / "state.db"), queue=queue)
    assert service.run_once() == 1
