"""``POST /webhook``: GitHub's signed deliveries turned into "look at this issue now".

Checks, in order: the ``X-Hub-Signature-256`` HMAC of the raw body (401 when missing or wrong,
compared in constant time), the ``X-GitHub-Delivery`` id (a redelivery is answered 200 and dropped),
then the event. ``issues``/``labeled`` with the agent label in the dispatch repo, and
``issue_comment``/``created`` in the dispatch repo or an allowed target, wake the poll loop at once;
every other event is acknowledged and ignored. Nothing slow happens here: GitHub wants an answer
within 10 s, and the loop's conditional poll does the real work. Polling stays the safety net, since
GitHub does not redeliver a failed delivery by itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs

log = logging.getLogger("runner.http.webhook")

MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
DELIVERY_TTL = 7 * 24 * 3600.0  # GitHub lets people redeliver deliveries of the past few days


class DeliveryLog(Protocol):
    """Remembers delivery ids (``runner.state.Journal.remember_once``)."""

    def remember_once(self, key: str, ttl: float) -> bool: ...


@dataclass(frozen=True)
class Look:
    """A delivery's request: look at ``repo#number`` now."""

    repo: str
    number: int
    event: str  # e.g. "issues.labeled"


@dataclass(frozen=True)
class Answer:
    """The HTTP answer: status and a small JSON body (GitHub shows it in the delivery log)."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)
    result: str = ""  # for metrics: accepted, ignored, duplicate, unauthorized, bad_request


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """``header`` is ``sha256=<hex HMAC-SHA256 of body>``; compared in constant time."""
    if not header:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode("utf-8", "replace"))


def sign(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body`` (tests and tools use it)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def parse_payload(body: bytes, content_type: str | None) -> Any:
    """The JSON payload; GitHub sends it raw (``application/json``) or form-encoded as ``payload=``."""
    if (content_type or "").split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        fields = parse_qs(body.decode("utf-8"), max_num_fields=10)
        return json.loads(fields["payload"][0])
    return json.loads(body.decode("utf-8"))


class Router:
    """Which events ask for a look, and at what. Repository names compare case-insensitively."""

    def __init__(self, dispatch_repo: str, label: str, comment_repos: Iterable[str]):
        self.dispatch = dispatch_repo.lower()
        self.label = label.lower()
        self.comment_repos = {r.lower() for r in comment_repos} | {self.dispatch}

    def route(self, event: str, payload: Any) -> tuple[Look | None, str]:
        """The look this delivery asks for (or None), and a short note for the answer."""
        if not isinstance(payload, dict):
            return None, "payload is not an object"
        action = payload.get("action")
        repo = _text(payload.get("repository"), "full_name")
        number = payload.get("issue", {}).get("number") if isinstance(payload.get("issue"), dict) else None
        if event == "issues" and action == "labeled":
            if repo.lower() != self.dispatch:
                return None, f"not the dispatch repository: {repo or '?'}"
            if _text(payload.get("label"), "name").lower() != self.label:
                return None, "not the agent label"
        elif event == "issue_comment" and action == "created":
            if repo.lower() not in self.comment_repos:
                return None, f"not a watched repository: {repo or '?'}"
        else:
            return None, f"event {event}{'.' + action if isinstance(action, str) else ''} is not handled"
        if not isinstance(number, int) or isinstance(number, bool):
            return None, "no issue number"
        return Look(repo, number, f"{event}.{action}"), "queued"


class WebhookReceiver:
    """Signature, redelivery and routing for one delivery; ``on_look`` must return at once."""

    def __init__(self, secret: str, deliveries: DeliveryLog, router: Router, on_look: Callable[[Look], None]):
        self._secret = secret
        self.deliveries = deliveries
        self.router = router
        self.on_look = on_look

    def receive(self, headers: Mapping[str, str], body: bytes) -> Answer:
        if not signature_ok(self._secret, body, headers.get("X-Hub-Signature-256")):
            log.warning("webhook delivery refused: missing or wrong X-Hub-Signature-256")
            return Answer(401, {"error": "missing or wrong X-Hub-Signature-256"}, "unauthorized")
        delivery = (headers.get("X-GitHub-Delivery") or "").strip()
        event = (headers.get("X-GitHub-Event") or "").strip()
        if not delivery or not event:
            return Answer(400, {"error": "X-GitHub-Delivery and X-GitHub-Event are required"}, "bad_request")
        if not self.deliveries.remember_once(f"webhook-delivery:{delivery[:200]}", DELIVERY_TTL):
            log.info("webhook delivery %s ignored: already received", delivery)
            return Answer(200, {"ok": True, "result": "duplicate", "note": "delivery already received"}, "duplicate")
        try:
            payload = parse_payload(body, headers.get("Content-Type"))
        except (ValueError, KeyError, IndexError):
            return Answer(400, {"error": "the body is not a JSON payload"}, "bad_request")
        look, note = self.router.route(event, payload)
        if look is None:
            log.debug("webhook delivery %s (%s) ignored: %s", delivery, event, note)
            return Answer(200, {"ok": True, "result": "ignored", "note": note}, "ignored")
        log.info("webhook %s: looking at %s#%d now", look.event, look.repo, look.number,
                 extra={"issue": look.number})
        self.on_look(look)
        return Answer(202, {"ok": True, "result": "queued", "issue": f"{look.repo}#{look.number}"}, "accepted")


def _text(obj: Any, key: str) -> str:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else ""
