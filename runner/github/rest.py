"""The one HTTP layer that talks to GitHub's REST API (see GITHUB_RULES.md).

It owns the token, the ETag cache, the rate-limit headers, ``retry-after``, back-off and the write
queue. Reads are conditional where asked; requests go one at a time; writes are spaced. GETs are
retried on 5xx and network errors; writes are not (a retried POST can duplicate a comment or PR), so
the caller gets a TransientError and looks for the write's earlier effect before trying again.
Writes are retried after a rate limit, which guarantees they did not take effect.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from runner.errors import GitHubAuthError, TransientError
from runner.github.ratelimit import RateLimitState, header_number
from runner.github.values import GitHubError, Page, Response, RestStats, parse_link_header
from runner.github.wire import BearerAuth, MemoryCache, build_url, decode, error_message
from runner.ports import CachedResponse, ResponseCache

__all__ = ["GitHubError", "Page", "Response", "RestClient", "RestStats", "parse_link_header"]

log = logging.getLogger(__name__)

# GitHub asks integrations not to send concurrent requests: one exchange at a time in this process.
_EXCHANGE_LOCK = threading.Lock()
_SHORT_WAIT = 5.0  # waits up to this long still happen while stopping; longer ones give up


class _RateLimited(TransientError):
    """403/429 rate limit: the request did not take effect, so even a write may be sent again."""


class _ServerTrouble(TransientError):
    """5xx, timeout or connection error: a write may or may not have taken effect."""


class RestClient:
    """GitHub REST session: conditional reads, rate limits, retries and a spaced write queue.

    Share one instance per token: the write spacing and the rate-limit state live in it.
    ``cache`` persists ETags across restarts (None: kept in memory only). ``sleep`` and ``clock``
    are injectable so tests do not wait; ``stop_event`` makes long waits give up during shutdown.
    """

    def __init__(self, base_url: str, token_provider: Callable[[], str], *, cache: ResponseCache | None = None,
                 user_agent: str = "agent-runner", timeout: float = 30, min_write_interval: float = 1.0,
                 secondary_wait: float = 60.0, max_attempts: int = 4, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time, stop_event: threading.Event | None = None,
                 refresh_every: int = 0, refresh_age: float = 3600.0,
                 write_pacer: Callable[[], float] | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.min_write_interval = min_write_interval
        self.max_attempts = max(1, max_attempts)
        # ETags can go stale: a cached body older than refresh_age is fetched unconditionally (one
        # unit an hour while idle); refresh_every > 0 also makes every Nth conditional GET of a URL
        # unconditional (off by default: at a 2 s poll interval every 50th would cost 36 units/hour).
        self.refresh_every = refresh_every
        self.refresh_age = refresh_age
        self.stats = RestStats()
        self._cache: ResponseCache = cache if cache is not None else MemoryCache()
        self._auth = BearerAuth(token_provider)
        self._sleep, self._clock, self._stop = sleep, clock, stop_event
        self._limits = RateLimitState(secondary_wait)
        self._write_lock = threading.Lock()
        self._last_write_done: float | None = None
        self._write_pacer = write_pacer  # queue mode: seconds to wait so writes stay spaced fleet-wide
        self._conditional_counts: dict[str, int] = {}
        self._session = requests.Session()
        self._session.headers.update({
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": user_agent,
        })

    def __repr__(self) -> str:
        return f"RestClient({self.base_url!r})"

    def close(self) -> None:
        self._session.close()

    def url_for(self, path_or_url: str, params: dict[str, Any] | None = None) -> str:
        """The absolute request URL, which is also the ETag cache key."""
        return build_url(self.base_url, path_or_url, params)

    # --- reads -------------------------------------------------------------------------------------

    def get(self, path_or_url: str, params: dict[str, Any] | None = None) -> Response:
        """Plain GET, retried on 5xx and network errors. Raises GitHubError on 4xx."""
        return self._call("GET", self.url_for(path_or_url, params))

    def get_conditional(self, path_or_url: str, params: dict[str, Any] | None = None) -> Page:
        """GET with ``If-None-Match`` from the cache; a 304 (free of rate limit) replays the cached page."""
        url = self.url_for(path_or_url, params)
        cached = self._cache.get(url)
        send_etag = cached is not None and not self._refresh_due(url, cached)
        resp = self._call("GET", url, headers={"If-None-Match": cached.etag} if send_etag and cached else None)
        if resp.status == 304:
            if cached is None:
                raise TransientError(f"GitHub answered 304 to GET {urlsplit(url).path} with nothing cached")
            return Page(cached.body, 304, cached.etag, cached.next_url, changed=False)
        next_url = parse_link_header(resp.headers.get("link")).get("next")
        etag = resp.headers.get("etag")
        if etag:
            self._cache.put(url, CachedResponse(etag, resp.json, next_url, self._clock()))
        changed = cached is None or cached.body != resp.json or cached.next_url != next_url
        return Page(resp.json, resp.status, etag, next_url, changed)

    def iter_pages(self, path_or_url: str, params: dict[str, Any] | None = None, *,
                   conditional: bool = True) -> Iterator[Page]:
        """Every page of a list, following ``rel="next"`` links exactly as given."""
        url: str | None = self.url_for(path_or_url, params)
        seen: set[str] = set()
        while url and url not in seen:  # a link loop must not poll forever
            seen.add(url)
            page = self.get_conditional(url) if conditional else self._plain_page(url)
            yield page
            url = page.next_url

    def get_all(self, path: str, params: dict[str, Any] | None = None, *, conditional: bool = True) -> list[Any]:
        """All items of a paginated list. Use ``conditional=False`` where a stale answer could
        cause a duplicate write or a wrong authorization decision."""
        items: list[Any] = []
        for page in self.iter_pages(path, params, conditional=conditional):
            items.extend(page.body if isinstance(page.body, list) else [page.body])
        return items

    def _plain_page(self, url: str) -> Page:
        resp = self._call("GET", url)
        next_url = parse_link_header(resp.headers.get("link")).get("next")
        return Page(resp.json, resp.status, resp.headers.get("etag"), next_url, changed=True)

    def _refresh_due(self, key: str, cached: CachedResponse) -> bool:
        count = self._conditional_counts.get(key, 0) + 1
        self._conditional_counts[key] = count
        nth = self.refresh_every > 0 and count % self.refresh_every == 0
        return nth or self._clock() - cached.fetched_at > self.refresh_age

    # --- writes ------------------------------------------------------------------------------------

    def post(self, path: str, json: Any = None) -> Response:
        return self._call("POST", self.url_for(path), json=json)

    def patch(self, path: str, json: Any = None) -> Response:
        return self._call("PATCH", self.url_for(path), json=json)

    def put(self, path: str, json: Any = None) -> Response:
        return self._call("PUT", self.url_for(path), json=json)

    def delete(self, path: str, json: Any = None) -> Response:
        return self._call("DELETE", self.url_for(path), json=json)

    # --- the exchange ------------------------------------------------------------------------------

    def _call(self, method: str, url: str, *, json: Any = None, headers: dict[str, str] | None = None) -> Response:
        retryable = (_RateLimited,) if method != "GET" else (_RateLimited, _ServerTrouble)
        retrying = Retrying(
            retry=retry_if_exception_type(retryable),
            stop=stop_after_attempt(self.max_attempts),
            wait=self._backoff,
            sleep=self._wait,
            before_sleep=self._note_retry,
            reraise=True,
        )
        try:
            return retrying(self._attempt, method, url, json, headers)
        except (_RateLimited, _ServerTrouble) as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            raise TransientError(f"{exc} (gave up after {attempts} attempt(s))", exc.retry_after) from None

    def _backoff(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _RateLimited):
            return 0.0  # the rate-limit gate in _exchange waits, for every thread alike
        if isinstance(exc, TransientError) and exc.retry_after:
            return exc.retry_after
        return wait_exponential(multiplier=1, min=1, max=30)(state)

    def _note_retry(self, state: RetryCallState) -> None:
        self.stats.retries += 1
        log.info("github request retried after attempt %d", state.attempt_number)

    def _attempt(self, method: str, url: str, json: Any, headers: dict[str, str] | None) -> Response:
        if method == "GET":
            return self._exchange(method, url, json, headers)
        with self._write_lock:  # a single write queue: one write at a time, spaced from the last
            if self._last_write_done is not None:
                self._wait(self._last_write_done + self.min_write_interval - self._clock())
            if self._write_pacer is not None:
                self._wait(self._write_pacer())
            try:
                return self._exchange(method, url, json, headers)
            finally:
                self._last_write_done = self._clock()

    def _exchange(self, method: str, url: str, json: Any, headers: dict[str, str] | None) -> Response:
        while True:
            self._gate()
            with _EXCHANGE_LOCK:
                if self._limits.wait_before_send(self._clock()) > 0:
                    continue  # a rate limit came in while this request queued for the lock: wait it out too
                self._count(method, headers)
                raw, failure = self._send(method, url, json, headers)
                if raw is None:
                    raise _ServerTrouble(f"{method} {urlsplit(url).path} failed: {failure}")
                resp = decode(raw)
                self._limits.observe(resp.headers)
                self.stats.rate_limit_remaining = self._limits.remaining
                self.stats.rate_limit_reset = self._limits.reset
                if resp.status == 304:
                    self.stats.not_modified += 1
            return self._check(method, url, resp)

    def _send(self, method: str, url: str, json: Any,
              headers: dict[str, str] | None) -> tuple[requests.Response | None, str]:
        """The raw exchange. A failure comes back as text, raised outside the ``except`` so no
        exception chain keeps the library's exception (its request carries the token)."""
        try:
            return self._session.request(method, url, json=json, headers=headers, auth=self._auth,
                                         timeout=self.timeout), ""
        except requests.RequestException as exc:
            return None, self._auth.scrub(f"{type(exc).__name__}: {exc}")

    def _count(self, method: str, headers: dict[str, str] | None) -> None:
        self.stats.requests += 1
        self.stats.writes += int(method != "GET")
        self.stats.conditional_requests += int(bool(headers and "If-None-Match" in headers))
        self.stats.last_request_at = self._clock()

    def _check(self, method: str, url: str, resp: Response) -> Response:
        status = resp.status
        if status < 300 or status == 304:
            self._limits.succeeded()
            return resp
        message = self._auth.scrub(error_message(resp))
        where = f"{method} {urlsplit(url).path}"
        if status == 401:
            raise GitHubAuthError(f"GitHub answered 401 to {where}: {message}; check GITHUB_TOKEN")
        if status in (403, 429):
            wait = self._limits.limit_wait(status, resp.headers, message, self._clock())
            if wait is not None:
                log.warning("github rate limit: %s answered %s, holding off %.0f s", where, status, wait)
                raise _RateLimited(f"GitHub rate limit on {where} ({status}): {message}", wait)
        if status >= 500:
            raise _ServerTrouble(f"GitHub answered {status} to {where}",
                                 header_number(resp.headers, "retry-after"))
        errors = resp.json.get("errors") if isinstance(resp.json, dict) else None
        raise GitHubError(status, message, errors=errors if isinstance(errors, list) else None,
                          method=method, url=url)

    def _gate(self) -> None:
        """Hold the request back while a rate limit is in force (primary reset or back-off)."""
        now = self._clock()
        wait = self._limits.wait_before_send(now)
        if wait > 0:
            log.warning("github rate limit: waiting %.0f s before the next request", wait)
            self._wait(wait)
            self._limits.waited(now + wait)

    def _wait(self, seconds: float) -> None:
        """Sleep, unless stopping: then a long wait becomes a TransientError (the claim is kept)."""
        if seconds <= 0:
            return
        stop = self._stop
        if stop is not None and stop.is_set() and seconds > _SHORT_WAIT:
            raise TransientError(f"shutting down: not waiting {seconds:.0f} s for GitHub", seconds)
        if stop is not None and self._sleep is time.sleep:
            # Real waiting: wake at once on shutdown instead of sleeping out a long rate limit.
            started = time.monotonic()
            if stop.wait(seconds):
                if seconds > _SHORT_WAIT:
                    raise TransientError(f"shutting down: not waiting {seconds:.0f} s for GitHub", seconds)
                time.sleep(max(0.0, seconds - (time.monotonic() - started)))
            return
        self._sleep(seconds)
