"""``run`` in queue mode: poll and decide like the local mode, then enqueue instead of running.

Any number of these may run at once: enqueueing goes through ``JobQueue.offer``, which is atomic in
Redis, so two pollers never enqueue one task twice. Issues that carry the processed label are offered
too: a live worker holds their lease (``offer`` answers "running"); a free lease means the worker that
claimed the task is gone, and the task goes back to the queue for another worker to finish.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from runner.config import Settings
from runner.dispatch import parse_issue
from runner.errors import GitHubAuthError, TransientError
from runner.ports import Hub
from runner.queue.jobs import JobQueue
from runner.service import Candidate, Service
from runner.state import Journal

log = logging.getLogger("runner.queue.dispatcher")


class QueueService(Service):
    """The poller of queue mode. Outcomes of a tick are offers (see ``JobQueue.offer``), not tasks."""

    def __init__(self, settings: Settings, poller: Any, pipeline: Any, hub: Hub, journal: Journal, *,
                 queue: JobQueue, clock: Callable[[], float] = time.time, stop: threading.Event | None = None):
        super().__init__(settings, poller, pipeline, hub, journal, clock=clock, stop=stop)
        self.queue = queue

    def _takeover_reason(self, issue: dict[str, Any], record: Any) -> str | None:
        # The lease, not the claim's age, says whether its worker lives; offer checks it atomically.
        return "claimed; lease to check"

    def _free_workers(self) -> int:
        return self.s.workers  # never full: workers take jobs when they are free

    def _submit(self, candidate: Candidate) -> Future[str]:
        task_id = parse_issue(candidate.issue, dispatch_repo=self.s.dispatch_repo,
                              default_target=self.s.target_repo).task_id
        try:
            outcome = self.queue.offer(task_id, candidate.number, claimed=candidate.reason != "new")
        except TransientError as fault:
            log.warning("could not enqueue issue #%d: %s", candidate.number, fault,
                        extra={"issue": candidate.number})
            outcome = "error"
        future: Future[str] = Future()
        future.set_result(outcome)
        return future

    def run_once(self) -> int:
        """One poll; enqueue every eligible task; exit without waiting for the workers.
        0: every task was offered (or none found), 1: Redis or GitHub could not be reached."""
        try:
            futures = self.tick(limit_to_free_workers=False)
        except GitHubAuthError:
            return 1
        self.shutdown()
        return 1 if any(f.result() == "error" for f in futures) else 0

    def run_forever(self) -> int:
        log.info("queue mode: tasks go to Redis; `python -m runner worker` processes run them")
        return super().run_forever()
