"""An idle runner must cost no primary rate limit: conditional polls of an unchanged list, at any
poll interval, stay 304s until the hourly stale-ETag refresh (issue 5, bench/poll_cost.py)."""

from __future__ import annotations

import pytest
import responses

from runner.github.rest import RestClient
from tests.fakes.memory_cache import FakeClock, MemoryResponseCache

API = "https://api.github.com"
ISSUES = f"{API}/repos/acme/agent-tasks/issues"
LISTING = [{"number": 7, "title": "Old task", "labels": [{"name": "copilot-agent"}, {"name": "agent-done"}]}]


@pytest.mark.parametrize("interval,polls", [(2.0, 600), (60.0, 59)])
def test_rest_idle_polling_is_all_304s_within_the_hour(interval, polls):
    clock = FakeClock()
    with responses.RequestsMock() as rsps:
        rsps.get(ISSUES, json=LISTING, headers={"ETag": 'W/"list-v1"'})
        rsps.get(ISSUES, status=304)
        rest = RestClient(API, lambda: "t0ken-for-tests", cache=MemoryResponseCache(), sleep=clock.sleep, clock=clock)
        rest.get_conditional(ISSUES)
        for _ in range(polls):
            clock.advance(interval)
            rest.get_conditional(ISSUES)
        unconditional = [c for c in rsps.calls if "If-None-Match" not in c.request.headers]
    assert len(unconditional) == 1  # only the very first request, which primes the cache
    assert rest.stats.not_modified == polls
