"""The poll loop with fewer free workers than eligible tasks: the priority label first, then oldest."""

from __future__ import annotations

import threading

import pytest

from runner import config
from runner.github.poller import PollResult
from runner.service import Service
from runner.state import Journal
from tests.fakes.fake_hub import FakeHub


def issue(number: int, created_at: str, *labels: str) -> dict:
    return {"number": number, "created_at": created_at, "updated_at": created_at,
            "labels": [{"name": n} for n in ("copilot-agent", *labels)]}


class ListPoller:
    def __init__(self, issues):
        self.issues = issues

    def poll(self):
        return PollResult(issues=list(self.issues), changed=True, requests=1)


class HeldPipeline:
    """Records which issue each worker took and holds it until released."""

    def __init__(self):
        self.taken: list[int] = []
        self.release = threading.Event()

    def run(self, issue):
        self.taken.append(issue["number"])
        self.release.wait(5)
        return "done"


@pytest.mark.parametrize("extra,issues,expected", [
    ({}, [issue(7, "2026-03-01T10:00:00Z"), issue(5, "2026-03-01T09:00:00Z"),
          issue(9, "2026-03-02T08:00:00Z", "priority:high"), issue(6, "2026-03-01T09:00:00Z")], [9, 5, 6, 7]),
    ({"AGENT_PRIORITY_LABEL": "urgent"},
     [issue(3, "2026-03-01T10:00:00Z"), issue(4, "2026-03-01T11:00:00Z", "priority:high"),
      issue(8, "2026-03-02T10:00:00Z", "urgent")], [8, 3, 4]),
], ids=["default-label-then-oldest", "configured-label-only"])
def test_service_priority_one_free_worker_takes_tasks_in_priority_order(tmp_path, extra, issues, expected):
    settings = config.from_mapping({"GITHUB_TOKEN": "t", "AGENT_DISPATCH_REPO": "acme/tasks",
                                    "AGENT_WORKERS": "1", **extra})
    pipeline = HeldPipeline()
    service = Service(settings, ListPoller(issues), pipeline, hub=FakeHub(), journal=Journal(tmp_path / "s.db"))
    try:
        for _ in expected:
            pipeline.release.clear()
            service.wake.clear()
            [started] = service.tick()  # one free worker: exactly one task per round
            assert service.tick() == []  # the worker is busy: nothing more is taken
            pipeline.release.set()
            started.result(timeout=5)
            assert service.wake.wait(5)  # the worker is free again (the done callback ran)
            service.wake.clear()
            service.poller.issues = [i for i in service.poller.issues if i["number"] not in pipeline.taken]
    finally:
        pipeline.release.set()
        service.shutdown()
    assert pipeline.taken == expected
