"""Enqueueing against a real redis-server: once per task across pollers, never while a worker runs it."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest
from rq import Queue

from runner.config import from_mapping
from runner.errors import TransientError
from runner.queue.jobs import QUEUE_NAME, JobQueue, connect
from runner.queue.local_redis import free_port

TASK = "550e8400-e29b-41d4-a716-446655440000"

SETTINGS = from_mapping({"GITHUB_TOKEN": "ghs_unitTestToken0123456789", "AGENT_DISPATCH_REPO": "acme/tasks",
                         "AGENT_QUEUE_URL": "redis://127.0.0.1:6379/0", "AGENT_QUEUE_LEASE_TTL": "5"})
SHORT_TTL = replace(SETTINGS, queue_lease_ttl=1.0)


def _queue(redis, settings=SETTINGS) -> JobQueue:
    return JobQueue(redis, settings)


def _jobs(redis) -> list[tuple]:
    return [tuple(job.args) for job in Queue(QUEUE_NAME, connection=redis).get_jobs()]


def test_offer_enqueues_a_new_task_once_for_two_pollers(redis):
    first, second = _queue(redis), _queue(redis)
    assert first.offer(TASK, 12) == "queued"
    assert second.offer(TASK, 12) == "queued already"
    assert _jobs(redis) == [(12, TASK)]


def test_offer_two_pollers_racing_over_many_tasks_enqueue_each_once(redis, redis_server):
    tasks = [(f"acme-tasks-{n}", n) for n in range(1, 41)]
    outcomes: list[str] = []

    def poll(queue: JobQueue) -> None:
        for task_id, number in tasks:
            outcomes.append(queue.offer(task_id, number))

    pollers = [threading.Thread(target=poll, args=(_queue(connect(redis_server.url)),)) for _ in range(2)]
    for t in pollers:
        t.start()
    for t in pollers:
        t.join()
    assert sorted(_jobs(redis)) == sorted((n, t) for t, n in tasks)
    assert outcomes.count("queued") == 40 and outcomes.count("queued already") == 40


def test_offer_leaves_a_task_alone_while_a_worker_holds_its_lease(redis):
    queue = _queue(redis)
    assert queue.lease(TASK, owner="agent-runner-host-a-101").acquire()
    assert queue.offer(TASK, 12) == "running"
    assert _jobs(redis) == []


def test_offer_respects_a_pause_a_worker_asked_for(redis):
    queue = _queue(redis)
    queue.hold_off(TASK, 60, "ended")
    assert queue.offer(TASK, 12) == "waiting"
    assert _jobs(redis) == []


def test_offer_requeues_a_task_whose_job_was_lost(redis):
    queue = _queue(redis)
    redis.set(queue.guard_key(TASK), "job:0123456789abcdef", px=60_000)  # its job vanished from Redis
    assert queue.offer(TASK, 12) == "requeued"
    assert _jobs(redis) == [(12, TASK)]


def test_offer_requeues_a_claimed_task_once_its_lease_stayed_free_for_a_ttl(redis):
    """The worker that claimed it died: its lease expired and nobody renews it."""
    queue = _queue(redis, SHORT_TTL)
    assert queue.offer(TASK, 12, claimed=True) == "orphan"
    assert _jobs(redis) == []
    time.sleep(1.1)
    assert queue.offer(TASK, 12, claimed=True) == "queued"
    assert _jobs(redis) == [(12, TASK)]


def test_offer_leaves_a_claimed_task_to_a_worker_that_takes_its_lease_back(redis):
    """Redis lost its contents, the lease with them; the worker's heartbeat takes it back in ttl/3."""
    queue = _queue(redis, SHORT_TTL)
    assert queue.offer(TASK, 12, claimed=True) == "orphan"
    lease = queue.lease(TASK, owner="agent-runner-host-a-101")
    lease.acquire()
    assert queue.offer(TASK, 12, claimed=True) == "running"
    time.sleep(1.1)
    lease.release()  # the task ended: a later sighting of a free lease starts a new grace period
    assert queue.offer(TASK, 12, claimed=True) == "orphan"
    assert _jobs(redis) == []


def test_hand_off_drops_only_the_guard_of_its_own_job(redis):
    queue = _queue(redis)
    queue.offer(TASK, 12)
    guard = redis.get(queue.guard_key(TASK)).decode()
    queue.hand_off(TASK, "someotherjob")
    assert redis.get(queue.guard_key(TASK)).decode() == guard
    queue.hand_off(TASK, guard.removeprefix("job:"))
    assert redis.get(queue.guard_key(TASK)) is None


def test_offer_without_redis_is_a_transient_error():
    queue = JobQueue(connect(f"redis://127.0.0.1:{free_port()}/0", timeout=1), SETTINGS)
    with pytest.raises(TransientError, match="Redis"):
        queue.offer(TASK, 12)

