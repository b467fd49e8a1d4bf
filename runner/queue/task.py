"""One queued task inside a worker: lease, a fresh look at the issue, the pipeline, then the guard.

The job in the queue only names the issue. Whatever the poller saw may be stale by now (another
worker may have finished the task while this job waited), so the worker, once it holds the lease,
reads the issue again and runs the pipeline only if the task is still to do. The pipeline's own
idempotent steps do the rest: a task half done by a worker that died is finished, never duplicated.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from runner.config import Settings
from runner.dispatch import parse_issue
from runner.errors import Interrupted, TransientError
from runner.github.poller import eligible
from runner.ports import Hub
from runner.queue.jobs import COOLDOWN, JobQueue
from runner.queue.lease import Heartbeat, Lease
from runner.state import Journal

log = logging.getLogger("runner.queue.task")

ENDED = ("done", "failed", "refused", "skipped")


class TaskRunner:
    """Runs queued tasks in this worker process, one at a time.

    ``task_stop`` is the event the pipeline (and the REST client) watch: it is set when the lease is
    lost or the worker is asked to stop, and cleared after each task unless ``shutdown`` is set.
    """

    def __init__(self, settings: Settings, hub: Hub, pipeline: Any, queue: JobQueue, journal: Journal, *,
                 task_stop: threading.Event, shutdown: threading.Event, clock: Callable[[], float] = time.time):
        self.s, self.hub, self.pipeline, self.queue, self.journal = settings, hub, pipeline, queue, journal
        self.task_stop, self.shutdown, self.clock = task_stop, shutdown, clock

    def run(self, number: int, task_id: str, job_id: str) -> str:
        """Outcome: done, failed, refused, skipped (held elsewhere or nothing left to do), deferred,
        interrupted (lease lost or shutdown: another worker continues) or error."""
        extra = {"issue": number, "task_id": task_id}
        lease = self.queue.lease(task_id, owner=self.s.runner_id)
        if not lease.acquire():
            self.queue.hand_off(task_id, job_id)
            log.info("issue #%d is being run by another worker; job skipped", number, extra=extra)
            return "skipped"
        try:
            with Heartbeat(lease, on_lost=lambda _why: self.task_stop.set(), max_hold=self.s.task_timeout):
                self.queue.hand_off(task_id, job_id)
                outcome = self._run_issue(number, task_id)
                self._settle(task_id, outcome)  # while the lease still keeps pollers away
        finally:
            _release(lease)
            if not self.shutdown.is_set():
                self.task_stop.clear()
        log.info("job for issue #%d ended: %s", number, outcome, extra=extra)
        return outcome

    def _run_issue(self, number: int, task_id: str) -> str:
        try:
            issue = self.hub.get_issue(self.s.dispatch_repo, number)
        except TransientError as fault:
            log.warning("could not read issue #%d: %s", number, fault, extra={"issue": number})
            return "deferred"
        if not eligible([issue], label=self.s.label, skip_labels=(self.s.done_label, self.s.failed_label)):
            return "skipped"  # finished (or unlabelled, or closed) while the job waited
        current = parse_issue(issue, dispatch_repo=self.s.dispatch_repo, default_target=self.s.target_repo).task_id
        if current != task_id:
            log.info("issue #%d now names task %s; the poller enqueues that one", number, current)
            return "skipped"
        try:
            return self.pipeline.run(issue)
        except Interrupted:
            return "interrupted"
        except TransientError:
            return "deferred"  # the pipeline logged it and journalled when to try again
        except Exception:  # a bug must not kill the worker; the claim stays for a later attempt
            log.exception("issue #%d crashed the pipeline", number, extra={"issue": number})
            return "error"

    def _settle(self, task_id: str, outcome: str) -> None:
        """Keep pollers off the task for a while: a poll that began before the end would re-enqueue a
        finished task, and a deferred one must wait for its back-off."""
        if outcome == "interrupted":
            return  # another worker may go on at once
        seconds, why = (COOLDOWN, "ended") if outcome in ENDED else (self._backoff(task_id), outcome)
        try:
            self.queue.hold_off(task_id, seconds, why)
        except TransientError as fault:
            log.warning("could not pause task %s: %s", task_id, fault, extra={"task_id": task_id})

    def _backoff(self, task_id: str) -> float:
        record = self.journal.task(task_id)
        wait = record.next_attempt_at - self.clock() if record is not None else 0.0
        return max(wait, 30.0)


def _release(lease: Lease) -> None:
    try:
        lease.release()
    except RedisError as fault:  # it expires by itself within one ttl
        log.warning("could not release lease %s: %s", lease.key, fault)
