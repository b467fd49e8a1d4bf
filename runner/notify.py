"""Completion notifications (``AGENT_NOTIFY_URL``): one signed JSON POST per terminal task state.

A task never waits for its notification: ``notify`` queues the event and returns; one daemon thread
posts it, retrying with exponential backoff on connection faults, timeouts, 429 and 5xx. A delivery
that keeps failing is logged and counted, never raised. docs/notifications.md is the receiver's side.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Protocol

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from runner import __version__
from runner.config import Settings
from runner.ports import Task
from runner.state import TaskRecord

log = logging.getLogger("runner.notify")

SIGNATURE_HEADER = "X-Agent-Signature-256"
DELIVERY_HEADER = "X-Agent-Delivery"
EVENT = "task.finished"
QUEUE_LIMIT = 1000  # events waiting for delivery; past it new ones are dropped (and counted failed)
_STOP = object()


class Poster(Protocol):
    """What delivery needs of ``requests.Session``."""

    def post(self, url: str, *, data: bytes, headers: dict[str, str], timeout: float) -> Any: ...


class _Retryable(Exception):
    """An answer or a fault that a later attempt may get past."""


def sign(secret: str, body: bytes) -> str:
    """The ``X-Agent-Signature-256`` value: like GitHub's ``X-Hub-Signature-256``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def finished_event(task: Task, record: TaskRecord, *, state: str, error: str | None, pr_url: str | None,
                   branch: str | None, issue_url: str | None, finished_at: float) -> dict[str, Any]:
    """The payload for one terminal state (done, failed, refused); usage comes from the journal row."""
    return {
        "event": EVENT,
        "task_id": task.task_id,
        "user_id": task.user_id,
        "dispatch_issue": f"{task.dispatch_repo}#{task.issue_number}",
        "dispatch_issue_url": issue_url,
        "target_repo": task.target_repo,
        "pr_url": pr_url or record.pr_url,
        "branch": branch or record.branch,
        "state": state,
        "cost_usd": record.cost_usd if record.cost_known else None,
        "tokens_in": record.tokens_in,
        "tokens_out": record.tokens_out,
        "model": record.model,
        "error": error,
        "finished_at": datetime.fromtimestamp(finished_at, timezone.utc).isoformat(timespec="seconds"),
    }


class Notifier:
    """Delivers events to ``AGENT_NOTIFY_URL`` from one background thread.

    ``delivered`` and ``failed`` count outcomes (for ``/metrics``). ``close`` gives queued events a
    few seconds at shutdown, with retry waits cut short, so ``run --once`` delivers before it exits
    and never hangs on a dead endpoint."""

    def __init__(self, settings: Settings, *, session: Poster | None = None,
                 sleep: Callable[[float], None] | None = None, attempts: int = 5, timeout: float = 5.0,
                 max_wait: float = 16.0):
        if not settings.notify_url:
            raise ValueError("Notifier needs AGENT_NOTIFY_URL")
        self.url, self._secret = settings.notify_url, settings.notify_secret
        self._session = session or requests.Session()
        self._attempts, self._timeout, self._max_wait = attempts, timeout, max_wait
        self._closing = threading.Event()
        self._sleep = sleep or self._pause
        self._user_agent = f"{settings.name} (agent-runner/{__version__})"
        self._queue: queue.Queue[Any] = queue.Queue(QUEUE_LIMIT)
        self._lock = threading.Lock()
        self.delivered = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._loop, name="notifier", daemon=True)
        self._thread.start()

    def notify(self, event: dict[str, Any]) -> None:
        """Queue ``event`` for delivery; returns at once and never raises for delivery problems."""
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._count(delivered=False)
            log.warning("notification dropped: %d are already waiting", QUEUE_LIMIT,
                        extra={"task_id": event.get("task_id")})

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued, for at most ``timeout`` seconds; what is left is logged as lost."""
        self._closing.set()
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            pass
        self._thread.join(timeout)
        left = self._queue.qsize()
        if self._thread.is_alive() and left:
            log.warning("%d notification(s) not delivered before shutdown", left)

    # -- the delivery thread -----------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            event = self._queue.get()
            if event is _STOP:
                return
            try:
                self._deliver(event)
            except Exception:  # noqa: BLE001 - a bug here must not end the thread for later events
                self._count(delivered=False)
                log.exception("notification failed", extra={"task_id": event.get("task_id")})

    def _deliver(self, event: dict[str, Any]) -> None:
        body = json.dumps(event, sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "User-Agent": self._user_agent,
                   DELIVERY_HEADER: str(uuid.uuid4())}  # the same on every retry: receivers can dedupe
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, body)
        retrying = Retrying(stop=stop_after_attempt(self._attempts), sleep=self._sleep, reraise=True,
                            wait=wait_exponential(multiplier=1, max=self._max_wait),
                            retry=retry_if_exception_type(_Retryable))
        extra = {"task_id": event.get("task_id")}
        try:
            status = retrying(self._post, body, headers)
        except (_Retryable, _Refused) as fault:
            self._count(delivered=False)
            log.warning("notification to %s not delivered: %s", _host(self.url), fault, extra=extra)
            return
        self._count(delivered=True)
        log.info("notification delivered (HTTP %d)", status, extra=extra)

    def _post(self, body: bytes, headers: dict[str, str]) -> int:
        try:
            answer = self._session.post(self.url, data=body, headers=headers, timeout=self._timeout)
        except (requests.ConnectionError, requests.Timeout) as fault:
            raise _Retryable(f"{type(fault).__name__}") from None
        status = int(answer.status_code)
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status}")
        if status >= 300:  # 4xx: the receiver rejects this payload; sending it again cannot help
            raise _Refused(f"HTTP {status}")
        return status

    def _pause(self, seconds: float) -> None:
        # At shutdown the remaining attempts go out with only a token pause, bounded by close().
        self._closing.wait(seconds)
        if self._closing.is_set():
            time.sleep(min(seconds, 0.2))

    def _count(self, *, delivered: bool) -> None:
        with self._lock:
            if delivered:
                self.delivered += 1
            else:
                self.failed += 1


class _Refused(Exception):
    """The receiver answered 4xx (other than 429)."""


def _host(url: str) -> str:
    """The URL without path or query (which may carry a token) for logs."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"


def collector(notifier: Notifier) -> Any:
    """A Prometheus collector: ``agent_runner_notifications_total{outcome="delivered|failed"}``."""
    from prometheus_client.core import CounterMetricFamily
    from prometheus_client.registry import Collector

    class _Notifications(Collector):
        def collect(self):
            family = CounterMetricFamily("agent_runner_notifications", "Completion notifications "
                                         "(AGENT_NOTIFY_URL), by outcome.", labels=["outcome"])
            family.add_metric(["delivered"], notifier.delivered)
            family.add_metric(["failed"], notifier.failed)
            yield family

    return _Notifications()
