"""In-memory ResponseCache and KeyValueCache (runner.ports), and a fake clock that also sleeps.

``FakeClock.sleep`` records every wait and moves time forward, so code that sleeps until a rate limit
resets runs instantly in tests while still seeing time pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from runner.ports import CachedResponse


class FakeClock:
    """``clock()`` returns ``now``; ``sleep(s)`` records ``s`` in ``sleeps`` and advances ``now``."""

    def __init__(self, now: float = 1_700_000_000.0):
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


class MemoryResponseCache:
    """ETag cache in a dict; ``entries`` is open for assertions."""

    def __init__(self) -> None:
        self.entries: dict[str, CachedResponse] = {}

    def get(self, key: str) -> CachedResponse | None:
        return self.entries.get(key)

    def put(self, key: str, value: CachedResponse) -> None:
        self.entries[key] = value


class MemoryKeyValueCache:
    """Expiring key-value cache in a dict, on an injectable clock."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._items: dict[str, tuple[Any, float]] = {}

    def get(self, key: str) -> Any | None:
        item = self._items.get(key)
        if item is None or item[1] <= self._clock():
            return None
        return item[0]

    def put(self, key: str, value: Any, ttl: float) -> None:
        self._items[key] = (value, self._clock() + ttl)
