"""The queue between pollers and workers: RQ on Redis, plus a guard per task.

The guard ``<prefix>:guard:<task id>`` makes "enqueue this task" one atomic step across pollers: a Lua
script sets it only while no lease and no guard exist, and only then is an RQ job created. Its value
says why it is there: ``job:<id>`` (a job is waiting in the queue), ``wait:<why>`` (a worker asked for
a pause: the task just ended, or it was deferred). A worker that takes a task's lease drops the
``job:`` guard; from then on the lease alone keeps the task from being enqueued again.

A claimed task (processed label) whose lease is free was left by a worker that died, or lost its
lease with Redis's contents while its worker lives on: that worker's heartbeat takes it back within
ttl/3. So such a task is enqueued again only once its lease has been seen free for a whole ttl.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from runner.config import Settings
from runner.errors import TransientError
from runner.queue.lease import Lease

log = logging.getLogger("runner.queue.jobs")

QUEUE_NAME = "agent-runner"
JOB_FUNCTION = "runner.queue.worker.run_task"
GUARD_TTL = 24 * 3600.0  # a last resort only: a stale job guard is detected long before (see offer)
YOUNG = 10.0  # seconds after which a guard's job must be visible in the queue (enqueueing takes ms)
COOLDOWN = 60.0  # after a task ends, a poll that started before the end must not enqueue it again

# KEYS: lease, guard, orphan. ARGV: guard value, guard ttl ms, claimed ('1' or '0'), grace ms, orphan ttl ms.
# Returns 'running' (a lease exists), the present guard's value, 'orphan' (a claimed task whose lease
# has not yet been free for the grace period), or 'ok' after setting the guard.
_OFFER = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('DEL', KEYS[3])
  return 'running'
end
local guard = redis.call('GET', KEYS[2])
if guard then return guard end
if ARGV[3] == '1' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local seen = redis.call('GET', KEYS[3])
  if not seen then
    redis.call('SET', KEYS[3], now, 'PX', ARGV[5])
    return 'orphan'
  end
  if now - tonumber(seen) < tonumber(ARGV[4]) then return 'orphan' end
  redis.call('DEL', KEYS[3])
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 'ok'
"""

# Replace a stale guard, unless it changed or a worker took the lease in the meantime.
_REPLACE = """
if redis.call('EXISTS', KEYS[1]) == 0 and redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""

_DROP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def connect(url: str, *, timeout: float = 10.0) -> Redis:
    """A Redis client; connects lazily, so building one makes no network call."""
    return Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout, health_check_interval=30)


class JobQueue:
    """Enqueue tasks for workers (pollers) and keep the per-task keys (workers).

    Redis failures surface as ``TransientError``: the poller retries on its next tick, and GitHub's
    labels (not Redis) say which tasks are still to do, so nothing is lost with Redis's contents.
    """

    def __init__(self, redis: Redis, settings: Settings):
        self.redis, self.s = redis, settings
        self.prefix = f"agent-runner:{settings.dispatch_repo}"
        self.grace = settings.queue_lease_ttl  # a live worker takes a vanished lease back within ttl/3
        self._offer = redis.register_script(_OFFER)
        self._replace = redis.register_script(_REPLACE)
        self._drop = redis.register_script(_DROP)

    def lease_key(self, task_id: str) -> str:
        return f"{self.prefix}:lease:{task_id}"

    def guard_key(self, task_id: str) -> str:
        return f"{self.prefix}:guard:{task_id}"

    def lease(self, task_id: str, owner: str) -> Lease:
        return Lease(self.redis, self.lease_key(task_id), owner=owner, ttl=self.s.queue_lease_ttl)

    # -- pollers -----------------------------------------------------------------------------

    def offer(self, task_id: str, number: int, *, claimed: bool = False) -> str:
        """Enqueue the task unless it is running, queued or paused; ``claimed``: the issue carries the
        processed label. Returns what happened: ``queued``, ``requeued`` (its earlier job was lost),
        ``running``, ``queued already``, ``waiting`` (a pause) or ``orphan`` (claimed, lease free, not
        for long enough yet)."""
        with _translated("enqueue"):
            job_id = uuid.uuid4().hex
            keys = [self.lease_key(task_id), self.guard_key(task_id), f"{self.prefix}:orphan:{task_id}"]
            # Sightings of a free lease must outlive the gap between two polls.
            orphan_ttl = 2 * (self.grace + self.s.poll_interval) + 60
            args = [f"job:{job_id}", _ms(GUARD_TTL), "1" if claimed else "0", _ms(self.grace), _ms(orphan_ttl)]
            found = _text(self._offer(keys=keys, args=args))
            if found == "ok":
                return self._enqueue(job_id, task_id, number, "queued")
            if found in ("running", "orphan"):
                return found
            if found.startswith("wait:"):
                return "waiting"
            if self._job_alive(task_id, found.removeprefix("job:")):
                return "queued already"
            if self._replace(keys=keys[:2], args=[found, f"job:{job_id}", _ms(GUARD_TTL)]):
                return self._enqueue(job_id, task_id, number, "requeued")
            return "queued already"

    def _enqueue(self, job_id: str, task_id: str, number: int, outcome: str) -> str:
        from rq import Queue

        try:
            Queue(QUEUE_NAME, connection=self.redis).enqueue(
                JOB_FUNCTION, number, task_id, job_id=job_id, description=f"issue #{number} ({task_id})",
                job_timeout=int(self.s.task_timeout) + 600, result_ttl=3600, failure_ttl=7 * 86400)
        except BaseException:
            self._drop_guard(task_id, f"job:{job_id}")  # best effort: the next tick tries again
            raise
        log.info("%s issue #%d", outcome, number, extra={"issue": number, "task_id": task_id})
        return outcome

    def _drop_guard(self, task_id: str, value: str) -> None:
        try:
            self._drop(keys=[self.guard_key(task_id)], args=[value])
        except RedisError:
            pass  # the guard then expires by itself, or its dead job is noticed by offer

    def _job_alive(self, task_id: str, job_id: str) -> bool:
        """Whether the guarded job can still run: it waits in the queue, or it is too young to judge
        (another poller is enqueueing it right now, or a worker took it and is taking the lease). An
        older job that is gone was lost with Redis's contents; one taken long ago whose task has no
        lease belongs to a worker that died before it took the lease."""
        from rq.exceptions import NoSuchJobError
        from rq.job import Job, JobStatus

        guard_age = (_ms(GUARD_TTL) - max(0, int(self.redis.pttl(self.guard_key(task_id))))) / 1000
        if guard_age < YOUNG:
            return True
        try:
            status = Job.fetch(job_id, connection=self.redis).get_status(refresh=False)
        except NoSuchJobError:
            return False
        return status in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.CREATED)

    # -- workers -----------------------------------------------------------------------------

    def hand_off(self, task_id: str, job_id: str) -> None:
        """The job was taken: drop its guard (the lease, or the task's end, guards it from now on)."""
        with _translated("hand off"):
            self._drop(keys=[self.guard_key(task_id)], args=[f"job:{job_id}"])

    def hold_off(self, task_id: str, seconds: float, why: str) -> None:
        """Keep pollers from enqueueing the task for ``seconds``."""
        with _translated("pause"):
            self.redis.set(self.guard_key(task_id), f"wait:{why}", px=_ms(max(seconds, 1.0)))


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """Redis failures become TransientError at this boundary."""
    try:
        yield
    except RedisError as fault:
        raise TransientError(f"Redis: could not {action}: {fault}") from fault


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
