"""Which claimed issues this runner may take over (the contract's Recovery paragraph)."""

from __future__ import annotations

from runner.ports import Comment
from runner.state import TaskRecord
from runner.status import parse_marker


def may_take_over(*, runner_id: str, record: TaskRecord | None, status_comment: Comment | None,
                  issue_updated_at: float, now: float, task_timeout: float) -> str | None:
    """The reason this runner may finish an issue that still carries the processed label, or None.

    (a) our own journal lists it as unfinished; (b) the marker names our id (a runner with our id
    cannot still be running it, since this process is not); (c) the claim is older than the timeout.
    With no marker at all (a crash between the label and the comment) the issue's last update stands
    in for the claim time: later than the real claim, so it only ever waits longer.
    """
    if record is not None and record.unfinished and record.runner_id == runner_id:
        return "own journal"
    marker = parse_marker(status_comment.body) if status_comment else None
    if marker is not None and marker.runner_id == runner_id:
        return "same runner id"
    claimed_at = marker.claimed_at if marker is not None else issue_updated_at
    if now - claimed_at >= task_timeout:
        return "claim expired"
    return None
