"""One follow-up round: a `/agent <instruction>` comment on a PR the runner opened becomes a new commit
on the same branch, a reply on the PR and the dispatch issue's status comment at the next round.

    PR still the runner's and open? -> reply to this comment already there? (done / another runner's)
      -> reply "working" (the claim) + status comment "working", round N
      -> pushed already (``Agent-Followup`` trailer on the branch tip)? else: checkout of the PR branch,
         diff so far + review comments -> edit plan -> commit with the trailer -> fast-forward push
      -> usage added to the task, once -> status comment (round N, cumulative cost) -> reply: outcome

Every write looks for its own earlier effect first, so a crash anywhere followed by a rerun finishes
the round with one commit and one reply. Nothing is pushed when the round fails or is cancelled.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from runner.authz import holds
from runner.config import Settings
from runner.dispatch import parse_issue
from runner.errors import Interrupted, RunnerError, TaskFailed, TransientError
from runner.followup_cancel import CancelRegistry
from runner.followup_claim import RoundClaim, find_claims, render_markers
from runner.followup_render import ReplyView, render_reply, render_working, round_context, round_title
from runner.followup_state import FollowupLog, FollowupRow
from runner.followup_status import StatusWriter
from runner.followup_text import RunnerPr, has_trailer, runner_pr, with_trailer
from runner.github.rest import GitHubError
from runner.ports import ChangeResult, Checkout, Comment, Hub, RepoInfo, Task, Usage, Workspace
from runner.state import Journal
from runner.status import render_commit_message, summary_from_commit_message
from runner.steps import StepRunner

log = logging.getLogger("runner.followup")
_DIFF_PATH = re.compile(r"^\+\+\+ b/(.+)$", re.M)


class RoundHub(Hub, Protocol):
    """The GitHub operations follow-ups need beyond the pipeline's (``GitHubHub`` has them)."""

    def whoami(self) -> str: ...
    def get_pr(self, repo: str, number: int) -> dict[str, Any]: ...
    def pr_review_comments(self, repo: str, number: int) -> list[dict[str, Any]]: ...
    def own_comments(self, repo: str, number: int) -> list[Comment]: ...
    def repo_comments_since(self, repo: str, since: str) -> list[dict[str, Any]]: ...
    def repo_comments_key(self, repo: str, since: str) -> str: ...


class RoundWorkspace(Workspace, Protocol):
    """The git operations a round needs beyond the pipeline's (``GitWorkspace`` has them)."""

    def push_fast_forward(self, checkout: Checkout, branch: str, clone_url: str) -> None: ...
    def diff_from_base(self, checkout: Checkout, clone_url: str, base_branch: str) -> str: ...


@dataclass
class _Round:
    """What one attempt at a round knows while it goes."""

    row: FollowupRow
    pr: RunnerPr
    task: Task  # the original task, from the dispatch issue
    number: int  # 2 for the first follow-up
    claimed_at: float
    reply_id: int | None = None
    result: ChangeResult | None = None
    summary: str = ""
    sha: str | None = None


class RoundRunner:
    """Runs queued rounds (``FollowupRow``); returns done, failed, waiting or deferred."""

    def __init__(self, settings: Settings, hub: RoundHub, workspace: RoundWorkspace,
                 planner: Callable[..., ChangeResult], journal: Journal, rows: FollowupLog, cancels: CancelRegistry, *,
                 clock: Callable[[], float] = time.time, should_stop: Callable[[], bool] = lambda: False,
                 steps: StepRunner | None = None):
        self.s, self.hub, self.ws, self.planner = settings, hub, workspace, planner
        self.journal, self.rows, self.cancels = journal, rows, cancels
        self.clock, self.should_stop = clock, should_stop
        self.steps = steps or StepRunner(should_stop=should_stop)
        self.status = StatusWriter(settings, hub, journal, self.steps, clock)

    def run(self, row: FollowupRow) -> str:
        extra = {"task_id": row.task_id, "issue": row.dispatch_number, "comment": row.comment_id}
        try:
            return self._run(row)
        except TransientError as fault:
            delay = 0.0 if isinstance(fault, Interrupted) else max(fault.retry_after or 0.0, 30.0)
            self.rows.update(row.key, error=str(fault), next_attempt_at=self.clock() + delay)
            log.warning("follow-up round deferred: %s", fault, extra=extra)
            return "deferred"
        except Exception:  # a bug must end the row, not retry it on every poll
            log.exception("follow-up round crashed", extra=extra)
            self.rows.update(row.key, state="failed", error="internal error")
            return "failed"

    def _run(self, row: FollowupRow) -> str:
        pr = self._pull_request(row)
        if pr is None:
            return "done"
        claims = find_claims(self.steps.read("PR comments", lambda: self.hub.own_comments(pr.repo, pr.number)))
        mine = claims.get(row.comment_id)
        if mine is not None and mine[1].state != "working":
            self.rows.update(row.key, state="done", reply_id=mine[0])  # answered before the journal knew
            return "done"
        if mine is not None and self._held_elsewhere(row, mine[1]):
            return "waiting"
        number = mine[1].round if mine else 2 + len(set(claims) - {row.comment_id})
        resumed = mine is not None and mine[1].runner_id == self.s.runner_id  # else new, or taken over
        claimed_at = mine[1].claimed_at if mine is not None and resumed else self.clock()
        rnd = _Round(row, pr, self._original_task(pr), number, claimed_at, mine[0] if mine else None)
        self.rows.update(row.key, round=number, error=None)
        return self._attempt(rnd)

    def _attempt(self, rnd: _Round) -> str:
        try:
            working = render_working(self.s.name, rnd.number, rnd.row.author)
            self._put_reply(rnd, self._markers(rnd, "working") + working)
            self._checkpoint(rnd)
            self.status.write(rnd.task, rnd.pr, rnd.number, rnd.claimed_at, "working", rnd.row)
            self._produce(rnd)
        except TaskFailed as failure:
            return self._finish(rnd, str(failure))
        except TransientError:
            raise
        except RunnerError as refused:  # GitHub said no (4xx): the same request cannot succeed later
            return self._finish(rnd, f"GitHub refused a request: {refused}")
        except Exception as bug:  # noqa: BLE001 - a bug must end in a clear reply, not an endless retry
            log.exception("follow-up round crashed", extra={"comment": rnd.row.comment_id})
            return self._finish(rnd, f"The runner hit an internal error ({type(bug).__name__}); its log has "
                                     "the details.")
        return self._finish(rnd, None)

    # -- which PR, which task ------------------------------------------------------------------

    def _pull_request(self, row: FollowupRow) -> RunnerPr | None:
        try:
            data = self.steps.read("PR", lambda: self.hub.get_pr(row.repo, row.number))
        except GitHubError as exc:
            pr, why = None, f"the pull request cannot be read ({exc.status})"
        else:
            pr, why = runner_pr(row.repo, data, me=self.hub.whoami(), branch_prefix=self.s.branch_prefix)
        if pr is not None and pr.state != "open":
            pr, why = None, "the pull request is closed"
        if pr is None:
            log.info("follow-up ignored: %s", why, extra={"comment": row.comment_id, "pr": row.number})
            self.rows.update(row.key, state="ignored", error=why)
        return pr

    def _held_elsewhere(self, row: FollowupRow, claim: RoundClaim) -> bool:
        """Another runner claimed this round: leave it to it until its claim expires."""
        if claim.runner_id == self.s.runner_id or self.clock() - claim.claimed_at >= self.s.task_timeout:
            return False
        self.rows.update(row.key, next_attempt_at=claim.claimed_at + self.s.task_timeout)
        log.info("follow-up round is %s's", claim.runner_id, extra={"comment": row.comment_id})
        return True

    def _original_task(self, pr: RunnerPr) -> Task:
        issue = self.steps.read("dispatch issue", lambda: self.hub.get_issue(pr.dispatch_repo, pr.dispatch_number))
        task = parse_issue(issue, dispatch_repo=pr.dispatch_repo, default_target=self.s.target_repo)
        return replace(task, task_id=pr.task_id, target_repo=pr.repo)  # the PR says which task it is

    # -- the change ----------------------------------------------------------------------------

    def _produce(self, rnd: _Round) -> None:
        pr = rnd.pr
        repo = self.steps.read("repository", lambda: self.hub.get_repo(pr.repo))
        tip = self.steps.read("branch", lambda: self.ws.branch_commit_message(repo.clone_url, pr.head_ref))
        if tip is None:
            raise TaskFailed(f"The pull request's branch `{pr.head_ref}` no longer exists.")
        if has_trailer(tip, rnd.row.comment_id):  # pushed by an attempt that stopped before replying
            rnd.summary = summary_from_commit_message(tip)
            rnd.sha = self.steps.read("branch", lambda: self.ws.remote_branch_sha(repo.clone_url, pr.head_ref))
            return
        checkout = self.steps.read("checkout", lambda: self.ws.prepare(pr.task_id, repo.clone_url, pr.head_ref))
        try:
            self._edit(rnd, checkout, repo)
        finally:
            self.ws.cleanup(checkout)

    def _edit(self, rnd: _Round, checkout: Checkout, repo: RepoInfo) -> None:
        pr, row = rnd.pr, rnd.row
        diff = self.steps.read("diff", lambda: self.ws.diff_from_base(checkout, repo.clone_url, pr.base_ref))
        context = round_context(rnd.task, round=rnd.number, diff=diff, reviews=self._reviews(pr))
        # the original task (and the item it refers to) is in the context above; the request is the task
        task = replace(rnd.task, title=round_title(row.instruction), instruction=row.instruction, related_item=None)
        planner = with_context(self.planner, context, " ".join(_DIFF_PATH.findall(diff)))
        result = planner(task, checkout, on_turn=lambda turn, usage: self._on_turn(rnd, turn, usage))
        self._note_usage(rnd, result.usage, result.turns, result.model)
        self._checkpoint(rnd)
        message = with_trailer(render_commit_message(task, summary=result.summary, runner_name=self.s.name),
                               row.comment_id)
        sha = self.ws.commit(checkout, message, list(result.changed_files) or None)
        if sha is None:
            raise TaskFailed("The change is empty: applying it left the branch as it was.")
        self._checkpoint(rnd)
        self.steps.read("push", lambda: self.ws.push_fast_forward(checkout, pr.head_ref, repo.clone_url))
        rnd.result, rnd.summary, rnd.sha = result, result.summary, sha

    def _reviews(self, pr: RunnerPr) -> list[dict[str, Any]]:
        """Review comments by people who may dispatch: anyone else's text never reaches the model."""
        items = self.steps.read("review comments", lambda: self.hub.pr_review_comments(pr.repo, pr.number))
        me, trusted, kept = self.hub.whoami().lower(), {}, []
        for item in items:
            login = str((item.get("user") or {}).get("login") or "")
            if not login or login.lower() == me:
                continue
            if login not in trusted:
                trusted[login] = holds(self.hub.permission(self.s.dispatch_repo, login), self.s.min_permission)
            if trusted[login]:
                kept.append(item)
        return kept

    def _on_turn(self, rnd: _Round, turn: int, usage: Usage) -> None:
        self._note_usage(rnd, usage, turn, None)
        self._checkpoint(rnd)

    def _note_usage(self, rnd: _Round, usage: Usage, turns: int, model: str | None) -> None:
        self.rows.update(rnd.row.key, tokens_in=usage.tokens_in, tokens_out=usage.tokens_out,
                         cost_usd=usage.cost_usd, cost_known=usage.cost_usd is not None, turns=turns,
                         **({"model": model} if model else {}))

    def _checkpoint(self, rnd: _Round) -> None:
        if self.should_stop():
            raise Interrupted("stopping: the round will be finished by the next run")
        current = self.rows.get(rnd.row.key) or rnd.row
        who = self.cancels.requested(rnd.pr.dispatch_number) or current.cancelled_by
        if who:
            raise TaskFailed(f"Cancelled by @{who}.")

    # -- the ending ----------------------------------------------------------------------------

    def _finish(self, rnd: _Round, failure: str | None) -> str:
        row = self.rows.get(rnd.row.key) or rnd.row
        self.rows.count_usage(row, dispatch_repo=rnd.pr.dispatch_repo, target_repo=rnd.pr.repo)
        self.status.write(rnd.task, rnd.pr, rnd.number, rnd.claimed_at, "pr_opened", row, rnd.result)
        record = self.journal.task(rnd.task.task_id)
        total = self.status.usage_of(record) if record else None
        outcome = "failed" if failure is not None else "done"
        result = rnd.result
        view = ReplyView(runner_name=self.s.name, round=rnd.number, author=row.author, branch=rnd.pr.head_ref,
                         command=self.s.command, summary=rnd.summary, sha=rnd.sha, model=row.model,
                         changed_files=result.changed_files if result else (), usage=row.usage, total=total,
                         verification=result.verification if result else None, failure=failure)
        self._put_reply(rnd, self._markers(rnd, outcome) + render_reply(view))
        self.rows.update(row.key, state=outcome, reply_id=rnd.reply_id, error=failure)
        log.info("follow-up round %s", outcome, extra={"task_id": rnd.task.task_id, "comment": row.comment_id,
                                                      "round": rnd.number})
        return outcome

    def _markers(self, rnd: _Round, state: str) -> str:
        return render_markers(RoundClaim(rnd.row.comment_id, self.s.runner_id, rnd.claimed_at, state, rnd.number))

    def _put_reply(self, rnd: _Round, body: str) -> None:
        def put(attempt: int) -> int:
            known = rnd.reply_id
            if known is None and attempt > 1:  # the earlier POST may have landed before its answer was lost
                found = find_claims(self.hub.own_comments(rnd.pr.repo, rnd.pr.number)).get(rnd.row.comment_id)
                known = found[0] if found else None
            if known is not None:
                self.hub.update_comment(rnd.pr.repo, known, body)
                return known
            return self.hub.create_comment(rnd.pr.repo, rnd.pr.number, body).id

        rnd.reply_id = self.steps.write("reply", put)
        self.rows.update(rnd.row.key, reply_id=rnd.reply_id)


def with_context(planner: Callable[..., ChangeResult], text: str, hint: str = "") -> Callable[..., ChangeResult]:
    """The planner, with ``text`` put before the repository's code in its first prompt and ``hint``
    (the files the PR changed) added to what ranks that code. A stand-in planner is returned as is."""
    from runner.agent.plan import Planner  # not at import: the runner starts polling without the agent

    if not isinstance(planner, Planner):
        return planner
    inner = planner.context_builder

    def build(root: Any, query: str, budget: int) -> tuple[str, str | None]:
        rendered, instructions = inner(root, f"{query}\n{hint}".strip(), max(1000, budget - len(text) // 3))
        return f"{text}\n{rendered}", instructions

    return Planner(planner.settings, planner.model_factory, context_builder=build, verifier=planner.verifier)
