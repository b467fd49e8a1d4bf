"""What a follow-up round says: to the model (the task so far) and on the PR (the reply). Pure.

Untrusted text (the original instruction, the PR's diff, review comments, the model's summary) goes
into fences nothing inside can close, or through ``plain``/``code``, as in ``status.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner.agent.edit_text import fence_for
from runner.dispatch_text import sanitize_markdown
from runner.ports import Task, Usage
from runner.status_format import (close_fences, code, cut, fenced, format_cost, format_tokens, model_name, one_line,
                                  plain)

DIFF_CHARS = 24_000  # the PR's diff so far, in the prompt (about 6,000 tokens)
REVIEW_CHARS = 8_000
ORIGINAL_CHARS = 8_000
_BODY_BUDGET = 60_000

ROUND_INTRO = """\
## This task so far

This is round {round} of a task whose pull request is already open. The repository below already \
holds the pull request's changes. Carry out the new request above on top of them: change only what it \
asks for, and keep the earlier changes unless it says otherwise.
"""


def round_title(instruction: str) -> str:
    """The round's title (prompt heading and commit subject): the request's first line."""
    first = next((ln.strip(" #\t") for ln in instruction.split("\n") if ln.strip(" #\t")), "")
    return one_line(f"Follow-up: {first}" if first else "Follow-up", 200)


def round_context(task: Task, *, round: int, diff: str, reviews: list[dict[str, Any]]) -> str:
    """The part of the prompt a follow-up adds before the repository's code."""
    parts = [ROUND_INTRO.format(round=round)]
    original = cut(task.instruction.strip(), ORIGINAL_CHARS)
    parts.append(f"### The original task: {one_line(task.title or task.task_id, 200)}\n\n{_fence(original, 'text')}")
    if task.related_item:
        parts.append(f"It referred to {plain(task.related_item, 200)}.")
    if diff.strip():
        if len(diff) > DIFF_CHARS:
            diff = diff[:DIFF_CHARS] + f"\n[... {len(diff) - DIFF_CHARS:,} more characters of the diff cut ...]\n"
        parts.append(f"### The pull request's changes so far\n\n{_fence(diff.rstrip(), 'diff')}")
    shown = review_notes(reviews)
    if shown:
        parts.append(f"### Review comments on the pull request\n\n{shown}")
    return "\n\n".join(parts) + "\n\n## The repository's code\n"


def review_notes(reviews: list[dict[str, Any]]) -> str:
    """Review comments as quoted notes (file, line, who), within REVIEW_CHARS."""
    notes, used = [], 0
    for review in reviews:
        body = sanitize_markdown(str(review.get("body") or "")).strip()
        if not body:
            continue
        line = review.get("line") or review.get("original_line")
        where = code(str(review.get("path") or "the PR"), 200) + (f" line {line}" if isinstance(line, int) else "")
        who = plain(str((review.get("user") or {}).get("login") or "someone"), 60)
        note = f"- {where}, @{who}:\n" + "\n".join(f"  > {ln}" for ln in cut(body, 2000).split("\n"))
        if used + len(note) > REVIEW_CHARS:
            notes.append(f"- ... and {len(reviews) - len(notes)} more")
            break
        notes.append(note)
        used += len(note)
    return "\n".join(notes)


def _fence(text: str, info: str) -> str:
    fence = fence_for(text)
    return f"{fence}{info}\n{text}\n{fence}"


# -- the reply on the PR ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplyView:
    """Everything the reply to one `/agent` comment shows. ``failure`` set: nothing was pushed."""

    runner_name: str
    round: int
    author: str
    branch: str
    command: str = "/agent"
    summary: str = ""
    changed_files: tuple[str, ...] = ()
    sha: str | None = None
    model: str | None = None
    usage: Usage = Usage()
    total: Usage | None = None  # the task's cost over every round so far
    verification: str | None = None
    failure: str | None = None


def render_working(runner_name: str, round: int, author: str) -> str:
    """The reply while the round runs (it is the round's claim too: see ``followup_claim``)."""
    return f"{_head(runner_name, round, author)}: working on it."


def render_reply(v: ReplyView) -> str:
    """The visible outcome; the caller puts the hidden markers (``followup_claim``) before it."""
    head = _head(v.runner_name, v.round, v.author)
    if v.failure is not None:
        return cut("\n\n".join([f"{head}: nothing was pushed.", _failure(v.failure),
                                f"Post a new `{plain(v.command, 40)} <instruction>` comment to try again."]),
                   _BODY_BUDGET)
    pushed = f"pushed {code(v.sha[:12])}" if v.sha else "pushed a commit"
    parts = [f"{head}: {pushed} to {code(v.branch)}."]
    summary = sanitize_markdown(v.summary).strip()
    if summary:
        parts.append(close_fences(cut(summary, 20_000)))
    if v.changed_files:
        files = [f"- {code(p, 300)}" for p in v.changed_files[:100]]
        more = [f"- ... and {len(v.changed_files) - 100} more"] if len(v.changed_files) > 100 else []
        parts.append(f"**Changed files** ({len(v.changed_files)})\n" + "\n".join(files + more))
    parts.append(_facts(v))
    return cut("\n\n".join(parts), _BODY_BUDGET)


def _head(runner_name: str, round: int, author: str) -> str:
    return f"**{plain(runner_name, 100)}**: round {round} for @{plain(author, 60)}"


def _failure(message: str) -> str:
    message = message.strip() or "The round failed."
    if "\n" in message or len(message) > 300:
        return f"<details><summary>{plain(message.split(chr(10), 1)[0], 200)}</summary>\n\n" \
               f"{fenced(message, 20_000)}\n\n</details>"
    return plain(message, 300)


def _facts(v: ReplyView) -> str:
    facts = [f"model {model_name(v.model, 'pr_opened')}", f"tokens {format_tokens(v.usage)}",
             f"cost {format_cost(v.usage.cost_usd)}",
             f"verification: {plain(v.verification) if v.verification else 'not run'}"]
    if v.total is not None:
        facts.append(f"task total {format_cost(v.total.cost_usd)}")
    return " · ".join(facts)
