"""The pipeline over in-memory fakes: endings a user sees when something unusual happens."""

from __future__ import annotations

import pytest

from runner import config
from runner.github.values import GitHubError
from runner.pipeline import Pipeline
from runner.ports import ChangeResult, RepoInfo
from runner.state import Journal
from runner.steps import StepRunner
from tests.fakes.fake_hub import FakeHub
from tests.fakes.fake_workspace import FakeWorkspace

SETTINGS = config.from_mapping({"GITHUB_TOKEN": "t", "AGENT_DISPATCH_REPO": "acme/tasks",
                                "AGENT_TARGET_REPO": "acme/widgets"})
ISSUE = {"number": 4, "title": "Tidy", "body": "task_id: t-4\n\n## Instruction\n\nTidy the code.",
         "user": {"login": "alice"}, "labels": [{"name": "copilot-agent"}], "comments": 0}


def make(tmp_path, planner):
    hub = FakeHub()
    hub.repos["acme/widgets"] = RepoInfo("acme/widgets", "http://git.test/acme/widgets.git", "main")
    hub.labelers[("acme/tasks", 4, "copilot-agent")] = "alice"
    hub.permissions[("acme/tasks", "alice")] = "write"
    ws = FakeWorkspace(tmp_path / "work")
    pipeline = Pipeline(SETTINGS, hub, ws, planner, Journal(tmp_path / "state.db"),
                        steps=StepRunner(wait=lambda _s: None))
    return pipeline, hub, ws


def ok_planner(task, checkout, on_turn=None):
    return ChangeResult(summary="Tidied.", changed_files=("app.py",))


def test_pipeline_success_writes_one_comment_one_pr_and_swaps_labels(tmp_path):
    pipeline, hub, ws = make(tmp_path, ok_planner)
    assert pipeline.run(ISSUE) == "done"
    assert hub.calls.count("create_comment") == 1 and hub.calls.count("create_pr") == 1
    assert hub.labels[("acme/tasks", 4)] == ["agent-done"] or "agent-done" in hub.labels[("acme/tasks", 4)]
    assert ws.pushes == ["agent-task-t-4"] and ws.cleaned == 1


def test_pipeline_internal_error_ends_failed_not_stuck(tmp_path):
    def broken(task, checkout, on_turn=None):
        raise KeyError("boom")

    pipeline, hub, ws = make(tmp_path, broken)
    assert pipeline.run(ISSUE) == "failed"
    [comment] = hub.comments[("acme/tasks", 4)]
    assert "internal error (KeyError)" in comment.body
    assert "agent-failed" in hub.labels[("acme/tasks", 4)] and ws.pushes == [] and ws.cleaned == 1


def test_pipeline_github_refusal_ends_failed(tmp_path):
    pipeline, hub, ws = make(tmp_path, ok_planner)

    def refuse(*a, **k):
        raise GitHubError(422, "Validation Failed: No commits between main and agent-task-t-4")

    hub.create_pr = refuse
    assert pipeline.run(ISSUE) == "failed"
    [comment] = hub.comments[("acme/tasks", 4)]
    assert "No commits between" in comment.body


def test_pipeline_foreign_branch_is_never_overwritten(tmp_path):
    pipeline, hub, ws = make(tmp_path, ok_planner)
    ws.branches["agent-task-t-4"] = ("someone's work\n\nAgent-Task-Id: t-4", "bob@example.com")
    assert pipeline.run(ISSUE) == "failed"
    assert ws.pushes == []
    [comment] = hub.comments[("acme/tasks", 4)]
    assert "will not overwrite" in comment.body


def test_pipeline_rerun_reuses_its_own_pushed_branch_without_editing_again(tmp_path):
    calls = []

    def counting(task, checkout, on_turn=None):
        calls.append(task.task_id)
        return ok_planner(task, checkout)

    pipeline, hub, ws = make(tmp_path, counting)
    ws.branches["agent-task-t-4"] = ("[agent] Tidy\n\nTidied.\n\nAgent-Task-Id: t-4", ws.author_email)
    assert pipeline.run(ISSUE) == "done"
    assert calls == [] and ws.pushes == []
    assert hub.calls.count("create_pr") == 1


@pytest.mark.parametrize("body", ["", "task_id: t-4\n\n## Instruction\n\n<!-- only a hidden comment -->"])
def test_pipeline_empty_instruction_is_refused_without_cloning(tmp_path, body):
    pipeline, hub, ws = make(tmp_path, ok_planner)
    issue = {**ISSUE, "title": "", "body": body}
    assert pipeline.run(issue) == "refused"
    assert ws.cleaned == 0 and "get_repo" not in hub.calls
