from __future__ import annotations

import pytest
import responses

from runner.github.poller import Poller, eligible
from runner.github.rest import RestClient
from tests.fakes.memory_cache import FakeClock, MemoryResponseCache

API = "https://api.github.com"
PAGE1 = f"{API}/repos/acme/agent-tasks/issues?labels=copilot-agent&per_page=100&state=open"
PAGE2 = f"{API}/repositories/42/issues?labels=copilot-agent&per_page=100&state=open&page=2"


def issue(number: int, *labels: str, **extra) -> dict:
    return {"number": number, "title": f"Task {number}", "state": "open",
            "labels": [{"id": 100 + i, "name": name} for i, name in enumerate(labels)], **extra}


PR = issue(12, "copilot-agent", pull_request={"url": f"{API}/repos/acme/agent-tasks/pulls/12"})


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def make_poller(cache: MemoryResponseCache | None = None) -> Poller:
    clock = FakeClock()
    rest = RestClient(API, lambda: "test-token", cache=cache or MemoryResponseCache(), sleep=clock.sleep, clock=clock)
    return Poller(rest, "acme/agent-tasks", "copilot-agent")


def serve_two_pages(rsps, first: list, second: list) -> None:
    rsps.get(PAGE1, json=first, headers={"ETag": 'W/"p1"', "Link": f'<{PAGE2}>; rel="next"'})
    rsps.get(PAGE2, json=second, headers={"ETag": 'W/"p2"'})


def test_poller_lists_every_page_without_pull_requests(rsps):
    serve_two_pages(rsps, [issue(14, "copilot-agent"), PR], [issue(3, "copilot-agent", "agent-done")])
    result = make_poller().poll()
    assert [i["number"] for i in result.issues] == [14, 3]
    assert (result.changed, result.requests) == (True, 2)
    assert [c.request.url for c in rsps.calls] == [PAGE1, PAGE2]


def test_poller_idle_poll_is_unchanged_and_replays_cached_issues(rsps):
    serve_two_pages(rsps, [issue(14, "copilot-agent")], [issue(3, "copilot-agent")])
    rsps.get(PAGE1, status=304)
    rsps.get(PAGE2, status=304)
    poller = make_poller()
    poller.poll()
    result = poller.poll()
    assert [i["number"] for i in result.issues] == [14, 3]
    assert (result.changed, result.requests) == (False, 2)
    assert [c.request.headers.get("If-None-Match") for c in rsps.calls[2:]] == ['W/"p1"', 'W/"p2"']
    assert poller.rest.stats.not_modified == 2


def test_poller_reports_change_when_one_page_changed(rsps):
    serve_two_pages(rsps, [issue(14, "copilot-agent")], [issue(3, "copilot-agent")])
    rsps.get(PAGE1, status=304)
    rsps.get(PAGE2, json=[issue(3, "copilot-agent", "agent-processing")], headers={"ETag": 'W/"p2b"'})
    poller = make_poller()
    poller.poll()
    result = poller.poll()
    assert result.changed is True
    assert result.issues[1]["labels"][1]["name"] == "agent-processing"


def test_poller_cache_survives_a_new_client(rsps):
    cache = MemoryResponseCache()
    rsps.get(PAGE1, json=[issue(14, "copilot-agent")], headers={"ETag": 'W/"p1"'})
    rsps.get(PAGE1, status=304)
    make_poller(cache).poll()
    result = make_poller(cache).poll()  # as after a restart with a persisted cache
    assert result.changed is False and [i["number"] for i in result.issues] == [14]


SKIP = ("agent-processing", "agent-done", "agent-failed")


@pytest.mark.parametrize("item, expected", [
    (issue(1, "copilot-agent"), True),
    (issue(2, "Copilot-Agent", "bug"), True),
    (issue(3, "copilot-agent", "agent-processing"), False),
    (issue(4, "copilot-agent", "agent-done"), False),
    (issue(5, "copilot-agent", "agent-failed"), False),
    (issue(6, "bug"), False),
    (PR, False),
    ({**issue(7, "copilot-agent"), "state": "closed"}, False),
])
def test_eligible_keeps_labelled_open_issues_without_state_labels(item, expected):
    assert (eligible([item], label="copilot-agent", skip_labels=SKIP) == [item]) is expected
