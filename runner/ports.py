"""Value objects and the Protocol seams between the pipeline and the outside world.

The pipeline only sees these. Real implementations live in ``github/``, ``workspace.py`` and
``agent/``; tests pass in-memory fakes from ``tests/fakes/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import Any, Protocol


@dataclass(frozen=True)
class Task:
    """One dispatch issue, parsed. Built by ``dispatch.parse_issue`` (pure)."""

    task_id: str
    dispatch_repo: str  # owner/name the issue lives in
    issue_number: int
    target_repo: str  # owner/name the PR goes to
    instruction: str  # sanitized: no foreign HTML comments, no invisible Unicode
    title: str
    author: str
    user_id: str | None = None
    base_branch: str | None = None
    related_item: str | None = None  # "owner/name#N" when the target is an issue or PR
    related_text: str = ""  # that item's title and body, sanitized: context for the model, never a patch
    metadata: dict[str, Any] = field(default_factory=dict)  # every metadata key, echoed to the PR
    warnings: tuple[str, ...] = ()  # e.g. "metadata JSON ignored: ..." for the status comment
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class RepoInfo:
    full_name: str
    clone_url: str
    default_branch: str


@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    html_url: str = ""
    author: str = ""  # login; markers only count in comments the runner's own account wrote


@dataclass(frozen=True)
class PullRequest:
    number: int
    html_url: str
    head_ref: str
    state: str = "open"
    body: str = ""


@dataclass(frozen=True)
class Usage:
    """What the model cost. ``cost_usd`` is None when the model has no known price."""

    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = 0.0
    calls: int = 0

    def __add__(self, other: Usage) -> Usage:
        cost = None if self.cost_usd is None or other.cost_usd is None else self.cost_usd + other.cost_usd
        return Usage(
            self.tokens_in + other.tokens_in,
            self.tokens_out + other.tokens_out,
            cost,
            self.calls + other.calls,
        )


@dataclass(frozen=True)
class ModelReply:
    text: str
    model: str  # the model that answered (a fallback may have)
    usage: Usage


@dataclass(frozen=True)
class ChangeResult:
    """What the edit plan produced in a checkout."""

    summary: str  # user-facing description of the change, used in the PR body
    changed_files: tuple[str, ...]
    usage: Usage = Usage()
    model: str | None = None
    turns: int = 0
    verification: str | None = None  # "passed", "failed", "not configured", ...
    notes: tuple[str, ...] = ()  # shown with the status comment's warnings, e.g. "image ignored: ..."


@dataclass(frozen=True)
class Checkout:
    path: Path  # working tree for this task
    base_branch: str
    base_sha: str


class Hub(Protocol):
    """The GitHub operations the pipeline needs. Every write is safe to call again after a crash
    only when preceded by the matching lookup; the pipeline does that."""

    def get_repo(self, repo: str) -> RepoInfo: ...
    def get_issue(self, repo: str, number: int) -> dict[str, Any]: ...
    def labeler(self, repo: str, number: int, label: str) -> str | None:
        """Login of whoever applied ``label`` most recently, or None."""
    def permission(self, repo: str, login: str) -> str:
        """One of admin, maintain, write, triage, read, none."""
    def find_comment(self, repo: str, number: int, marker: str, *, fresh: bool = True) -> Comment | None:
        """The first comment by the runner's own account whose body contains ``marker``.
        ``fresh=False`` may answer from a conditional request (read-only decisions only)."""
    def create_comment(self, repo: str, number: int, body: str) -> Comment: ...
    def update_comment(self, repo: str, comment_id: int, body: str) -> None: ...
    def add_labels(self, repo: str, number: int, labels: list[str]) -> list[str]: ...
    def set_labels(self, repo: str, number: int, labels: list[str]) -> list[str]:
        """Replace all labels at once (one PUT)."""
    def find_open_pr(self, repo: str, branch: str) -> PullRequest | None: ...
    def create_pr(self, repo: str, *, title: str, head: str, base: str, body: str) -> PullRequest: ...
    def update_pr(self, repo: str, number: int, *, title: str, body: str) -> None: ...


class Workspace(Protocol):
    """Git on the runner's side: a mirror cache per target repo and throwaway task checkouts."""

    author_email: str  # the runner's commit identity: tells its own pushes from anyone else's

    def remote_branch_sha(self, clone_url: str, branch: str) -> str | None: ...
    def prepare(self, task_id: str, clone_url: str, base_branch: str) -> Checkout: ...
    def commit(self, checkout: Checkout, message: str, paths: Sequence[str] | None = None) -> str | None:
        """Commit the changes to ``paths`` (every change when None); None when nothing changed."""
    def push(self, checkout: Checkout, branch: str, clone_url: str) -> None:
        """Push HEAD to ``branch``; never forces over commits the runner did not write."""
    def branch_commit_message(self, clone_url: str, branch: str) -> str | None:
        """Message of the branch tip (fetched into the mirror), None if the branch is absent."""
    def branch_author_email(self, clone_url: str, branch: str) -> str | None:
        """Author email of the branch tip, None if the branch is absent."""
    def cleanup(self, checkout: Checkout) -> None: ...


class Model(Protocol):
    """Messages in, reply plus usage out. Raises TaskFailed/TransientError, never library errors."""

    def complete(self, messages: list[dict[str, Any]]) -> ModelReply: ...


@dataclass(frozen=True)
class CachedResponse:
    """One conditional-GET page as last seen: replayed on 304 (which carries no body or Link)."""

    etag: str
    body: Any  # parsed JSON
    next_url: str | None = None
    fetched_at: float = 0.0


class ResponseCache(Protocol):
    """Persistent ETag cache, keyed by the full request URL (ETags are tied to every parameter)."""

    def get(self, key: str) -> CachedResponse | None: ...
    def put(self, key: str, value: CachedResponse) -> None: ...


class KeyValueCache(Protocol):
    """Small expiring cache (permissions, repository metadata) so warm tasks skip lookups."""

    def get(self, key: str) -> Any | None: ...
    def put(self, key: str, value: Any, ttl: float) -> None: ...
