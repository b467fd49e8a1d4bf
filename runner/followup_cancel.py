"""`/agent cancel`: which dispatch issues have work in flight in this process, and who asked to stop it.

The service notes each task or round it starts and finishes (by dispatch issue number); the
pipeline and the round runner ask ``requested`` at their safe points. A request for an issue with
nothing in flight is refused, and a request dies with the work it was meant for, so it can never
stop a later run of the same task.
"""

from __future__ import annotations

import threading


class CancelRegistry:
    """Thread-safe: the tick thread requests, worker threads ask."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[int, int] = {}
        self._asked: dict[int, str] = {}

    def started(self, number: int) -> None:
        with self._lock:
            self._running[number] = self._running.get(number, 0) + 1

    def finished(self, number: int) -> None:
        with self._lock:
            left = self._running.get(number, 0) - 1
            if left > 0:
                self._running[number] = left
            else:
                self._running.pop(number, None)
                self._asked.pop(number, None)

    def request(self, number: int, who: str) -> bool:
        """Ask the work in flight for ``number`` to stop; False when nothing is in flight."""
        with self._lock:
            if number not in self._running:
                return False
            self._asked.setdefault(number, who)
            return True

    def requested(self, number: int) -> str | None:
        """Login of whoever asked to cancel the work in flight for ``number``, or None."""
        with self._lock:
            return self._asked.get(number)
