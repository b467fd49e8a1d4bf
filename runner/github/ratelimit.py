"""GitHub's rate limits as the REST client sees them: what the headers say and how long to hold off.

Primary limit: ``x-ratelimit-remaining`` reaching 0 means no request may be sent before
``x-ratelimit-reset``. Secondary limits answer 403/429, with ``retry-after`` when GitHub gives one, and
otherwise must be met with a wait of at least a minute that doubles while they persist. The state is
shared by every thread using one client, so a limit seen by one thread holds the others back too.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

# A primary limit resets within the hour; anything longer comes from a skewed clock or a bad header.
MAX_WAIT = 3700.0
_LIMIT_PHRASES = ("secondary rate limit", "rate limit exceeded", "abuse detection")


def header_number(headers: Mapping[str, str], name: str) -> float | None:
    """A numeric header, or None when absent or not a number."""
    value = headers.get(name)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def reset_epoch(headers: Mapping[str, str]) -> float | None:
    """``x-ratelimit-reset`` in epoch seconds. Recorded fixtures carry milliseconds; accept both."""
    reset = header_number(headers, "x-ratelimit-reset")
    if reset is not None and reset > 1e11:
        reset /= 1000.0
    return reset


def is_limit_message(message: str) -> bool:
    """True when a 403's message says it is a rate limit rather than a refusal."""
    low = message.lower()
    return any(phrase in low for phrase in _LIMIT_PHRASES)


class RateLimitState:
    """What the last responses said about the limits, and until when requests must wait."""

    def __init__(self, secondary_wait: float = 60.0):
        self.secondary_wait = secondary_wait
        self.remaining: int | None = None
        self.reset: float | None = None
        self.limited_until = 0.0
        self._streak = 0  # secondary limits in a row: each doubles the wait
        self._lock = threading.Lock()

    def observe(self, headers: Mapping[str, str]) -> None:
        """Record ``x-ratelimit-*`` from any response (304s carry them too)."""
        resource = headers.get("x-ratelimit-resource")
        if resource not in (None, "core"):
            return  # e.g. the search limit: exhausting it does not stop issue or PR requests
        remaining = header_number(headers, "x-ratelimit-remaining")
        with self._lock:
            if remaining is not None:
                self.remaining = int(remaining)
            reset = reset_epoch(headers)
            if reset is not None:
                self.reset = reset

    def wait_before_send(self, now: float) -> float:
        """Seconds to hold off before the next request (0 when it may go now)."""
        with self._lock:
            wait = self.limited_until - now
            if self.remaining == 0 and self.reset is not None:
                wait = max(wait, self.reset + 1 - now)
        return min(max(wait, 0.0), MAX_WAIT)

    def waited(self, until: float) -> None:
        """A thread waited until ``until``: the limits known then have passed."""
        with self._lock:
            if self.remaining == 0 and (self.reset is None or self.reset + 1 <= until):
                self.remaining = None
            if self.limited_until <= until:
                self.limited_until = 0.0

    def limit_wait(self, status: int, headers: Mapping[str, str], message: str, now: float) -> float | None:
        """Seconds to back off when a 403/429 is a rate limit; None when it is a plain refusal."""
        retry_after = header_number(headers, "retry-after")
        reset = reset_epoch(headers)
        if retry_after is not None:
            wait = retry_after
        elif headers.get("x-ratelimit-remaining") == "0" and reset is not None:
            wait = max(reset - now, 0.0) + 1
        elif status == 429 or is_limit_message(message):
            with self._lock:
                wait = self.secondary_wait * 2 ** self._streak
                self._streak += 1
        else:
            return None
        wait = min(max(wait, 0.0), MAX_WAIT)
        with self._lock:
            self.limited_until = max(self.limited_until, now + wait)
        return wait

    def succeeded(self) -> None:
        """A request went through: the secondary back-off starts again from its base."""
        with self._lock:
            self._streak = 0
