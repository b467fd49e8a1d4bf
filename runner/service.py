"""The poll loop and the worker pool. ``tick`` does one round and is what tests call; ``run_forever``
is ``while not stop: tick(); wait(interval)``; ``run_once`` is one tick that waits for its tasks."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from runner.budget import DailyBudget
from runner.config import Settings
from runner.errors import GitHubAuthError, TransientError
from runner.followup_cancel import CancelRegistry
from runner.ports import Hub
from runner.state import Journal
from runner.status import MARKER_PREFIX
from runner.takeover import may_take_over

log = logging.getLogger("runner.service")


@dataclass(frozen=True)
class Candidate:
    issue: dict[str, Any]
    reason: str  # "new" or a takeover reason

    @property
    def number(self) -> int:
        return int(self.issue["number"])


class Service:
    def __init__(self, settings: Settings, poller: Any, pipeline: Any, hub: Hub, journal: Journal, *,
                 clock: Callable[[], float] = time.time, stop: threading.Event | None = None,
                 followups: Any = None, cancels: CancelRegistry | None = None):
        self.s, self.poller, self.pipeline, self.hub, self.journal = settings, poller, pipeline, hub, journal
        self.followups = followups  # runner.followup.Followups: `/agent` rounds and cancels, or None
        self.cancels = cancels or CancelRegistry()  # what is in flight, per dispatch issue, for `/agent cancel`
        self.clock = clock
        self.stop = stop or threading.Event()
        self.wake = threading.Event()
        self.last_tick: float | None = None
        self._pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="task")
        self._in_flight: dict[int, Future[str]] = {}
        self._lock = threading.Lock()
        self._left_behind = False  # the last tick saw more eligible work than free workers
        self._honour_backoff = True  # run_once clears it: a one-shot run is asked for explicitly
        self._poked = False  # a webhook asked for a round now
        self.budget = DailyBudget(settings.daily_budget_usd, journal, clock)

    # -- one round ---------------------------------------------------------------------------

    def tick(self, limit_to_free_workers: bool = True) -> list[Future[str]]:
        """Poll once and start every task this runner may take now."""
        self.last_tick = self.clock()
        try:
            issues = self.poller.poll().issues
        except TransientError as fault:
            log.warning("poll failed: %s", fault)
            if isinstance(fault, GitHubAuthError):
                raise
            return []
        started = []
        self._left_behind = False
        for candidate in self._candidates(issues):
            if limit_to_free_workers and self._free_workers() == 0:
                self._left_behind = True
                break
            started.append(self._submit(candidate))
        return started + self._start_followups(limit_to_free_workers)

    def _start_followups(self, limit_to_free_workers: bool) -> list[Future[str]]:
        """After the dispatch poll: new `/agent` comments (cancels act at once), then the rounds ready
        to run, at most one piece of work per dispatch issue at a time."""
        if self.followups is None or self.stop.is_set():
            return []
        try:
            rounds = self.followups.poll()
        except TransientError as fault:
            log.warning("follow-up poll failed: %s", fault)
            if isinstance(fault, GitHubAuthError):
                raise
            return []
        started = []
        for item in rounds:
            with self._lock:
                busy = item.dispatch_number in self._in_flight
            if busy or self.stop.is_set():
                continue
            if limit_to_free_workers and self._free_workers() == 0:
                self._left_behind = True
                break
            log.info("follow-up round for issue #%d (comment %d)", item.dispatch_number, item.comment_id,
                     extra={"issue": item.dispatch_number})
            started.append(self._track(item.dispatch_number, self.followups.run, item))
        return started

    def _candidates(self, issues: list[dict[str, Any]]) -> Iterator[Candidate]:
        """Eligible issues in priority order, decided one at a time: the caller stops asking once
        the workers are full, so a busy tick skips the journal reads and claim lookups of the rest."""
        for issue in sorted(issues, key=self._priority):
            if self.stop.is_set():
                return
            reason = self._eligibility(issue)
            if reason:
                yield Candidate(issue, reason)

    def _priority(self, issue: dict[str, Any]) -> tuple[int, str, int]:
        high = self.s.priority_label in _labels(issue)
        return (0 if high else 1, issue.get("created_at") or "", int(issue["number"]))

    def _eligibility(self, issue: dict[str, Any]) -> str | None:
        labels = _labels(issue)
        number = int(issue["number"])
        if self.s.label not in labels or {self.s.done_label, self.s.failed_label} & labels:
            return None
        with self._lock:
            if number in self._in_flight:
                return None
        record = self.journal.task_for_issue(self.s.dispatch_repo, number)
        if self._honour_backoff and record is not None and record.unfinished and record.next_attempt_at > self.clock():
            return None
        if self.s.processed_label not in labels:
            return None if self._waits_for_budget(record) else "new"
        return self._takeover_reason(issue, record)

    def _waits_for_budget(self, record: Any) -> bool:
        """Told to wait for the daily budget (pipeline.py), and it is still spent: taking a worker for
        it would only make the loop spin and keep claimed tasks waiting."""
        return (record is not None and record.state == "waiting" and record.next_attempt_at > self.clock()
                and self.budget.blocking() is not None)

    def _takeover_reason(self, issue: dict[str, Any], record: Any) -> str | None:
        mine = record is not None and record.unfinished and record.runner_id == self.s.runner_id
        comment = None
        if not mine:
            try:
                comment = self.hub.find_comment(self.s.dispatch_repo, int(issue["number"]), MARKER_PREFIX, fresh=False)
            except TransientError as fault:
                log.warning("could not read the claim of #%s: %s", issue["number"], fault)
                return None
        return may_take_over(runner_id=self.s.runner_id, record=record, status_comment=comment,
                             issue_updated_at=_epoch(issue.get("updated_at")), now=self.clock(),
                             task_timeout=self.s.task_timeout)

    # -- the pool ----------------------------------------------------------------------------

    def _free_workers(self) -> int:
        with self._lock:
            return self.s.workers - len(self._in_flight)

    def _submit(self, candidate: Candidate) -> Future[str]:
        log.info("taking issue #%d (%s)", candidate.number, candidate.reason, extra={"issue": candidate.number})
        return self._track(candidate.number, self._process, candidate)

    def _track(self, number: int, work: Callable[[Any], str], item: Any) -> Future[str]:
        self.cancels.started(number)
        future = self._pool.submit(work, item)
        with self._lock:
            self._in_flight[number] = future
        future.add_done_callback(lambda _f, n=number: self._finished(n))
        return future

    def _process(self, candidate: Candidate) -> str:
        try:
            return self.pipeline.run(candidate.issue)
        except TransientError as fault:
            log.warning("issue #%d not finished, kept for a later run: %s", candidate.number, fault,
                        extra={"issue": candidate.number})
            return "deferred"
        except Exception:  # a bug must not kill the worker thread; the claim stays for a later run
            log.exception("issue #%d crashed the pipeline", candidate.number, extra={"issue": candidate.number})
            return "error"

    def _finished(self, number: int) -> None:
        with self._lock:
            self._in_flight.pop(number, None)
        self.cancels.finished(number)
        self.wake.set()

    # -- loops -------------------------------------------------------------------------------

    def run_once(self) -> int:
        """One poll; every eligible task; wait for them. 0: all done or none, 1: anything else.
        A deferred task's back-off does not apply: it paces the polling loop, while a one-shot run
        (cron, or an operator who just fixed the fault) must not skip the task and report success."""
        self._honour_backoff = False
        try:
            futures = self.tick(limit_to_free_workers=False)
        except GitHubAuthError:
            return 1
        outcomes = [f.result() for f in futures]
        self.shutdown()
        # A task waiting for the daily budget has not failed: it starts by itself after 00:00 UTC.
        return 0 if all(o in ("done", "waiting") for o in outcomes) else 1

    def run_forever(self) -> int:
        log.info("polling %s every %gs with %d workers", self.s.dispatch_repo, self.s.poll_interval, self.s.workers)
        while not self.stop.is_set():
            try:
                self.tick()
            except GitHubAuthError as fault:
                log.error("GitHub rejected the token: %s", fault)
            self._wait(self.s.poll_interval)
        log.info("stopping: letting running tasks reach a safe point")
        self.shutdown()
        return 0

    def _wait(self, seconds: float) -> None:
        deadline = self.clock() + seconds
        while not self.stop.is_set():
            remaining = deadline - self.clock()
            if remaining <= 0:
                return
            if self.wake.wait(min(remaining, 0.5)):
                self.wake.clear()
                if self._take_poke() or (self._free_workers() > 0 and self._left_behind):
                    return

    def poke(self, issue_number: int | None = None) -> None:
        """Start a round now (a webhook saw a change): the poll is conditional, so an extra one is
        cheap, and pokes that arrive during a round coalesce into one more round."""
        log.debug("poked for issue #%s", issue_number, extra={"issue": issue_number})
        with self._lock:
            self._poked = True
        self.wake.set()

    def _take_poke(self) -> bool:
        with self._lock:
            poked, self._poked = self._poked, False
        return poked

    def request_stop(self) -> None:
        self.stop.set()
        self.wake.set()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


def _labels(issue: dict[str, Any]) -> set[str]:
    return {lbl["name"] if isinstance(lbl, dict) else str(lbl) for lbl in issue.get("labels") or []}


def _epoch(stamp: str | None) -> float:
    if not stamp:
        return 0.0
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
