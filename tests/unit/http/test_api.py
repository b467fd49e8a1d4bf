"""The endpoints over a real socket: routes, status codes, JSON task views."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest

from runner.github.values import RestStats
from runner.http.api import Api
from runner.http.health import PollWatch
from runner.http.metrics import Metrics
from runner.http.server import HttpListener
from runner.http.tasks import task_view
from runner.http.webhook import Router, WebhookReceiver, sign
from runner.state import Journal, TaskRecord
from tests.unit.http.payloads import aimed

SECRET = "whsec-unit-test"
TASK_ID = "550e8400-e29b-41d4-a716-446655440000"


class Poller:
    def poll(self):
        raise AssertionError("the API never polls")


@pytest.fixture
def served(tmp_path):
    journal = Journal(tmp_path / "state.db", clock=lambda: 1_750_000_000.0)
    journal.upsert(TaskRecord(TASK_ID, "acme/tasks", 7, "done", target_repo="acme/widgets",
                              branch=f"agent-task-{TASK_ID}", pr_number=3, pr_url="http://github.test/acme/widgets/pull/3", cost_usd=0.0123,
                              claimed_at=1_749_999_000.0))
    journal.upsert(TaskRecord("acme/tasks#8 odd id", "acme/tasks", 8, "failed", error="The change is empty"))
    looks = []
    stats = RestStats()
    metrics = Metrics(stats=stats, journal=journal, last_tick=lambda: None)
    receiver = WebhookReceiver(SECRET, journal, Router("acme/tasks", "copilot-agent", []), looks.append)
    api = Api(tasks=journal, metrics=metrics, watch=PollWatch(Poller()), stats=stats, last_tick=lambda: None,
              poll_interval=60, webhook=receiver)
    listener = HttpListener(api, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{listener.address[1]}", looks
    listener.stop()


def call(url, data=None, headers=None, method=None):
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def test_api_tasks_lists_the_journal_as_json(served):
    base, _ = served
    status, headers, body = call(base + "/tasks")
    tasks = json.loads(body)
    assert status == 200 and headers["Content-Type"] == "application/json"
    done = next(t for t in tasks if t["task_id"] == TASK_ID)
    assert done["state"] == "done" and done["dispatch_issue"] == "acme/tasks#7"
    assert done["pr_url"].endswith("/pull/3") and done["branch"] == f"agent-task-{TASK_ID}"
    assert done["cost_usd"] == 0.0123 and done["updated_at"] == "2025-06-15T15:06:40Z"
    assert done["claimed_at"] == "2025-06-15T14:50:00Z" and done["error"] is None


@pytest.mark.parametrize("path, status, state", [
    (f"/tasks/{TASK_ID}", 200, "done"),
    ("/tasks/acme%2Ftasks%238%20odd%20id", 200, "failed"),
    ("/tasks/no-such-task", 404, None),
])
def test_api_one_task_by_id(served, path, status, state):
    got_status, _, body = call(served[0] + path)
    assert got_status == status and json.loads(body).get("state") == state


def test_api_metrics_is_prometheus_text(served):
    status, headers, body = call(served[0] + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=")
    assert b"agent_runner_tasks{state=\"done\"} 1.0" in body


@pytest.mark.parametrize("path, method, status", [
    ("/healthz", "GET", 503),  # no round yet
    ("/readyz", "GET", 503),  # no poll yet
    ("/nowhere", "GET", 404),
    ("/tasks", "DELETE", 405),
    ("/webhook", "GET", 405),
])
def test_api_status_codes(served, path, method, status):
    assert call(served[0] + path, method=method)[0] == status


def test_api_signed_webhook_is_202_and_unsigned_is_401(served):
    base, looks = served
    body = aimed("issues.labeled", "acme/tasks", 7, "copilot-agent")
    headers = {"X-GitHub-Event": "issues", "X-GitHub-Delivery": "d-1", "Content-Type": "application/json"}
    assert call(base + "/webhook", body, headers)[0] == 401
    status, _, answer = call(base + "/webhook", body, {**headers, "X-Hub-Signature-256": sign(SECRET, body)})
    assert status == 202 and json.loads(answer)["result"] == "queued" and len(looks) == 1
    _, _, metrics = call(base + "/metrics")
    assert b'agent_runner_webhook_deliveries_total{result="unauthorized"} 1.0' in metrics


@pytest.mark.parametrize("request_head, status", [
    (b"POST /webhook HTTP/1.1\r\nHost: x\r\n\r\n", 411),
    (b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n", 413),
])
def test_api_refuses_bodies_it_will_not_read(served, request_head, status):
    port = int(served[0].rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(request_head)
        answer = b""
        while chunk := conn.recv(4096):  # the server closes: it will not read a body it refused
            answer += chunk
    assert answer.startswith(f"HTTP/1.1 {status}".encode())


def test_api_webhook_is_404_without_a_secret(tmp_path):
    journal = Journal(tmp_path / "state.db")
    stats = RestStats()
    api = Api(tasks=journal, metrics=Metrics(stats=stats, journal=journal, last_tick=lambda: None),
              watch=PollWatch(Poller()), stats=stats, last_tick=lambda: None, poll_interval=60)
    reply = api.handle("POST", "/webhook", {}, b"{}")
    assert reply.status == 404 and b"AGENT_WEBHOOK_SECRET" in reply.body


def test_task_view_shows_unknown_cost_as_null():
    view = task_view(TaskRecord("t", "acme/tasks", 1, "done", cost_usd=None, cost_known=False))
    assert view["cost_usd"] is None and view["created_at"] is None
