"""/healthz and /readyz verdicts from what the loop and the REST client left behind."""

from __future__ import annotations

import pytest

from runner.errors import GitHubAuthError, TransientError
from runner.github.poller import PollResult
from runner.github.values import RestStats
from runner.http.health import PollWatch, liveness, readiness

NOW = 1_750_000_000.0


@pytest.mark.parametrize("last_tick, stats, ok", [
    (None, RestStats(), False),  # not started
    (NOW - 5, RestStats(), True),
    (NOW - 3 * 60 - 500, RestStats(), True),  # a slow round on a slow GitHub is still alive
    (NOW - 3600, RestStats(), False),  # the loop is stuck
    (NOW - 3600, RestStats(rate_limit_remaining=0, rate_limit_reset=NOW + 600), True),  # waiting out a limit
    (NOW - 3600, RestStats(rate_limit_remaining=0, rate_limit_reset=NOW - 10), False),
])
def test_liveness_follows_the_loops_last_round(last_tick, stats, ok):
    probe = liveness(last_tick, 60.0, stats, NOW)
    assert probe.ok is ok and probe.status == (200 if ok else 503)


class ScriptedPoller:
    def __init__(self):
        self.fault = None

    def poll(self):
        if self.fault:
            raise self.fault
        return PollResult(issues=[], changed=False, requests=1)


def watched(results):
    poller = ScriptedPoller()
    clock = iter(range(1, 100))
    watch = PollWatch(poller, results.append, clock=lambda: float(next(clock)))
    return poller, watch


def test_readiness_needs_a_successful_poll():
    results = []
    _, watch = watched(results)
    assert readiness(watch, RestStats(), NOW).body["reason"] == "no poll yet"
    watch.poll()
    assert readiness(watch, RestStats(rate_limit_remaining=4999), NOW).ok
    assert results == ["unchanged"]


@pytest.mark.parametrize("fault, reason", [
    (TransientError("GET /repos/acme/tasks/issues failed: ConnectionError"), "GitHub: GET /repos/acme/tasks/issues"),
    (GitHubAuthError("GitHub answered 401; check GITHUB_TOKEN"), "check GITHUB_TOKEN"),
])
def test_readiness_is_503_while_github_fails(fault, reason):
    results = []
    poller, watch = watched(results)
    watch.poll()
    poller.fault = fault
    with pytest.raises(TransientError):
        watch.poll()
    probe = readiness(watch, RestStats(), NOW)
    assert probe.status == 503 and reason in probe.body["reason"]
    poller.fault = None
    watch.poll()  # GitHub is back
    assert readiness(watch, RestStats(), NOW).ok
    assert results == ["unchanged", "failed", "unchanged"]


def test_readiness_is_503_while_the_rate_limit_is_exhausted():
    _, watch = watched([])
    watch.poll()
    probe = readiness(watch, RestStats(rate_limit_remaining=0, rate_limit_reset=NOW + 60), NOW)
    assert probe.status == 503 and "rate limit exhausted" in probe.body["reason"]
    assert readiness(watch, RestStats(rate_limit_remaining=0, rate_limit_reset=NOW - 1), NOW).ok
