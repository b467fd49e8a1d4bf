"""Read-only JSON views of the journal's tasks: ``GET /tasks``, ``GET /tasks/{task_id}`` and
``python -m runner status --json`` print exactly these objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from runner.state import TaskRecord


class TaskSource(Protocol):
    """What the views read (``runner.state.Journal`` has it)."""

    def tasks(self, limit: int = 50) -> list[TaskRecord]: ...
    def task(self, task_id: str) -> TaskRecord | None: ...


def iso(stamp: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC (``2026-06-22T10:15:00Z``); None for unset (0 or None)."""
    if not stamp:
        return None
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def task_view(r: TaskRecord) -> dict[str, Any]:
    """One task as the API shows it. ``cost_usd`` is null when the model had no known price."""
    return {
        "task_id": r.task_id,
        "state": r.state,
        "dispatch_issue": f"{r.dispatch_repo}#{r.issue_number}",
        "dispatch_repo": r.dispatch_repo,
        "issue_number": r.issue_number,
        "target_repo": r.target_repo,
        "branch": r.branch,
        "pr_number": r.pr_number,
        "pr_url": r.pr_url,
        "status_comment_id": r.status_comment_id,
        "runner_id": r.runner_id,
        "attempts": r.attempts,
        "model": r.model,
        "turns": r.turns,
        "tokens_in": r.tokens_in,
        "tokens_out": r.tokens_out,
        "cost_usd": r.cost_usd if r.cost_known else None,
        "error": r.error,
        "created_at": iso(r.created_at),
        "updated_at": iso(r.updated_at),
        "claimed_at": iso(r.claimed_at),
        "next_attempt_at": iso(r.next_attempt_at),
    }


def task_views(source: TaskSource, limit: int = 50) -> list[dict[str, Any]]:
    """The most recently updated tasks first."""
    return [task_view(r) for r in source.tasks(limit)]


def find_task(source: TaskSource, task_id: str) -> dict[str, Any] | None:
    record = source.task(task_id)
    return task_view(record) if record is not None else None
