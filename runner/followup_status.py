"""The dispatch issue's one status comment, rewritten for a follow-up round: the round number, the
round's elapsed time, and the tokens and cost of every round so far (the task's journal row, to which
each round adds its own)."""

from __future__ import annotations

import time
from collections.abc import Callable

from runner.config import Settings
from runner.followup_state import FollowupRow
from runner.followup_text import RunnerPr
from runner.ports import ChangeResult, Hub, Task, Usage
from runner.state import Journal, TaskRecord
from runner.status import MARKER_PREFIX, StatusView, render_status
from runner.steps import StepRunner


class StatusWriter:
    """Finds the status comment (journal first, then its hidden marker) and edits it in place."""

    def __init__(self, settings: Settings, hub: Hub, journal: Journal, steps: StepRunner,
                 clock: Callable[[], float] = time.time):
        self.s, self.hub, self.journal, self.steps, self.clock = settings, hub, journal, steps, clock

    def write(self, task: Task, pr: RunnerPr, round: int, started_at: float, state: str, row: FollowupRow,
              result: ChangeResult | None = None) -> None:
        record = self.journal.task(task.task_id)
        comment_id = self._locate(task, record)
        model = (result.model if result else None) or row.model or (record.model if record else None) or self.s.model
        view = StatusView(
            task=task, state=state, runner_name=self.s.name, runner_id=self.s.runner_id, claimed_at=started_at,
            now=self.clock(), model=model, turns=record.turns if record else row.turns,
            usage=self.usage_of(record) if record else Usage(cost_usd=None), pr_url=pr.html_url,
            branch=pr.head_ref, verification=result.verification if result else None, warnings=task.warnings,
            round=round, failed_label=self.s.failed_label)
        body = render_status(view)
        if comment_id is not None:
            self.steps.write("status comment", lambda _: self.hub.update_comment(task.dispatch_repo, comment_id, body))
            return
        created = self.steps.write("status comment", lambda attempt: self._create(task, body, attempt))
        if record is not None:
            self.journal.update(task.task_id, status_comment_id=created)

    @staticmethod
    def usage_of(record: TaskRecord) -> Usage:
        return Usage(record.tokens_in, record.tokens_out, record.cost_usd if record.cost_known else None)

    def _locate(self, task: Task, record: TaskRecord | None) -> int | None:
        """The status comment's id: from the journal, else by its hidden marker; None when there is none."""
        if record is not None and record.status_comment_id:
            return record.status_comment_id
        found = self.steps.read("status comment", lambda: self.hub.find_comment(
            task.dispatch_repo, task.issue_number, MARKER_PREFIX))
        return found.id if found else None

    def _create(self, task: Task, body: str, attempt: int) -> int:
        if attempt > 1:  # the earlier POST may have landed before its answer was lost
            found = self.hub.find_comment(task.dispatch_repo, task.issue_number, MARKER_PREFIX)
            if found is not None:
                self.hub.update_comment(task.dispatch_repo, found.id, body)
                return found.id
        return self.hub.create_comment(task.dispatch_repo, task.issue_number, body).id
