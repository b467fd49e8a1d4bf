"""GitHub's "at least one second between writes" for a whole fleet of workers, not one process.

GitHub counts the spacing per user or app, so N worker processes on one token must share it. Each
write reserves the next free slot in Redis (one Lua step: ``slot = max(now, next)``, ``next = slot +
interval``) and sleeps until its slot. Redis's clock is the only clock involved. When Redis cannot be
reached the pacer steps aside (each process still spaces its own writes): GitHub work must not stop
because the queue is down.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from redis.exceptions import RedisError

log = logging.getLogger("runner.queue.pacing")

_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
redis.call('SET', KEYS[1], slot + tonumber(ARGV[1]), 'PX', tonumber(ARGV[1]) + 60000)
return slot - now
"""


class FleetWritePacer:
    """Call it before each write; it answers how many seconds to wait first."""

    def __init__(self, redis: Any, key: str, interval: float):
        self.key = key
        self.interval_ms = max(1, int(interval * 1000))
        self._reserve = redis.register_script(_RESERVE)
        self._warned_at = 0.0

    def __call__(self) -> float:
        try:
            return int(self._reserve(keys=[self.key], args=[self.interval_ms])) / 1000
        except RedisError as fault:
            if time.monotonic() - self._warned_at > 60:  # one line a minute, not one per write
                self._warned_at = time.monotonic()
                log.warning("Redis unreachable, GitHub writes spaced per process only: %s", fault)
            return 0.0


def fleet_pacer(settings: Any) -> FleetWritePacer:
    """The pacer every process of one deployment (one dispatch repo, one token) shares."""
    from runner.queue.jobs import connect

    return FleetWritePacer(connect(settings.queue_url), f"agent-runner:{settings.dispatch_repo}:write-slot",
                           settings.write_interval)
