"""GitHub's write spacing shared by every worker process on a token (real redis-server)."""

from __future__ import annotations

import itertools
import time

from runner.queue.jobs import connect
from runner.queue.local_redis import free_port
from runner.queue.pacing import FleetWritePacer

KEY = "agent-runner:acme/tasks:write-slot"


def test_pacer_spaces_writes_of_several_processes_one_interval_apart(redis, redis_server):
    workers = [FleetWritePacer(connect(redis_server.url), KEY, interval=1.0) for _ in range(3)]
    waits = [workers[i % 3]() for i in range(6)]  # six writes, from three processes, at the same moment
    assert waits[0] == 0.0
    slots = sorted(waits)
    assert all(0.95 <= later - earlier <= 1.05 for earlier, later in itertools.pairwise(slots)), waits


def test_pacer_lets_a_write_through_at_once_when_the_last_was_long_ago(redis):
    pacer = FleetWritePacer(redis, KEY, interval=0.05)
    assert pacer() == 0.0
    assert pacer() > 0.0  # the second write right behind the first waits its turn
    time.sleep(0.2)
    assert pacer() == 0.0


def test_pacer_without_redis_steps_aside():
    pacer = FleetWritePacer(connect(f"redis://127.0.0.1:{free_port()}/0", timeout=1), KEY, interval=1.0)
    assert pacer() == 0.0  # each process still spaces its own writes

