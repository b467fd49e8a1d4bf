"""AGENT_NOTIFY_URL end to end: the real CLI, `run --once`, a local receiver recording each POST."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.e2e.conftest import TARGET
from tests.e2e.test_flow import BACKEND, PLAIN

SECRET = "hook-secret-5f1c"


class Receiver:
    """A backend's hook endpoint: answers from ``statuses`` in turn (then 200), records every POST."""

    def __init__(self, *statuses: int):
        self.statuses, self.posts = list(statuses), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.posts.append((body, {k.lower(): v for k, v in self.headers.items()}))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/agent-hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict]:
        return [json.loads(body) for body, _ in self.posts]


def signed_correctly(body: bytes, headers: dict[str, str]) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get("x-agent-signature-256", ""), expected)


def test_notify_done_task_posts_one_signed_event_with_the_pr(world):
    with Receiver() as hook:
        number = world.file_issue(BACKEND)
        result = world.cli("run", "--once", AGENT_NOTIFY_URL=hook.url, AGENT_NOTIFY_SECRET=SECRET)
    assert result.returncode == 0, result.stderr
    [pr] = world.prs()
    [(body, headers)] = hook.posts
    assert signed_correctly(body, headers)
    event = json.loads(body)
    assert event["event"] == "task.finished" and event["state"] == "done" and event["error"] is None
    assert event["task_id"] == "550e8400-e29b-41d4-a716-446655440000" and event["user_id"] == "user-123"
    assert event["pr_url"] == pr["html_url"] and event["dispatch_issue"] == f"acme/tasks#{number}"
    assert event["target_repo"] == TARGET and SECRET not in result.stderr


def test_notify_refused_task_posts_the_reason(world):
    with Receiver() as hook:
        world.file_issue(PLAIN, author="reader")
        result = world.cli("run", "--once", AGENT_NOTIFY_URL=hook.url, AGENT_NOTIFY_SECRET=SECRET)
    assert result.returncode == 1, result.stderr  # the contract: a task that did not end done
    [(body, headers)] = hook.posts
    assert signed_correctly(body, headers)
    event = json.loads(body)
    assert event["state"] == "refused" and event["pr_url"] is None and "@reader" in event["error"]


def test_notify_server_error_is_retried_until_delivered(world):
    with Receiver(500) as hook:
        world.file_issue(BACKEND)
        result = world.cli("run", "--once", AGENT_NOTIFY_URL=hook.url, AGENT_NOTIFY_SECRET=SECRET)
    assert result.returncode == 0, result.stderr
    assert [e["state"] for e in hook.events()] == ["done", "done"]
    first, second = (headers["x-agent-delivery"] for _, headers in hook.posts)
    assert first == second and all(signed_correctly(b, h) for b, h in hook.posts)
    assert "notification delivered" in result.stderr


@pytest.fixture
def dead_url():
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/agent-hook"


def test_notify_dead_endpoint_neither_fails_nor_holds_the_task(world, dead_url):
    number = world.file_issue(BACKEND)
    started = time.monotonic()
    result = world.cli("run", "--once", AGENT_NOTIFY_URL=dead_url)
    assert result.returncode == 0, result.stderr
    assert "agent-done" in world.gh.labels_of("acme/tasks", number) and len(world.prs()) == 1
    # every attempt was made (waits cut short at exit), then given up, and the exit was not held
    assert f"notification to {dead_url.removesuffix('/agent-hook')} not delivered: ConnectionError" in result.stderr
    assert time.monotonic() - started < 20
