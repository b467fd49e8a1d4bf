"""One task, step by step. Every step that writes to GitHub first looks for its own earlier effect,
so running a half-finished task again (after a crash, on another runner) never duplicates anything.

    authorize -> claim (label, status comment) -> branch: reuse ours or edit, commit, push
              -> PR: find or create -> finish (status comment, label swap in one PUT)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from runner.authz import authorize
from runner.budget import DailyBudget
from runner.config import Settings
from runner.dispatch import branch_name, parse_issue
from runner.dispatch_text import sanitize_markdown
from runner.errors import Interrupted, RunnerError, TaskFailed, TaskRefused, TransientError
from runner.ports import ChangeResult, Checkout, Hub, PullRequest, RepoInfo, Task, Usage, Workspace
from runner.state import Journal, TaskRecord
from runner.status import (MARKER_PREFIX, StatusView, pr_title, render_commit_message, render_pr_body,
                           render_status, summary_from_commit_message)
from runner.steps import StepRunner

log = logging.getLogger("runner.pipeline")

Planner = Callable[..., ChangeResult]
RELATED_LIMIT = 8000  # characters of a related issue or PR put into the model's context


@dataclass
class _Run:
    """What one attempt knows while it goes."""

    task: Task
    record: TaskRecord
    labels: set[str]
    comment_count: int
    claimed_at: float
    result: ChangeResult | None = None
    pr: PullRequest | None = None
    branch: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Pipeline:
    def __init__(self, settings: Settings, hub: Hub, workspace: Workspace, planner: Planner,
                 journal: Journal, *, clock: Callable[[], float] = time.time,
                 should_stop: Callable[[], bool] = lambda: False, steps: StepRunner | None = None,
                 budget: DailyBudget | None = None, cancelled: Callable[[int], str | None] = lambda _n: None,
                 notifier: Any = None):
        self.s, self.hub, self.ws, self.planner, self.journal = settings, hub, workspace, planner, journal
        self.notifier = notifier  # runner.notify.Notifier when AGENT_NOTIFY_URL is set
        self.clock, self.should_stop = clock, should_stop
        self.cancelled = cancelled  # dispatch issue number -> who asked `/agent cancel` (followup_cancel.py)
        self.steps = steps or StepRunner(should_stop=should_stop)
        self.budget = budget or DailyBudget(settings.daily_budget_usd, journal, clock)

    # -- entry -------------------------------------------------------------------------------

    def run(self, issue: dict[str, Any]) -> str:
        """Process one dispatch issue; returns done, failed, refused or waiting (for the daily budget).
        TransientError propagates."""
        task = parse_issue(issue, dispatch_repo=self.s.dispatch_repo, default_target=self.s.target_repo)
        if self._still_waiting(task, issue):
            return "waiting"
        run = self._start(task, issue)
        run.extra["issue_url"] = issue.get("html_url")
        extra = {"task_id": task.task_id, "issue": task.issue_number}
        try:
            authorize(task, self.hub, self.s)
        except TaskRefused as refusal:
            log.info("task refused: %s", refusal, extra=extra)
            return self._end(run, "refused", str(refusal))
        try:
            if self._wait_for_budget(run):
                return "waiting"
            self._claim(run)
            self._produce(run)
        except TaskFailed as failure:
            log.info("task failed: %s", failure, extra=extra)
            return self._end(run, "failed", str(failure))
        except TransientError as fault:
            self._defer(run, fault)
            raise
        except RunnerError as refused:  # GitHub said no (4xx): retrying the same request cannot help
            log.warning("task failed on a GitHub answer: %s", refused, extra=extra)
            return self._end(run, "failed", f"GitHub refused a request: {refused}. Fix the cause, then "
                                            f"remove the `{self.s.failed_label}` label to try again.")
        except Exception as bug:  # noqa: BLE001 - a bug must end in a clear state, not an endless retry
            log.exception("task crashed", extra=extra)
            return self._end(run, "failed", f"The runner hit an internal error ({type(bug).__name__}); its "
                                            f"log has the details. Remove the `{self.s.failed_label}` "
                                            "label to try again.")
        return self._end(run, "done", None)

    def _start(self, task: Task, issue: dict[str, Any]) -> _Run:
        record = self.journal.task(task.task_id) or TaskRecord(
            task_id=task.task_id, dispatch_repo=task.dispatch_repo, issue_number=task.issue_number, state="new")
        record = self.journal.upsert(replace(record, target_repo=task.target_repo, attempts=record.attempts + 1,
                                             runner_id=self.s.runner_id, error=None))
        return _Run(task, record, _label_names(issue), int(issue.get("comments") or 0), self.clock())

    # -- the daily budget --------------------------------------------------------------------

    def _still_waiting(self, task: Task, issue: dict[str, Any]) -> bool:
        """The issue was told it waits for the budget, the UTC day has not turned and the budget is
        still spent: nothing to do, not even a request, so later polls post no second comment."""
        record = self.journal.task(task.task_id)
        if record is None or record.state != "waiting" or record.next_attempt_at <= self.clock():
            return False
        return self.s.processed_label not in _label_names(issue) and self.budget.blocking() is not None

    def _wait_for_budget(self, run: _Run) -> bool:
        """A new task while the daily budget is spent waits unclaimed (still eligible) and says so,
        and until when, in its one status comment. Claimed tasks (takeovers) always finish."""
        spent = self.budget.blocking() if self.s.processed_label not in run.labels else None
        if spent is None:
            return False
        log.info("task waits for the daily budget", extra={"task_id": run.task.task_id, "issue": run.task.issue_number})
        self._status(run, "waiting", spent.wait_message())
        self._journal(run, state="waiting", next_attempt_at=spent.resets_at)
        return True

    # -- claim -------------------------------------------------------------------------------

    def _claim(self, run: _Run) -> None:
        # Journal first: a crash right after the label lands must still find the task as ours.
        self._journal(run, state="claimed", claimed_at=run.claimed_at)
        if self.s.processed_label not in run.labels:
            added = self.steps.write("claim label", lambda _: self.hub.add_labels(
                run.task.dispatch_repo, run.task.issue_number, [self.s.processed_label]))
            run.labels = set(added) | {self.s.processed_label}
        self._status(run, "working")

    # -- the change --------------------------------------------------------------------------

    def _produce(self, run: _Run) -> None:
        repo = self.steps.read("repository", lambda: self.hub.get_repo(run.task.target_repo))
        base = run.task.base_branch or repo.default_branch
        run.branch = branch_name(self.s.branch_prefix, run.task.task_id)
        if run.branch == base:
            raise TaskFailed(f"The task's branch `{run.branch}` is the base branch; the runner never pushes there.")
        self._checkpoint(run)
        existing = self.steps.read("branch lookup", lambda: self.ws.remote_branch_sha(repo.clone_url, run.branch))
        if existing:
            run.pr = self.steps.read("PR lookup", lambda: self.hub.find_open_pr(run.task.target_repo, run.branch))
            run.result = self._reuse_branch(run, repo)
        else:
            run.result = self._edit_and_push(run, repo, base)
        self._journal(run, state="pushed", branch=run.branch)
        self._checkpoint(run)
        self._open_pr(run, base)

    def _reuse_branch(self, run: _Run, repo: RepoInfo) -> ChangeResult:
        """The branch exists: accept it only if it is this task's earlier push, by this runner."""
        message = self.ws.branch_commit_message(repo.clone_url, run.branch) or ""
        ours = f"Agent-Task-Id: {run.task.task_id}" in message
        author = self.ws.branch_author_email(repo.clone_url, run.branch)
        if not ours or author != self.ws.author_email:
            raise TaskFailed(
                f"The branch `{run.branch}` already exists in {run.task.target_repo} and its newest commit "
                "was not written by this runner for this task. The runner will not overwrite it: delete the "
                "branch (or merge its changes elsewhere), then remove the failed label to try again.")
        log.info("reusing pushed branch %s", run.branch, extra={"task_id": run.task.task_id})
        previous = self.journal.task(run.task.task_id)
        return ChangeResult(summary=summary_from_commit_message(message), changed_files=(),
                            usage=_usage_of(previous), model=previous.model if previous else None,
                            turns=previous.turns if previous else 0)

    def _edit_and_push(self, run: _Run, repo: RepoInfo, base: str) -> ChangeResult:
        run.task = self._with_related(run.task)
        checkout = self.steps.read("checkout", lambda: self.ws.prepare(run.task.task_id, repo.clone_url, base))
        try:
            self._journal(run, state="working")
            result = self.planner(run.task, checkout, on_turn=lambda turn, usage: self._on_turn(run, turn, usage))
            self._journal(run, model=result.model, turns=result.turns, **_usage_columns(result.usage))
            self._checkpoint(run)
            self._commit_and_push(run, checkout, repo, result)
            return result
        finally:
            self.ws.cleanup(checkout)

    def _with_related(self, task: Task) -> Task:
        """The contract: an issue or PR named as the target joins the task's context. It is kept out
        of the instruction, so a diff in someone else's issue is never applied as given."""
        if not task.related_item or "#" not in task.related_item:
            return task
        repo, number = task.related_item.rsplit("#", 1)
        if repo.lower() != task.target_repo.lower() or not number.isdigit():
            return task
        item = self.steps.read("related item", lambda: self.hub.get_issue(repo, int(number)))
        text = sanitize_markdown(f"{item.get('title') or ''}\n\n{item.get('body') or ''}")[:RELATED_LIMIT]
        return replace(task, related_text=text)

    def _commit_and_push(self, run: _Run, checkout: Checkout, repo: RepoInfo, result: ChangeResult) -> None:
        message = render_commit_message(run.task, summary=result.summary, runner_name=self.s.name)
        if self.ws.commit(checkout, message, list(result.changed_files) or None) is None:
            raise TaskFailed("The change is empty: applying it left the repository as it was. "
                             "Check that the instruction asks for a change that is not already there.")
        self.steps.read("push", lambda: self.ws.push(checkout, run.branch, repo.clone_url))

    def _on_turn(self, run: _Run, turn: int, usage: Usage) -> None:
        self._journal(run, turns=turn, **_usage_columns(usage))
        self._checkpoint(run)

    # -- the pull request --------------------------------------------------------------------

    def _open_pr(self, run: _Run, base: str) -> None:
        result, task = run.result, run.task
        body = render_pr_body(task, summary=result.summary, changed_files=list(result.changed_files),
                              runner_name=self.s.name, model=result.model, usage=result.usage,
                              verification=result.verification)
        title = pr_title(task)
        if run.pr is not None:
            self.steps.write("PR update", lambda _: self.hub.update_pr(task.target_repo, run.pr.number,
                                                                        title=title, body=body))
        else:
            run.pr = self.steps.write("PR", lambda attempt: self._create_pr(run, title, base, body, attempt))
        self._journal(run, state="pr_opened", pr_number=run.pr.number, pr_url=run.pr.html_url)

    def _create_pr(self, run: _Run, title: str, base: str, body: str, attempt: int) -> PullRequest:
        if attempt > 1:  # the earlier POST may have landed before its answer was lost
            found = self.hub.find_open_pr(run.task.target_repo, run.branch)
            if found is not None:
                return found
        return self.hub.create_pr(run.task.target_repo, title=title, head=run.branch, base=base, body=body)

    # -- the status comment ------------------------------------------------------------------

    def _status(self, run: _Run, state: str, message: str | None = None) -> None:
        view = self._view(run, state, message)
        body = render_status(view)  # starts with the hidden marker: runner id and claim time
        comment_id = self.steps.write("status comment", lambda attempt: self._put_comment(run, body, attempt))
        self._journal(run, status_comment_id=comment_id)

    def _put_comment(self, run: _Run, body: str, attempt: int) -> int:
        known = run.record.status_comment_id
        if known is None and (run.comment_count > 0 or attempt > 1 or run.record.attempts > 1):
            found = self.hub.find_comment(run.task.dispatch_repo, run.task.issue_number, MARKER_PREFIX)
            known = found.id if found else None
        if known is not None:
            self.hub.update_comment(run.task.dispatch_repo, known, body)
            return known
        comment = self.hub.create_comment(run.task.dispatch_repo, run.task.issue_number, body)
        run.comment_count += 1
        return comment.id

    def _view(self, run: _Run, state: str, message: str | None) -> StatusView:
        result = run.result
        record = self.journal.task(run.task.task_id) or run.record
        return StatusView(
            task=run.task, state=state, runner_name=self.s.name, runner_id=self.s.runner_id,
            claimed_at=run.claimed_at, now=self.clock(),
            model=(result.model if result else None) or record.model or self.s.model,
            turns=result.turns if result else record.turns,
            usage=result.usage if result else _usage_of(record),
            pr_url=run.pr.html_url if run.pr else None, branch=run.branch, message=message,
            verification=result.verification if result else None,
            warnings=run.task.warnings + (result.notes if result else ()),
            failed_label=self.s.failed_label)

    # -- endings -----------------------------------------------------------------------------

    def _end(self, run: _Run, outcome: str, message: str | None) -> str:
        shown = {"done": "pr_opened", "failed": "failed", "refused": "refused"}[outcome]
        self._status(run, shown, message)
        final = self.s.done_label if outcome == "done" else self.s.failed_label
        labels = sorted((run.labels - {self.s.processed_label, self.s.done_label, self.s.failed_label}) | {final})
        self.steps.write("label swap", lambda _: self.hub.set_labels(
            run.task.dispatch_repo, run.task.issue_number, labels))
        self._journal(run, state=outcome, error=message)
        self._notify(run, outcome, message)
        log.info("task %s", outcome, extra={"task_id": run.task.task_id, "issue": run.task.issue_number,
                                            "pr": run.pr.html_url if run.pr else None})
        return outcome

    def _notify(self, run: _Run, outcome: str, message: str | None) -> None:
        """AGENT_NOTIFY_URL: queued, never awaited; a notifier bug must not change the task's outcome."""
        if self.notifier is None:
            return
        from runner.notify import finished_event

        try:
            self.notifier.notify(finished_event(
                run.task, run.record, state=outcome, error=message, pr_url=run.pr.html_url if run.pr else None,
                branch=run.branch, issue_url=run.extra.get("issue_url"), finished_at=self.clock()))
        except Exception:  # noqa: BLE001
            log.exception("notification not queued", extra={"task_id": run.task.task_id})

    def _defer(self, run: _Run, fault: TransientError) -> None:
        # A shutdown is not a fault of the task: the next start resumes it at once.
        delay = 0.0 if isinstance(fault, Interrupted) else max(fault.retry_after or 0.0,
                                                               min(300.0, 30.0 * run.record.attempts))
        self._journal(run, error=str(fault), next_attempt_at=self.clock() + delay)
        log.warning("task deferred: %s", fault, extra={"task_id": run.task.task_id, "issue": run.task.issue_number})

    def _checkpoint(self, run: _Run | None = None) -> None:
        if self.should_stop():
            raise Interrupted("stopping: the task will be finished by the next run")
        who = self.cancelled(run.task.issue_number) if run is not None else None
        if who:
            pushed = f"The branch `{run.branch}` was pushed, but no pull request was opened." \
                if run.record.state == "pushed" else "Nothing was pushed."
            raise TaskFailed(f"Cancelled by @{who}. {pushed} Remove the `{self.s.failed_label}` label to "
                             "start the task again.")

    def _journal(self, run: _Run, **changes: Any) -> None:
        run.record = self.journal.update(run.task.task_id, **changes) or run.record


def _usage_columns(usage: Usage) -> dict[str, Any]:
    return {"tokens_in": usage.tokens_in, "tokens_out": usage.tokens_out,
            "cost_usd": usage.cost_usd, "cost_known": usage.cost_usd is not None}


def _usage_of(record: TaskRecord | None) -> Usage:
    if record is None:
        return Usage()
    return Usage(record.tokens_in, record.tokens_out, record.cost_usd if record.cost_known else None)


def _label_names(issue: dict[str, Any]) -> set[str]:
    return {lbl["name"] if isinstance(lbl, dict) else str(lbl) for lbl in issue.get("labels", [])}
