"""Retrying idempotent steps inside one run (the contract's "Transient faults" paragraph).

A write step receives its attempt number: from the second attempt on it must look for the effect of
the earlier attempt first, because a POST that timed out or answered 5xx may still have landed.
"""

from __future__ import annotations

import logging
import threading

from collections.abc import Callable
from typing import TypeVar

from runner.errors import GitHubAuthError, Interrupted, TransientError

T = TypeVar("T")
log = logging.getLogger("runner.steps")


class StepRunner:
    def __init__(self, *, attempts: int = 3, base_delay: float = 2.0, max_delay: float = 60.0,
                 should_stop: Callable[[], bool] = lambda: False, wait: Callable[[float], object] | None = None):
        self.attempts, self.base_delay, self.max_delay = attempts, base_delay, max_delay
        self.should_stop = should_stop
        self._wait = wait or threading.Event().wait

    def read(self, name: str, fn: Callable[[], T]) -> T:
        return self.write(name, lambda _attempt: fn())

    def write(self, name: str, fn: Callable[[int], T]) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return fn(attempt)
            except (GitHubAuthError, Interrupted):
                raise
            except TransientError as fault:
                if attempt == self.attempts or self.should_stop():
                    raise
                delay = min(self.max_delay, max(fault.retry_after or 0.0, self.base_delay * 2 ** (attempt - 1)))
                log.warning("%s: %s; retrying in %.1f s (attempt %d of %d)", name, fault, delay, attempt + 1,
                            self.attempts)
                self._wait(delay)
                if self.should_stop():  # a shutdown cut the wait short: keep the claim for the next run
                    raise fault
        raise AssertionError("unreachable")


