"""Follow-ups on the runner's PRs (`/agent <instruction>`) and `/agent cancel`: the poll loop's side.

Each tick asks every watched repository (the allowed target repos, where the PRs are, and the
dispatch repo, for cancels on dispatch issues) for the comments updated since its last look: one
conditional request each (``GET /repos/{o}/{r}/issues/comments?since=...&sort=updated``), a free 304
while nothing moved. A command comment is recorded in the journal before anything is done about it,
so it is handled once across restarts; then it is looked at once: is it on a PR the runner opened
(``followup_text.runner_pr``), is that PR open, does its author hold ``AGENT_MIN_PERMISSION`` on the
dispatch repo? Comments that fail are ignored (logged, no reply). A cancel acts at once; a round is
handed back to the service, which runs it in the worker pool (``followup_round``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from runner.authz import holds
from runner.config import Settings
from runner.errors import GitHubAuthError, TransientError
from runner.followup_cancel import CancelRegistry
from runner.followup_round import RoundHub, RoundRunner, RoundWorkspace
from runner.followup_state import FollowupLog, FollowupRow, Mark
from runner.followup_text import epoch, iso, issue_number, on_pull_request, parse_command, runner_pr
from runner.github.rest import GitHubError
from runner.ports import ChangeResult
from runner.state import Journal

log = logging.getLogger("runner.followup")

# How far back a journal that never looked (first start, or a lost state dir) reads: a comment the
# runner may have missed while it was down is still answered; older ones are history.
MARK_LAG = 600.0  # seconds the comment listing's `since` trails the newest comment
LOOKBACK = 3600.0


class Followups:
    """``poll`` once per tick (records commands, applies cancels, returns the rounds ready to run,
    oldest first); ``run`` one round in a worker. The service runs at most one piece of work per
    dispatch issue at a time: the round's ``dispatch_number`` is its key."""

    def __init__(self, settings: Settings, hub: RoundHub, rows: FollowupLog, runner: RoundRunner,
                 cancels: CancelRegistry, journal: Journal, *, clock: Callable[[], float] = time.time):
        self.s, self.hub, self.rows, self.runner = settings, hub, rows, runner
        self.cancels, self.journal, self.clock = cancels, journal, clock
        self.repos = tuple(dict.fromkeys([*settings.allowed_target_repos, settings.dispatch_repo]))

    def poll(self) -> list[FollowupRow]:
        now = self.clock()
        for repo in self.repos:
            self._guarded(f"comments of {repo}", lambda repo=repo: self._scan(repo, now))
        for row in self.rows.waiting(now):
            if row.state == "new":
                self._guarded(f"comment {row.comment_id}", lambda row=row: self._resolve(row))
        return [row for row in self.rows.waiting(now) if row.state == "queued"]

    def run(self, row: FollowupRow) -> str:
        return self.runner.run(row)

    def _guarded(self, what: str, step: Callable[[], None]) -> None:
        try:
            step()
        except GitHubAuthError:
            raise
        except TransientError as fault:  # the row (or the listing) is looked at again next tick
            log.warning("follow-ups: %s not read: %s", what, fault)

    # -- listing ---------------------------------------------------------------------------------

    def _scan(self, repo: str, now: float) -> None:
        mark = self.rows.mark(repo) or Mark(now - LOOKBACK, now - LOOKBACK)
        comments = self.hub.repo_comments_since(repo, iso(mark.since))
        me = self.hub.whoami().lower()
        since = mark.since
        for data in comments:
            since = max(since, epoch(data.get("updated_at")))
            row = self._command(repo, data, me, mark.started)
            if row is not None and self.rows.record(row):
                log.info("%s command from @%s on %s#%d", row.kind, row.author, repo, row.number,
                         extra={"comment": row.comment_id})
        # The mark moves in coarse steps: a new `since` is a new URL with no ETag (a charged request),
        # while re-listing the last few minutes' comments costs nothing when unchanged (a 304), and
        # their rows already say they are known. So it trails the newest comment by MARK_LAG and
        # moves at most once per MARK_LAG.
        since = since - MARK_LAG if since - mark.since > 2 * MARK_LAG else mark.since
        self.rows.set_mark(repo, Mark(since, mark.started))
        if iso(since) != iso(mark.since):  # that URL is not asked again: its cached page would only pile up
            self.journal.forget(self.hub.repo_comments_key(repo, iso(mark.since)))

    def _command(self, repo: str, data: dict, me: str, started: float) -> FollowupRow | None:
        author = str((data.get("user") or {}).get("login") or "")
        if not author or author.lower() == me:
            return None  # the runner's own replies and status comments never ask for anything
        created = epoch(data.get("created_at"))
        command = parse_command(data.get("body"), self.s.command)
        number = issue_number(data)
        if command is None or number is None or created < started:
            return None
        on_pr = on_pull_request(data)
        if not on_pr and (repo.lower() != self.s.dispatch_repo.lower() or command.kind != "cancel"):
            return None  # rounds are asked for on PRs; on a dispatch issue only a cancel means something
        return FollowupRow(repo=repo, comment_id=int(data["id"]), number=number, on_pr=on_pr, author=author,
                           kind=command.kind, instruction=command.instruction, created_at=created)

    # -- looking at a new command --------------------------------------------------------------

    def _resolve(self, row: FollowupRow) -> None:
        dispatch_number, task_id, why = self._task_of(row)
        if dispatch_number is None:
            return self._ignore(row, why)
        permission = self.hub.permission(self.s.dispatch_repo, row.author)
        if not holds(permission, self.s.min_permission):
            return self._ignore(row, f"@{row.author} has `{permission}` permission on {self.s.dispatch_repo}; "
                                     f"`{self.s.min_permission}` is needed")
        if row.kind == "cancel":
            return self._cancel(row, dispatch_number)
        self.rows.update(row.key, state="queued", dispatch_number=dispatch_number, task_id=task_id)

    def _task_of(self, row: FollowupRow) -> tuple[int | None, str | None, str]:
        """The dispatch issue and task a command is about, or (None, None, why it is ignored)."""
        if not row.on_pr:
            record = self.journal.task_for_issue(self.s.dispatch_repo, row.number)
            return row.number, record.task_id if record else None, ""
        try:
            data = self.hub.get_pr(row.repo, row.number)
        except GitHubError as exc:
            return None, None, f"the pull request cannot be read ({exc.status})"
        pr, why = runner_pr(row.repo, data, me=self.hub.whoami(), branch_prefix=self.s.branch_prefix)
        if pr is None:
            return None, None, why
        if pr.dispatch_repo.lower() != self.s.dispatch_repo.lower():
            return None, None, f"its task comes from {pr.dispatch_repo}, not {self.s.dispatch_repo}"
        if pr.state != "open" and row.kind == "round":
            return None, None, "the pull request is closed"
        return pr.dispatch_number, pr.task_id, ""

    def _cancel(self, row: FollowupRow, dispatch_number: int) -> None:
        running = self.cancels.request(dispatch_number, row.author)
        queued = self.rows.cancel_queued(dispatch_number, row.created_at, row.author)
        self.rows.update(row.key, state="done", dispatch_number=dispatch_number)
        log.info("cancel by @%s for #%d: %s", row.author, dispatch_number,
                 "stopping the running work" if running else f"{queued} queued round(s)" if queued else
                 "nothing was running", extra={"issue": dispatch_number, "comment": row.comment_id})

    def _ignore(self, row: FollowupRow, why: str) -> None:
        log.info("%s command from @%s ignored: %s", row.kind, row.author, why,
                 extra={"comment": row.comment_id, "issue": row.number})
        self.rows.update(row.key, state="ignored", error=why)


def build(settings: Settings, hub: RoundHub, workspace: RoundWorkspace, planner: Callable[..., ChangeResult],
          journal: Journal, cancels: CancelRegistry, should_stop: Callable[[], bool]) -> Followups:
    """Follow-ups wired to the runner's real parts (``app.build`` calls it)."""
    rows = FollowupLog(journal, time.time)
    runner = RoundRunner(settings, hub, workspace, planner, journal, rows, cancels, should_stop=should_stop)
    return Followups(settings, hub, rows, runner, cancels, journal)
