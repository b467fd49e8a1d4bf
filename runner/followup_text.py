"""Follow-up comments, read and recognized. Pure.

* ``parse_command``: does a comment ask for a round (`/agent also update the README`) or a cancel
  (`/agent cancel`)? Only a comment that *starts* with the command word counts (a quote of one does not).
* ``runner_pr``: is a pull request one this runner opened, and for which task and dispatch issue?
* The commit's ``Agent-Followup`` trailer, by which a rerun sees that the round was pushed already
  (the reply's markers are in ``followup_claim``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from runner.dispatch import branch_name
from runner.dispatch_text import remove_invisible, sanitize_markdown
from runner.status import pr_metadata

TRAILER = "Agent-Followup"
_REF = r"([A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+)#(\d+)"
_REF_RE = re.compile(rf"^{_REF}$")
_FIXES_RE = re.compile(rf"^Fixes {_REF}[ \t]*$", re.M)
_NUMBER_RE = re.compile(r"/(\d+)$")


@dataclass(frozen=True)
class Command:
    kind: str  # "round" or "cancel"
    instruction: str  # sanitized like an issue's instruction; empty for a cancel


def parse_command(body: Any, word: str) -> Command | None:
    """The command a comment gives, or None. ``word`` is AGENT_COMMAND (``/agent``), matched
    case-insensitively and as a whole word; a command with nothing after it is not one."""
    if not isinstance(body, str) or not word:
        return None
    text = remove_invisible(body).lstrip()
    if not text.lower().startswith(word.lower()):
        return None
    rest = text[len(word):]
    if rest[:1] and not rest[:1].isspace():
        return None  # "/agents", "/agent-x"
    instruction = sanitize_markdown(rest).strip()
    if not instruction:
        return None
    if instruction.lower().rstrip(".!") == "cancel":
        return Command("cancel", "")
    return Command("round", instruction)


@dataclass(frozen=True)
class RunnerPr:
    """A pull request the runner opened, with the task it belongs to."""

    repo: str
    number: int
    html_url: str
    head_ref: str
    base_ref: str
    state: str
    task_id: str
    dispatch_repo: str
    dispatch_number: int


def runner_pr(repo: str, data: dict[str, Any], *, me: str, branch_prefix: str) -> tuple[RunnerPr | None, str]:
    """The PR as a :class:`RunnerPr` when the runner's account opened it from the task's own branch
    and its body holds the task metadata; otherwise None and why not (for the log)."""
    author = str((data.get("user") or {}).get("login") or "")
    if author.lower() != me.lower():
        return None, f"opened by @{author}, not by the runner"
    meta = pr_metadata(data.get("body") or "")
    task_id = meta.get("task_id") if meta else None
    if not isinstance(task_id, str) or not task_id:
        return None, "its body holds no agent_task_metadata"
    head = str((data.get("head") or {}).get("ref") or "")
    if head != branch_name(branch_prefix, task_id):
        return None, f"its branch {head!r} is not the task's branch"
    ref = dispatch_ref(meta, data.get("body") or "")
    if ref is None:
        return None, "it names no dispatch issue"
    pr = RunnerPr(repo=repo, number=int(data["number"]), html_url=str(data.get("html_url") or ""), head_ref=head,
                  base_ref=str((data.get("base") or {}).get("ref") or ""), state=str(data.get("state") or ""),
                  task_id=task_id, dispatch_repo=ref[0], dispatch_number=ref[1])
    return pr, ""


def dispatch_ref(meta: dict[str, Any] | None, body: str) -> tuple[str, int] | None:
    """``(owner/name, number)`` of the dispatch issue: the metadata's ``dispatch_issue``, else the
    PR body's ``Fixes owner/name#N`` line."""
    value = (meta or {}).get("dispatch_issue")
    match = _REF_RE.match(value) if isinstance(value, str) else None
    match = match or _FIXES_RE.search(body)
    return (match.group(1), int(match.group(2))) if match else None


def with_trailer(message: str, comment_id: int) -> str:
    """A commit message from ``render_commit_message`` with the round's trailer added to its trailers."""
    return f"{message.rstrip()}\n{TRAILER}: {comment_id}\n"


def has_trailer(message: str | None, comment_id: int) -> bool:
    return bool(message) and re.search(rf"^{TRAILER}: {comment_id}$", message or "", re.M) is not None


def issue_number(comment: dict[str, Any]) -> int | None:
    """The issue or PR number a repository comment belongs to (from its ``issue_url``)."""
    match = _NUMBER_RE.search(str(comment.get("issue_url") or ""))
    return int(match.group(1)) if match else None


def on_pull_request(comment: dict[str, Any]) -> bool:
    """GitHub links a comment on a PR as ``.../pull/N#issuecomment-...``, one on an issue as ``/issues/``."""
    return "/pull/" in str(comment.get("html_url") or "")


def epoch(stamp: Any) -> float:
    """GitHub's ``2024-05-01T12:00:00Z`` as epoch seconds (0 when missing or unreadable)."""
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def iso(seconds: float) -> str:
    """Epoch seconds as GitHub's timestamp format (whole seconds, UTC)."""
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
