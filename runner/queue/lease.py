"""A Redis lease: which worker, on any machine, is running a task right now.

``SET key token NX PX ttl`` takes it, with a token no other process can guess. Only the holder of the
token renews it (compare-and-pexpire) or releases it (compare-and-delete); both are Lua scripts, so the
compare and the change are one step on the server and a late worker can never drop a lease that has
since passed to someone else. A ``Heartbeat`` thread renews it every ttl/3: a worker that dies stops
renewing, its lease expires within one ttl, and the poller hands the task to another worker.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Self

from redis.exceptions import RedisError

log = logging.getLogger("runner.queue.lease")

# Renew if the token is ours. A lease that vanished (Redis restarted without persistence, or it expired
# and nobody took it) is taken back: nobody else can be running the task then. Another token: lost.
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Lease:
    """One task's lease in Redis. ``owner`` names the process (it is readable in the key's value)."""

    def __init__(self, redis: Any, key: str, *, owner: str, ttl: float):
        self.redis, self.key = redis, key
        self.token = f"{owner}:{uuid.uuid4().hex}"
        self.ttl_ms = max(1, int(ttl * 1000))
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    def acquire(self) -> bool:
        """True when this process now holds the lease; False when another does."""
        return bool(self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms))

    def renew(self) -> bool:
        """Extend the lease; False when another owner holds it now."""
        result = int(self._renew(keys=[self.key], args=[self.token, self.ttl_ms]))
        if result == 2:
            log.warning("lease %s had vanished from Redis; taken back", self.key)
        return result != 0

    def release(self) -> bool:
        """Drop the lease if it is still ours; never touches someone else's."""
        return bool(self._release(keys=[self.key], args=[self.token]))


class Heartbeat:
    """Renews ``lease`` every ttl/3 on its own thread while the ``with`` block runs.

    ``on_lost(reason)`` is called once, and renewing stops, when another owner holds the lease or the
    lease has been held for ``max_hold`` seconds (the contract's task timeout: past it another runner
    may take over). While Redis cannot be reached the thread keeps trying, more often: nobody else can
    take the lease then either, and a restarted Redis gets the lease back within a second.
    """

    def __init__(self, lease: Lease, *, on_lost: Callable[[str], None], max_hold: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.lease, self.on_lost, self.max_hold, self.clock = lease, on_lost, max_hold, clock
        self.interval = lease.ttl_ms / 3000
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)

    def __enter__(self) -> Self:
        self._started = self.clock()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _beat(self) -> None:
        delay = self.interval
        while not self._stop.wait(delay):
            if self.max_hold is not None and self.clock() - self._started >= self.max_hold:
                return self._lose(f"held for {self.max_hold:g} s, the task timeout")
            try:
                if not self.lease.renew():
                    return self._lose("another worker holds it")
                delay = self.interval
            except RedisError as fault:
                log.warning("could not renew lease %s: %s", self.lease.key, fault)
                delay = min(self.interval, 0.5)

    def _lose(self, reason: str) -> None:
        self.lost = reason
        log.warning("lease %s lost: %s", self.lease.key, reason)
        self.on_lost(reason)
