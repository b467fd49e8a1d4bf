"""Completion notifications: signed, retried, counted, and never in the task's way."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time

import pytest
import requests

from runner import config
from runner.notify import Notifier, collector, finished_event, sign
from runner.pipeline import Pipeline
from runner.ports import ChangeResult, RepoInfo, Task
from runner.state import Journal, TaskRecord
from runner.steps import StepRunner
from tests.fakes.fake_hub import FakeHub
from tests.fakes.fake_workspace import FakeWorkspace

SETTINGS = config.from_mapping({"GITHUB_TOKEN": "t", "AGENT_DISPATCH_REPO": "acme/tasks",
                                "AGENT_TARGET_REPO": "acme/widgets",
                                "AGENT_NOTIFY_URL": "https://backend.example.com/agent-hook?key=k1",
                                "AGENT_NOTIFY_SECRET": "s3cret-hook"})
EVENT = {"event": "task.finished", "task_id": "t-4", "state": "done",
         "pr_url": "https://github.com/acme/widgets/pull/7"}


class Answer:
    def __init__(self, status_code: int):
        self.status_code = status_code


class FakeSession:
    """Answers from a script: an int is an HTTP status, an exception is raised."""

    def __init__(self, *script):
        self.script, self.posts = list(script), []

    def post(self, url, *, data, headers, timeout):
        self.posts.append((url, data, dict(headers)))
        step = self.script.pop(0) if self.script else 200
        if isinstance(step, Exception):
            raise step
        return Answer(step)


def deliver(session, event=EVENT, settings=SETTINGS, **kw) -> Notifier:
    notifier = Notifier(settings, session=session, sleep=lambda _s: None, **kw)
    notifier.notify(event)
    notifier.close(timeout=5)
    return notifier


def test_notify_signature_is_hmac_sha256_of_the_exact_body():
    session = FakeSession(200)
    notifier = deliver(session)
    [(url, body, headers)] = session.posts
    expected = "sha256=" + hmac.new(b"s3cret-hook", body, hashlib.sha256).hexdigest()
    assert headers["X-Agent-Signature-256"] == expected == sign("s3cret-hook", body)
    assert json.loads(body) == EVENT and headers["Content-Type"] == "application/json"
    assert url == "https://backend.example.com/agent-hook?key=k1"
    assert notifier.delivered == 1 and notifier.failed == 0


def test_notify_without_secret_sends_no_signature():
    session = FakeSession(204)
    unsigned = config.from_mapping({"GITHUB_TOKEN": "t", "AGENT_DISPATCH_REPO": "acme/tasks",
                                    "AGENT_NOTIFY_URL": "http://127.0.0.1:9/hook"})
    deliver(session, settings=unsigned)
    [(_, _, headers)] = session.posts
    assert "X-Agent-Signature-256" not in headers


@pytest.mark.parametrize("fault", [503, 429, 502, requests.ConnectionError("refused"), requests.Timeout("slow")])
def test_notify_retries_a_passing_fault_with_the_same_delivery_id(fault):
    session = FakeSession(fault, 200)
    notifier = deliver(session)
    assert len(session.posts) == 2
    first, second = (headers for _, _, headers in session.posts)
    assert first["X-Agent-Delivery"] == second["X-Agent-Delivery"]
    assert notifier.delivered == 1 and notifier.failed == 0


def test_notify_backs_off_exponentially_then_gives_up_with_a_warning(caplog):
    waits = []
    session = FakeSession(*[500] * 5)
    notifier = Notifier(SETTINGS, session=session, sleep=waits.append)
    with caplog.at_level(logging.WARNING, logger="runner.notify"):
        notifier.notify(EVENT)
        notifier.close(timeout=5)
    assert len(session.posts) == 5 and waits == [1, 2, 4, 8]
    assert notifier.delivered == 0 and notifier.failed == 1
    [record] = [r for r in caplog.records if "not delivered" in r.getMessage()]
    assert "HTTP 500" in record.getMessage() and "key=k1" not in record.getMessage()


def test_notify_client_error_is_not_retried():
    session = FakeSession(400, 200)
    notifier = deliver(session)
    assert len(session.posts) == 1 and notifier.failed == 1


def test_notify_returns_at_once_while_the_endpoint_hangs():
    release = threading.Event()

    class Hanging(FakeSession):
        def post(self, url, **kw):
            release.wait(10)
            return Answer(200)

    notifier = Notifier(SETTINGS, session=Hanging(), sleep=lambda _s: None)
    started = time.monotonic()
    for _ in range(3):
        notifier.notify(EVENT)
    assert time.monotonic() - started < 0.1
    notifier.close(timeout=0.2)  # a hung endpoint does not hold the exit
    assert time.monotonic() - started < 1.0
    release.set()


def test_notify_counters_reach_metrics():
    from prometheus_client import CollectorRegistry, generate_latest

    notifier = deliver(FakeSession(200))
    registry = CollectorRegistry()
    registry.register(collector(notifier))
    text = generate_latest(registry).decode()
    assert 'agent_runner_notifications_total{outcome="delivered"} 1.0' in text
    assert 'agent_runner_notifications_total{outcome="failed"} 0.0' in text


def test_finished_event_reports_unknown_cost_as_null():
    task = Task(task_id="t-4", dispatch_repo="acme/tasks", issue_number=4, target_repo="acme/widgets",
                instruction="Tidy.", title="Tidy", author="alice", user_id="user-9")
    record = TaskRecord(task_id="t-4", dispatch_repo="acme/tasks", issue_number=4, state="done",
                        tokens_in=1200, tokens_out=300, cost_usd=None, cost_known=False, model="ollama/qwen")
    event = finished_event(task, record, state="done", error=None, pr_url="https://github.com/acme/widgets/pull/7",
                           branch="agent-task-t-4", issue_url=None, finished_at=1_763_712_000)
    assert event["cost_usd"] is None and event["tokens_in"] == 1200 and event["user_id"] == "user-9"
    assert event["dispatch_issue"] == "acme/tasks#4" and event["finished_at"] == "2025-11-21T08:00:00+00:00"


# -- the pipeline hook -------------------------------------------------------------------------

ISSUE = {"number": 4, "title": "Tidy", "body": "task_id: t-4\nuser_id: user-9\n\n## Instruction\n\nTidy the code.",
         "user": {"login": "alice"}, "labels": [{"name": "copilot-agent"}], "comments": 0,
         "html_url": "https://github.com/acme/tasks/issues/4"}


class Recorder:
    def __init__(self, fail: bool = False):
        self.events, self.fail = [], fail

    def notify(self, event):
        if self.fail:
            raise RuntimeError("notifier bug")
        self.events.append(event)


def pipeline_with(tmp_path, notifier, permission="write"):
    hub = FakeHub()
    hub.repos["acme/widgets"] = RepoInfo("acme/widgets", "http://git.test/acme/widgets.git", "main")
    hub.labelers[("acme/tasks", 4, "copilot-agent")] = "alice"
    hub.permissions[("acme/tasks", "alice")] = permission
    def planner(task, checkout, on_turn=None):
        return ChangeResult(summary="Tidied.", changed_files=("app.py",))

    return Pipeline(SETTINGS, hub, FakeWorkspace(tmp_path / "work"), planner, Journal(tmp_path / "state.db"),
                    steps=StepRunner(wait=lambda _s: None), notifier=notifier)


@pytest.mark.parametrize("permission,state", [("write", "done"), ("read", "refused")])
def test_pipeline_notifies_once_per_terminal_state(tmp_path, permission, state):
    recorder = Recorder()
    assert pipeline_with(tmp_path, recorder, permission).run(ISSUE) == state
    [event] = recorder.events
    assert event["state"] == state and event["task_id"] == "t-4" and event["user_id"] == "user-9"
    assert event["dispatch_issue_url"] == "https://github.com/acme/tasks/issues/4"
    assert (event["pr_url"] is not None) == (state == "done") and (event["error"] is None) == (state == "done")


def test_pipeline_notifier_bug_does_not_change_the_outcome(tmp_path):
    assert pipeline_with(tmp_path, Recorder(fail=True)).run(ISSUE) == "done"
