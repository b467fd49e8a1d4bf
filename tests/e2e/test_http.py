"""The listener of `run` (AGENT_HTTP_PORT): signed webhooks act within a second, forged ones do
nothing, redeliveries are dropped; health, readiness, metrics and task status answer.

The runner polls only every 60 s here, so anything quick can only come from a webhook.
"""

from __future__ import annotations

import json
import signal
import socket
import time
import urllib.error
import urllib.request

import pytest

from runner.http.webhook import sign
from tests.e2e.conftest import DISPATCH, TARGET, kill_group
from tests.e2e.test_flow import BACKEND
from tests.unit.http.payloads import aimed, raw

SECRET = "e2e-webhook-secret-0f3a"
ISSUES_PATH = f"/repos/{DISPATCH}/issues"
SERIES = ("agent_runner_polls_total", "agent_runner_github_requests_total", "agent_runner_github_not_modified_ratio",
          "agent_runner_github_rate_limit_remaining", "agent_runner_tasks", "agent_runner_task_duration_seconds",
          "agent_runner_model_tokens_total", "agent_runner_model_cost_usd_total",
          "agent_runner_webhook_deliveries_total", "agent_runner_last_tick_timestamp_seconds")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def quiet(world, settle=0.5, timeout=10.0) -> bool:
    """True once no request reached the fake GitHub for ``settle`` seconds (a round is over)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = len(world.gh.requests)
        time.sleep(settle)
        if len(world.gh.requests) == count:
            return True
    return False


class Listener:
    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=5) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()
        except OSError:
            return 0, b""

    def deliver(self, event: str, body: bytes, delivery: str, signature: str | None = None) -> tuple[int, dict]:
        headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "Content-Type": "application/json",
                   "User-Agent": "GitHub-Hookshot/5f2e2c6",
                   "X-Hub-Signature-256": sign(SECRET, body) if signature is None else signature}
        request = urllib.request.Request(self.base + "/webhook", data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())


@pytest.fixture
def runner(world):
    port = free_port()
    proc = world.spawn("run", AGENT_POLL_INTERVAL="60", AGENT_HTTP_PORT=str(port), AGENT_WEBHOOK_SECRET=SECRET)
    listener = Listener(port)
    try:
        assert wait_for(lambda: listener.get("/healthz")[0] == 200, timeout=20), "the listener never came up"
        assert wait_for(lambda: listener.get("/readyz")[0] == 200, timeout=10)
        assert quiet(world), "the first round never ended"
        yield listener
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        kill_group(proc)


def _polls(world) -> list:
    return [r for r in world.gh.requests if r.method == "GET" and r.path == ISSUES_PATH]


def test_http_signed_webhook_starts_the_task_at_once_and_forgeries_do_nothing(world, runner):
    number = world.file_issue(BACKEND)
    body = aimed("issues.labeled", DISPATCH, number, "copilot-agent")

    before = len(world.gh.requests)
    status, _ = runner.deliver("issues", body, "d0c1e2f3-0001", signature=sign("a guess", body))
    assert status == 401
    status, _ = runner.deliver("issues", body, "d0c1e2f3-0001", signature="")
    assert status == 401
    time.sleep(1.0)
    assert len(world.gh.requests) == before and world.runner_comments(number) == []

    sent = time.monotonic()
    status, answer = runner.deliver("issues", body, "d0c1e2f3-0001")
    assert status == 202 and answer["issue"] == f"{DISPATCH}#{number}"
    assert wait_for(lambda: any(p.time >= sent for p in _polls(world)), timeout=1.0), "no poll within a second"
    assert wait_for(lambda: world.runner_comments(number), timeout=5.0), "no status comment"
    assert wait_for(lambda: "agent-done" in world.gh.labels_of(DISPATCH, number), timeout=60)

    polls = len(_polls(world))
    status, answer = runner.deliver("issues", body, "d0c1e2f3-0001")  # GitHub's "Redeliver" button
    assert status == 200 and answer["result"] == "duplicate"
    status, answer = runner.deliver("ping", raw("ping"), "d0c1e2f3-0002")
    assert status == 200 and answer["result"] == "ignored"
    time.sleep(1.0)
    assert len(_polls(world)) == polls
    assert len(world.prs()) == 1 and len(world.runner_comments(number)) == 1

    status, listed = runner.get("/tasks")
    assert status == 200
    [task] = json.loads(listed)
    assert task["state"] == "done" and task["dispatch_issue"] == f"{DISPATCH}#{number}"
    assert task["pr_url"] == world.prs()[0]["html_url"] and task["branch"].startswith("agent-task-")
    assert json.loads(runner.get(f"/tasks/{task['task_id']}")[1]) == task
    assert json.loads(world.cli("status", "--json").stdout) == [task]

    status, metrics = runner.get("/metrics")
    text = metrics.decode()
    assert status == 200 and all(name in text for name in SERIES)
    assert 'agent_runner_tasks{state="done"} 1.0' in text
    assert 'agent_runner_webhook_deliveries_total{result="unauthorized"} 2.0' in text
    assert 'agent_runner_webhook_deliveries_total{result="duplicate"} 1.0' in text
    assert 'agent_runner_task_duration_seconds_count{outcome="done"} 1.0' in text


def test_http_readyz_turns_503_once_the_rate_limit_is_exhausted(world, runner):
    world.gh.set_rate_remaining(0, reset_in=60)
    # A comment on a target PR is a reason to look now: the poll meets the exhausted limit.
    status, _ = runner.deliver("issue_comment", aimed("issue_comment.created", TARGET, 1), "e1f2a3b4-0001")
    assert status == 202
    assert wait_for(lambda: runner.get("/readyz")[0] == 503, timeout=5)
    status, body = runner.get("/readyz")
    assert "rate limit exhausted" in json.loads(body)["reason"]
    assert runner.get("/healthz")[0] == 200  # waiting out a rate limit is what a live loop does
    assert "agent_runner_github_rate_limit_remaining 0.0" in runner.get("/metrics")[1].decode()
