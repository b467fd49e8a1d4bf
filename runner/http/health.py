"""``/healthz`` (is the poll loop alive?) and ``/readyz`` (can it do work: GitHub answers, the rate
limit is not exhausted). Both read state the loop leaves behind; neither sends a request to GitHub,
so a probe can never spend rate limit or hang on a slow API."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runner.errors import TransientError
from runner.github.values import RestStats
from runner.http.tasks import iso

GRACE = 600.0  # a round may wait this long on GitHub (timeouts, retries, secondary limits) and be alive


class PollWatch:
    """Wraps the poller: remembers the last poll's outcome (for ``/readyz``) and reports each poll's
    result (changed, unchanged, failed) to ``on_poll``. Everything else passes through."""

    def __init__(self, poller: Any, on_poll: Callable[[str], None] = lambda _result: None,
                 clock: Callable[[], float] = time.time):
        self._inner, self._on_poll, self._clock = poller, on_poll, clock
        self.last_ok_at: float | None = None
        self.last_failure_at: float | None = None
        self.last_error: str | None = None

    def poll(self) -> Any:
        try:
            result = self._inner.poll()
        except TransientError as fault:
            self.last_failure_at, self.last_error = self._clock(), str(fault)
            self._on_poll("failed")
            raise
        self.last_ok_at, self.last_error = self._clock(), None
        self._on_poll("changed" if result.changed else "unchanged")
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@dataclass(frozen=True)
class Probe:
    """A probe's verdict: ``ok`` maps to 200 or 503; ``body`` says why."""

    ok: bool
    body: dict[str, Any]

    @property
    def status(self) -> int:
        return 200 if self.ok else 503


def liveness(last_tick: float | None, poll_interval: float, stats: RestStats, now: float) -> Probe:
    """Alive when the loop started a round within three poll intervals (plus slack for a slow
    GitHub), or when it is holding off for an exhausted rate limit (waiting is what it should do)."""
    if last_tick is None:
        return Probe(False, {"ok": False, "reason": "the poll loop has not started a round yet"})
    age = now - last_tick
    if age <= 3 * poll_interval + GRACE or _rate_limited(stats, now):
        return Probe(True, {"ok": True, "last_tick": iso(last_tick), "seconds_since_tick": round(age, 1)})
    return Probe(False, {"ok": False, "reason": f"no poll round for {age:.0f} s", "last_tick": iso(last_tick)})


def readiness(watch: PollWatch, stats: RestStats, now: float) -> Probe:
    """Ready when the last poll succeeded and the primary rate limit has requests left."""
    facts = {"last_poll_ok_at": iso(watch.last_ok_at), "rate_limit_remaining": stats.rate_limit_remaining}
    if watch.last_ok_at is None and watch.last_failure_at is None:
        return Probe(False, {"ok": False, "reason": "no poll yet", **facts})
    if watch.last_failure_at is not None and (watch.last_ok_at is None or watch.last_failure_at >= watch.last_ok_at):
        return Probe(False, {"ok": False, "reason": f"GitHub: {watch.last_error}", **facts})
    if _rate_limited(stats, now):
        until = iso(stats.rate_limit_reset) or "unknown"
        return Probe(False, {"ok": False, "reason": f"GitHub rate limit exhausted until {until}", **facts})
    return Probe(True, {"ok": True, **facts})


def _rate_limited(stats: RestStats, now: float) -> bool:
    return stats.rate_limit_remaining == 0 and (stats.rate_limit_reset is None or stats.rate_limit_reset > now)
