from __future__ import annotations

import logging
import threading
import time

import pytest
import requests
import responses

from runner.errors import GitHubAuthError, TransientError
from runner.github.rest import GitHubError, RestClient, parse_link_header
from tests.fakes.memory_cache import FakeClock, MemoryResponseCache

API = "https://api.github.com"
TOKEN = "s3cretT0kenValue1234567890abcdefABCDxyz"
ISSUES = f"{API}/repos/acme/agent-tasks/issues"
SECONDARY = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
             "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def clock():
    return FakeClock()


def client(clock: FakeClock, **kwargs) -> RestClient:
    kwargs.setdefault("cache", MemoryResponseCache())
    return RestClient(API, lambda: TOKEN, sleep=clock.sleep, clock=clock, **kwargs)


def issue(number: int) -> dict:
    return {"number": number, "title": f"Task {number}", "labels": [{"name": "copilot-agent"}]}


def test_rest_sends_github_headers_with_bearer_token(rsps, clock):
    rsps.get(f"{API}/user", json={"login": "octocat"})
    assert client(clock, user_agent="agent-runner/0.1").get("/user").json == {"login": "octocat"}
    headers = rsps.calls[0].request.headers
    assert headers["Accept"] == "application/vnd.github+json"
    assert headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["User-Agent"] == "agent-runner/0.1"


def test_rest_asks_token_provider_at_each_request(rsps, clock):
    tokens = iter(["ghs_first", "ghs_rotated"])
    rest = RestClient(API, lambda: next(tokens), sleep=clock.sleep, clock=clock)
    rsps.get(f"{API}/user", json={"login": "bot"})
    rest.get("/user")
    rest.get("/user")
    assert [c.request.headers["Authorization"] for c in rsps.calls] == ["Bearer ghs_first", "Bearer ghs_rotated"]


def test_rest_conditional_get_sends_etag_and_replays_body_on_304(rsps, clock):
    rsps.get(ISSUES, json=[issue(7)], headers={"ETag": 'W/"6a1f0c"'})
    rsps.get(ISSUES, status=304, headers={"ETag": 'W/"6a1f0c"'})
    rest = client(clock)
    first = rest.get_conditional("/repos/acme/agent-tasks/issues")
    second = rest.get_conditional("/repos/acme/agent-tasks/issues")
    assert "If-None-Match" not in rsps.calls[0].request.headers
    assert rsps.calls[1].request.headers["If-None-Match"] == 'W/"6a1f0c"'
    assert (first.status, first.changed) == (200, True)
    assert (second.status, second.changed, second.body) == (304, False, [issue(7)])
    assert (rest.stats.conditional_requests, rest.stats.not_modified) == (1, 1)


def test_rest_cache_key_ignores_param_order(rsps, clock):
    cache = MemoryResponseCache()
    rsps.get(ISSUES, json=[issue(7)], headers={"ETag": '"a1"'})
    rsps.get(ISSUES, status=304)
    rest = client(clock, cache=cache)
    rest.get_conditional("/repos/acme/agent-tasks/issues", {"state": "open", "labels": "copilot-agent"})
    rest.get_conditional("/repos/acme/agent-tasks/issues", {"labels": "copilot-agent", "state": "open"})
    assert list(cache.entries) == [f"{ISSUES}?labels=copilot-agent&state=open"]
    assert rsps.calls[1].request.headers["If-None-Match"] == '"a1"'


def test_rest_follows_next_link_as_given_and_remembers_it_across_304(rsps, clock):
    page2 = f"{API}/repositories/42/issues?labels=copilot-agent&page=2&per_page=100"
    link = f'<{page2}>; rel="next", <{page2}>; rel="last"'
    rsps.get(ISSUES, json=[issue(9)], headers={"ETag": 'W/"p1"', "Link": link})
    rsps.get(page2, json=[issue(3)], headers={"ETag": 'W/"p2"'})
    rsps.get(ISSUES, status=304)
    rsps.get(page2, status=304)
    rest = client(clock)
    params = {"labels": "copilot-agent", "per_page": 100}
    assert rest.get_all("/repos/acme/agent-tasks/issues", params) == [issue(9), issue(3)]
    assert rest.get_all("/repos/acme/agent-tasks/issues", params) == [issue(9), issue(3)]
    assert [c.request.url for c in rsps.calls][1::2] == [page2, page2]
    assert rsps.calls[3].request.headers["If-None-Match"] == 'W/"p2"'


def test_rest_refreshes_unconditionally_every_nth_time(rsps, clock):
    rsps.get(ISSUES, json=[issue(7)], headers={"ETag": '"e1"'})
    rsps.get(ISSUES, status=304)
    rsps.get(ISSUES, status=304)
    rsps.get(ISSUES, json=[issue(7)], headers={"ETag": '"e1"'})
    rest = client(clock, refresh_every=3)
    pages = [rest.get_conditional("/repos/acme/agent-tasks/issues") for _ in range(4)]
    sent = ["If-None-Match" in c.request.headers for c in rsps.calls]
    assert sent == [False, True, True, False]
    assert [p.changed for p in pages] == [True, False, False, False]


def test_rest_refreshes_unconditionally_when_cache_is_old(rsps, clock):
    rsps.get(ISSUES, json=[issue(7)], headers={"ETag": '"e1"'})
    rsps.get(ISSUES, json=[issue(7), issue(8)], headers={"ETag": '"e2"'})
    rest = client(clock, refresh_age=3600)
    rest.get_conditional("/repos/acme/agent-tasks/issues")
    clock.advance(3601)
    page = rest.get_conditional("/repos/acme/agent-tasks/issues")
    assert "If-None-Match" not in rsps.calls[1].request.headers
    assert (page.changed, page.body) == (True, [issue(7), issue(8)])


def test_rest_waits_for_reset_when_remaining_is_zero(rsps, clock):
    reset = int(clock.now) + 120
    seen_at = []
    rsps.get(f"{API}/user", json={"login": "octocat"},
             headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)})
    rsps.add_callback(responses.GET, f"{API}/rate_limit",
                      callback=lambda req: seen_at.append(clock.now) or (200, {}, "{}"))
    rest = client(clock)
    rest.get("/user")
    assert clock.sleeps == []
    rest.get("/rate_limit")
    assert clock.sleeps == [121]
    assert seen_at[0] >= reset


def test_rest_gives_up_instead_of_waiting_when_stopping(rsps, clock):
    rsps.get(f"{API}/user", json={"login": "octocat"},
             headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(clock.now) + 600)})
    stop = threading.Event()
    rest = client(clock, stop_event=stop)
    rest.get("/user")
    stop.set()
    with pytest.raises(TransientError) as err:
        rest.get("/user")
    assert err.value.retry_after == pytest.approx(601)
    assert len(rsps.calls) == 1 and clock.sleeps == []


@pytest.mark.parametrize("status, headers, body, waits", [
    (403, {"retry-after": "30"}, SECONDARY, [30]),
    (429, {"retry-after": "5"}, {"message": "Too Many Requests"}, [5]),
    (429, {}, {"message": "Too Many Requests"}, [60]),
    (403, {}, SECONDARY, [60]),
    (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000300"},
     {"message": "API rate limit exceeded for user ID 1."}, [301]),
    (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000300000"},  # milliseconds, as in fixtures
     {"message": "API rate limit exceeded for user ID 1."}, [301]),
])
def test_rest_rate_limited_get_waits_then_succeeds(rsps, clock, status, headers, body, waits):
    rsps.get(f"{API}/user", status=status, json=body, headers=headers)
    rsps.get(f"{API}/user", json={"login": "octocat"})
    assert client(clock).get("/user").json == {"login": "octocat"}
    assert clock.sleeps == waits
    assert len(rsps.calls) == 2


def test_rest_secondary_limit_without_headers_doubles_and_gives_up(rsps, clock):
    rsps.get(f"{API}/user", status=429, json={"message": "Too Many Requests"})
    rest = client(clock, max_attempts=3, secondary_wait=60)
    with pytest.raises(TransientError) as err:
        rest.get("/user")
    assert len(rsps.calls) == 3
    assert clock.sleeps == [60, 120]
    assert "3 attempt" in str(err.value)
    assert type(err.value) is TransientError


def test_rest_retries_write_after_secondary_limit(rsps, clock):
    url = f"{API}/repos/acme/agent-tasks/issues/7/comments"
    rsps.post(url, status=403, json=SECONDARY, headers={"retry-after": "60"})
    rsps.post(url, status=201, json={"id": 1001, "body": "Working on it"})
    resp = client(clock).post("/repos/acme/agent-tasks/issues/7/comments", {"body": "Working on it"})
    assert resp.status == 201
    assert len(rsps.calls) == 2
    assert sum(clock.sleeps) == 60  # the write gap counts toward the back-off


def test_rest_spaces_writes_by_min_interval(rsps, clock):
    rsps.patch(f"{API}/repos/acme/agent-tasks/issues/comments/1001", json={"id": 1001})
    rest = client(clock, min_write_interval=1.0)
    rest.patch("/repos/acme/agent-tasks/issues/comments/1001", {"body": "a"})
    clock.advance(0.25)
    rest.patch("/repos/acme/agent-tasks/issues/comments/1001", {"body": "b"})
    assert clock.sleeps == [0.75]


def test_rest_spaces_writes_across_threads_on_real_clock(rsps):
    sent = []
    rsps.add_callback(responses.POST, f"{API}/repos/acme/agent-tasks/issues/7/labels",
                      callback=lambda req: sent.append(time.monotonic()) or (200, {}, "[]"))
    rest = RestClient(API, lambda: TOKEN, min_write_interval=0.05)
    threads = [threading.Thread(target=rest.post, args=("/repos/acme/agent-tasks/issues/7/labels", {"labels": ["x"]}))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    gaps = [b - a for a, b in zip(sent, sent[1:], strict=False)]
    assert len(sent) == 4
    assert min(gaps) >= 0.045


def test_rest_sends_one_request_at_a_time_across_threads(rsps):
    active, peak = [0], [0]

    def slow(request):
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        time.sleep(0.01)
        active[0] -= 1
        return 200, {}, "{}"

    rsps.add_callback(responses.GET, f"{API}/repos/acme/widgets", callback=slow)
    rest = RestClient(API, lambda: TOKEN)
    threads = [threading.Thread(target=rest.get, args=("/repos/acme/widgets",)) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert rest.stats.requests == 5 and peak[0] == 1


def test_rest_get_retries_502_then_succeeds(rsps, clock):
    rsps.get(f"{API}/repos/acme/widgets", status=502, body="<html>Bad Gateway</html>")
    rsps.get(f"{API}/repos/acme/widgets", json={"full_name": "acme/widgets"})
    rest = client(clock)
    assert rest.get("/repos/acme/widgets").json == {"full_name": "acme/widgets"}
    assert clock.sleeps == [1]
    assert rest.stats.retries == 1


def test_rest_get_retries_connection_errors_then_gives_up(rsps, clock):
    rsps.get(f"{API}/repos/acme/widgets", body=requests.ConnectionError("Connection reset by peer"))
    with pytest.raises(TransientError) as err:
        client(clock, max_attempts=4).get("/repos/acme/widgets")
    assert len(rsps.calls) == 4
    assert clock.sleeps == [1, 2, 4]
    assert "ConnectionError" in str(err.value)


@pytest.mark.parametrize("failure", [
    {"status": 502, "body": "Bad Gateway"},
    {"body": requests.Timeout("read timed out")},
])
def test_rest_write_fails_transiently_without_retry(rsps, clock, failure):
    rsps.post(f"{API}/repos/acme/widgets/pulls", **failure)
    with pytest.raises(TransientError):
        client(clock).post("/repos/acme/widgets/pulls", {"title": "Add /healthz", "head": "b", "base": "main"})
    assert len(rsps.calls) == 1
    assert clock.sleeps == []


def test_rest_401_raises_auth_error_without_retry(rsps, clock):
    rsps.get(f"{API}/user", status=401, json={"message": "Bad credentials"})
    with pytest.raises(GitHubAuthError, match="Bad credentials"):
        client(clock).get("/user")
    assert len(rsps.calls) == 1


@pytest.mark.parametrize("status, body, message", [
    (403, {"message": "Resource not accessible by integration"}, "Resource not accessible by integration"),
    (404, {"message": "Not Found"}, "Not Found"),
    (410, {"message": "Issues are disabled for this repo"}, "Issues are disabled for this repo"),
])
def test_rest_refusals_raise_github_error_at_once(rsps, clock, status, body, message):
    rsps.get(f"{API}/repos/acme/widgets/issues/7", status=status, json=body)
    with pytest.raises(GitHubError) as err:
        client(clock).get("/repos/acme/widgets/issues/7")
    assert (err.value.status, err.value.message) == (status, message)
    assert len(rsps.calls) == 1 and clock.sleeps == []


def test_rest_422_keeps_the_errors_list(rsps, clock):
    errors = [{"resource": "Label", "code": "invalid", "field": "color"}]
    rsps.post(f"{API}/repos/acme/widgets/labels", status=422, json={"message": "Validation Failed", "errors": errors})
    with pytest.raises(GitHubError) as err:
        client(clock).post("/repos/acme/widgets/labels", {"name": "agent-done", "color": "zzz"})
    assert err.value.errors == errors
    assert err.value.has_code("invalid") and "color" in str(err.value)


@pytest.mark.parametrize("status, body", [
    (401, {"message": f"Bad credentials for {TOKEN}"}),
    (404, {"message": "Not Found"}),
    (500, {"message": "Server Error"}),
    (None, requests.ConnectionError(f"refused with header Authorization: Bearer {TOKEN}")),
])
def test_rest_token_never_in_errors_logs_or_repr(rsps, clock, caplog, status, body):
    kwargs = {"status": status, "json": body} if status else {"body": body}
    rsps.get(f"{API}/repos/acme/widgets", **kwargs)
    rest = client(clock, max_attempts=2)
    with caplog.at_level(logging.DEBUG), pytest.raises(Exception) as err:
        rest.get("/repos/acme/widgets")
    texts = [repr(rest), repr(rest.stats), caplog.text]
    exc: BaseException | None = err.value
    while exc is not None:  # the whole chain: a library exception there would carry the request
        texts += [str(exc), repr(exc), repr(vars(exc))]
        exc = exc.__cause__ or exc.__context__
    assert not [t for t in texts if TOKEN in t]


def test_rest_refuses_to_send_token_to_another_host(rsps, clock):
    with pytest.raises(GitHubError, match="evil.example.com"):
        client(clock).get("https://evil.example.com/repositories/42/issues?page=2")
    assert len(rsps.calls) == 0


def test_parse_link_header_reads_github_links():
    value = ('<https://api.github.com/repositories/1000/issues?per_page=3&page=1>; rel="prev", '
             '<https://api.github.com/repositories/1000/issues?per_page=3&page=3>; rel="next", '
             '<https://api.github.com/repositories/1000/issues?per_page=3&page=5>; rel="last", '
             '<https://api.github.com/repositories/1000/issues?per_page=3&page=1>; rel="first"')
    links = parse_link_header(value)
    assert links["next"] == "https://api.github.com/repositories/1000/issues?per_page=3&page=3"
    assert sorted(links) == ["first", "last", "next", "prev"]
    assert parse_link_header(None) == {} and parse_link_header("") == {}
