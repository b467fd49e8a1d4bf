"""A webhook's poke makes the poll loop start a round at once instead of after the interval."""

from __future__ import annotations

import threading
import time

from runner import config
from runner.github.poller import PollResult
from runner.service import Service
from runner.state import Journal
from tests.fakes.fake_hub import FakeHub

SETTINGS = config.from_mapping({"GITHUB_TOKEN": "t", "AGENT_DISPATCH_REPO": "acme/tasks",
                                "AGENT_POLL_INTERVAL": "60"})


class CountingPoller:
    def __init__(self):
        self.polls = threading.Semaphore(0)
        self.count = 0
        self.hold = threading.Event()
        self.hold.set()

    def poll(self):
        self.count += 1
        self.polls.release()
        self.hold.wait(5)
        return PollResult(issues=[], changed=False, requests=1)


def test_service_poke_starts_a_round_at_once(tmp_path):
    poller = CountingPoller()
    service = Service(SETTINGS, poller, pipeline=None, hub=FakeHub(), journal=Journal(tmp_path / "state.db"))
    loop = threading.Thread(target=service.run_forever)
    loop.start()
    try:
        assert poller.polls.acquire(timeout=5)  # the first round
        started = time.monotonic()
        service.poke(12)
        assert poller.polls.acquire(timeout=5)
        assert time.monotonic() - started < 2  # not the 60 s interval
        poller.hold.clear()
        service.poke(12)
        assert poller.polls.acquire(timeout=5)  # a round is running...
        for number in (13, 14, 15):  # ...while more webhooks arrive: they make one more round, not three
            service.poke(number)
        poller.hold.set()
        assert poller.polls.acquire(timeout=5)
        assert not poller.polls.acquire(timeout=1.2)
    finally:
        service.request_stop()
        loop.join(timeout=10)
    assert not loop.is_alive() and poller.count == 4
