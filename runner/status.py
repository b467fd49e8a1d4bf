"""What the runner writes on GitHub, rendered: the status comment, the PR body, the commit message.

Pure functions of what they are given (never a secret: they receive none). Every value that came
from an issue or a model is shown in a code span, a fence, or with ``<`` escaped, so it cannot open
an HTML comment that hides the rest. Both bodies stay well under GitHub's 65,536-character limit.
The hidden JSON (status marker, PR metadata) is one line with ``--``, ``<`` and ``>`` escaped, so
no value can end the comment early; ``json.loads`` still reads it back.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from runner.dispatch_text import remove_invisible, sanitize_markdown
from runner.ports import Task, Usage
from runner.status_format import (
    close_fences,
    code,
    comment_json,
    cut,
    fenced,
    format_cost,
    format_elapsed,
    format_tokens,
    model_name,
    one_line,
    plain,
)

MARKER_PREFIX = "<!-- agent-runner:status"
METADATA_PREFIX = "<!-- agent_task_metadata"
GITHUB_BODY_LIMIT = 65_536
_BODY_BUDGET = 60_000  # room left for whatever GitHub counts differently from len()
_METADATA_BUDGET = 16_000
_TITLE_MAX = 72
_TRAILER = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,60}: ")
_HEADLINES = {
    "queued": "Queued",
    "working": "Working on it",
    "pr_opened": "Pull request opened",
    "failed": "Failed",
    "refused": "Refused",
    "waiting": "Waiting",
}


@dataclass(frozen=True)
class Marker:
    """The hidden claim in the status comment: who took the task, when, and where it stands."""

    task_id: str
    runner_id: str
    claimed_at: float  # epoch seconds
    state: str


@dataclass(frozen=True)
class StatusView:
    """Everything the status comment shows. ``state`` is one of the keys of ``_HEADLINES``."""

    task: Task
    state: str
    runner_name: str
    runner_id: str
    claimed_at: float
    now: float
    model: str | None = None
    turns: int = 0
    usage: Usage = Usage()
    pr_url: str | None = None
    branch: str | None = None
    message: str | None = None  # why it failed, was refused or waits; user-facing
    verification: str | None = None
    warnings: tuple[str, ...] = ()
    round: int = 1
    failed_label: str = "agent-failed"


def render_marker(m: Marker) -> str:
    """One hidden line. A task id past 1,000 characters is cut: the marker must stay whole (recovery
    reads only its runner id and claim time)."""
    data = {"task_id": cut(m.task_id, 1000), "runner_id": m.runner_id, "claimed_at": m.claimed_at, "state": m.state}
    return f"{MARKER_PREFIX} {comment_json(data)} -->"


def parse_marker(body: str) -> Marker | None:
    """The marker in a status comment's body, or None if there is none or it is damaged."""
    data = _comment_payload(body, MARKER_PREFIX)
    if not isinstance(data, dict):
        return None
    task_id, runner_id, state = data.get("task_id"), data.get("runner_id"), data.get("state")
    claimed_at = data.get("claimed_at")
    if not all(isinstance(v, str) for v in (task_id, runner_id, state)):
        return None
    if isinstance(claimed_at, bool) or not isinstance(claimed_at, (int, float)):
        return None
    try:
        when = float(claimed_at)
    except OverflowError:  # an integer of 400 digits
        return None
    return Marker(task_id, runner_id, when, state) if math.isfinite(when) else None


def pr_metadata(body: str) -> dict[str, Any] | None:
    """The ``agent_task_metadata`` object of a PR body rendered by :func:`render_pr_body`."""
    data = _comment_payload(body, METADATA_PREFIX)
    return data if isinstance(data, dict) else None


def _comment_payload(body: Any, prefix: str) -> Any:
    if not isinstance(body, str) or (start := body.find(prefix)) < 0:
        return None
    end = body.find("-->", start)
    try:
        return json.loads(body[start + len(prefix) : end if end >= 0 else len(body)])
    except (ValueError, RecursionError):
        return None


# -- the status comment -----------------------------------------------------------------------------


def _headline(v: StatusView) -> str:
    head = _HEADLINES.get(v.state) or plain(v.state.replace("_", " ").capitalize() or "Unknown state")
    if v.state == "pr_opened" and v.pr_url:
        return f"{head}: {plain(v.pr_url)}"
    reason = (v.message or "").strip().split("\n", 1)[0]
    if v.state in ("failed", "refused", "waiting") and reason:
        return f"{head}: {plain(reason)}"
    return head


def _facts(v: StatusView) -> list[str]:
    task = v.task
    facts = [("Task", code(task.task_id)), ("Target", code(task.target_repo))]
    if task.related_item:
        facts.append(("Related", plain(task.related_item)))
    if v.branch:
        facts.append(("Branch", code(v.branch)))
    if v.round > 1:
        facts.append(("Round", str(v.round)))
    facts += [
        ("Elapsed", format_elapsed(v.now - v.claimed_at)),
        ("Model", model_name(v.model, v.state)),
        ("Turns", str(v.turns)),
        ("Tokens", format_tokens(v.usage)),
        ("Cost", format_cost(v.usage.cost_usd)),
        ("Verification", plain(v.verification) if v.verification else "not run"),
    ]
    return [f"- {name}: {value}" for name, value in facts]


def _what_to_do(v: StatusView) -> str | None:
    label = code(v.failed_label)
    if v.state == "failed":
        return f"Fix the issue and remove the {label} label to try again."
    if v.state == "refused":
        return (
            "A refused task is not retried by itself. Fix what the reason names (who applied the label, "
            f"the target repository, or an empty instruction), then remove the {label} label to try again."
        )
    if v.state == "waiting":
        return "Nothing: the runner starts this task by itself as soon as it can."
    if v.state == "pr_opened":
        return "Review the pull request; merging it closes this issue."
    return None


def render_status(v: StatusView) -> str:
    """The one status comment: hidden marker first, then what a person wants to know."""
    parts = [
        render_marker(Marker(v.task.task_id, v.runner_id, v.claimed_at, v.state)),
        f"**{plain(v.runner_name, 100)}**: {_headline(v)}",
        "\n".join(_facts(v)),
    ]
    message = (v.message or "").strip()
    if "\n" in message or len(message) > 300:
        parts.append(f"<details><summary>Details</summary>\n\n{fenced(message, 20_000)}\n\n</details>")
    if v.warnings:
        shown = [f"- {plain(w, 500)}" for w in v.warnings[:20]]
        more = [f"- ... and {len(v.warnings) - 20} more"] if len(v.warnings) > 20 else []
        parts.append("**Warnings**\n" + "\n".join(shown + more))
    todo = _what_to_do(v)
    if todo:
        parts.append(f"**What you can do:** {todo}")
    return cut("\n\n".join(parts), _BODY_BUDGET)


# -- the pull request and the commit ------------------------------------------------------------------


def pr_title(task: Task) -> str:
    """``[agent] `` + the first line of the issue title (or of the instruction), at most 72 characters."""
    for source in (task.title, task.instruction):
        line = next((ln.strip(" #\t") for ln in source.split("\n") if ln.strip(" #\t")), "")
        if line:
            return cut(f"[agent] {one_line(line, _TITLE_MAX)}", _TITLE_MAX)
    return cut(f"[agent] task {one_line(task.task_id, _TITLE_MAX)}", _TITLE_MAX)


def _metadata_line(task: Task) -> str:
    data: dict[str, Any] = {"task_id": task.task_id}
    data.update((k, v) for k, v in task.metadata.items() if k != "task_id")
    if task.user_id:
        data["user_id"] = task.user_id
    data["dispatch_issue"] = f"{task.dispatch_repo}#{task.issue_number}"
    text = comment_json(data)
    if len(text) > _METADATA_BUDGET:  # an echoed instruction or a huge unknown key: shorten, keep keys
        data = {k: cut(v, 500) if isinstance(v, str) else v for k, v in data.items() if k != "instruction"}
        text = comment_json(data)
    if len(text) > _METADATA_BUDGET:
        core = ("task_id", "user_id", "provider", "target_repo", "base_branch", "dispatch_issue")
        text = comment_json({k: cut(str(data[k]), 500) for k in core if k in data})
    return f"{METADATA_PREFIX} {text} -->"


def _files_block(changed_files: list[str]) -> str:
    shown = [f"- {code(path, 300)}" for path in changed_files[:100]]
    if len(changed_files) > 100:
        shown.append(f"- ... and {len(changed_files) - 100} more")
    return f"**Changed files** ({len(changed_files)})\n" + ("\n".join(shown) or "- none")


def _run_line(runner_name: str, model: str | None, usage: Usage | None, verification: str | None) -> str:
    facts = [f"Opened by {plain(runner_name, 100)}", f"model {model_name(model, 'pr_opened')}"]
    if usage is not None:
        facts += [f"tokens {format_tokens(usage)}", f"cost {format_cost(usage.cost_usd)}"]
    facts.append(f"verification: {plain(verification) if verification else 'not run'}")
    return " · ".join(facts)


def render_pr_body(
    task: Task,
    *,
    summary: str,
    changed_files: list[str],
    runner_name: str,
    model: str | None = None,
    usage: Usage | None = None,
    verification: str | None = None,
) -> str:
    """Summary, changed files, related item, how it was made, the metadata comment, ``Fixes``."""
    tail = [_files_block(list(changed_files))]
    if task.related_item:
        tail.append(f"Related: {plain(task.related_item)}")
    tail.append(_run_line(runner_name, model, usage, verification))
    tail.append(f"{_metadata_line(task)}\nFixes {task.dispatch_repo}#{task.issue_number}")
    room = _BODY_BUDGET - sum(len(part) + 2 for part in tail) - 100
    # The summary is model text: hidden comments go (a fake metadata block could mislead a reader).
    text = sanitize_markdown(summary) or f"Changes for: {plain(task.title or task.task_id)}"
    if len(text) > room:
        text = close_fences(text[: max(0, room)]) + "\n\n_(summary truncated)_"
    return "\n\n".join([text, *tail]) + "\n"


def _git_clean(text: str) -> str:
    """What ``git commit --cleanup=whitespace`` would make of it, so the summary survives a commit."""
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def render_commit_message(task: Task, *, summary: str, runner_name: str) -> str:
    """Subject, the summary, and trailers that tie the commit to its task."""
    trailers = (
        f"Agent-Task-Id: {task.task_id.replace(chr(10), ' ')}\n"  # the pipeline looks for it verbatim
        f"Agent-Dispatch: {task.dispatch_repo}#{task.issue_number}\n"
        f"Agent-Runner: {one_line(runner_name, 100)}"
    )
    body = _git_clean(remove_invisible(summary))[:_BODY_BUDGET]  # lone surrogates cannot be encoded
    return "\n\n".join(part for part in (pr_title(task), body, trailers) if part) + "\n"


def summary_from_commit_message(message: str) -> str:
    """The summary :func:`render_commit_message` put in ``message`` (subject and trailers dropped)."""
    text = _git_clean(message)
    _, _, rest = text.partition("\n")
    paragraphs = rest.strip("\n").split("\n\n")
    last = paragraphs[-1].split("\n")
    if all(_TRAILER.match(ln) for ln in last) and any(ln.startswith("Agent-Task-Id: ") for ln in last):
        paragraphs.pop()
    return "\n\n".join(paragraphs).strip("\n")
