"""The listener's endpoints, as a plain function of (method, path, headers, body) -> Reply, so tests
call it without a socket. The server in ``server.py`` only moves bytes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from runner.github.values import RestStats
from runner.http.health import PollWatch, liveness, readiness
from runner.http.metrics import Metrics
from runner.http.tasks import TaskSource, find_task, task_views
from runner.http.webhook import WebhookReceiver

JSON = "application/json"


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = JSON


def json_reply(status: int, data: Any) -> Reply:
    return Reply(status, (json.dumps(data, indent=2) + "\n").encode())


class Api:
    """``POST /webhook``; ``GET /healthz``, ``/readyz``, ``/metrics``, ``/tasks``, ``/tasks/{task_id}``."""

    def __init__(self, *, tasks: TaskSource, metrics: Metrics, watch: PollWatch, stats: RestStats,
                 last_tick: Callable[[], float | None], poll_interval: float,
                 webhook: WebhookReceiver | None = None, clock: Callable[[], float] = time.time):
        self.tasks, self.metrics, self.watch, self.stats = tasks, metrics, watch, stats
        self.last_tick, self.poll_interval = last_tick, poll_interval
        self.webhook, self.clock = webhook, clock

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes = b"") -> Reply:
        path = urlsplit(target).path.rstrip("/") or "/"
        if path == "/webhook":
            return self._webhook(method, headers, body)
        if method not in ("GET", "HEAD"):
            return json_reply(405, {"error": f"{method} is not allowed here"})
        if path == "/healthz":
            probe = liveness(self.last_tick(), self.poll_interval, self.stats, self.clock())
            return json_reply(probe.status, probe.body)
        if path == "/readyz":
            probe = readiness(self.watch, self.stats, self.clock())
            return json_reply(probe.status, probe.body)
        if path == "/metrics":
            text, content_type = self.metrics.render()
            return Reply(200, text, content_type)
        if path == "/tasks":
            return json_reply(200, task_views(self.tasks))
        if path.startswith("/tasks/"):
            found = find_task(self.tasks, unquote(path[len("/tasks/"):]))
            return json_reply(200, found) if found else json_reply(404, {"error": "no such task"})
        return json_reply(404, {"error": "not found"})

    def _webhook(self, method: str, headers: Mapping[str, str], body: bytes) -> Reply:
        if self.webhook is None:
            return json_reply(404, {"error": "webhooks are off: set AGENT_WEBHOOK_SECRET"})
        if method != "POST":
            return json_reply(405, {"error": "use POST"})
        answer = self.webhook.receive(headers, body)
        self.metrics.webhooks.labels(answer.result).inc()
        return json_reply(answer.status, answer.body)
