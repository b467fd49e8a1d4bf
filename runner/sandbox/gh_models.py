"""In-memory records behind the fake GitHub server: plain dataclasses, no behaviour.

Timestamps are ``time.time()`` floats; rendering turns them into GitHub's ``YYYY-MM-DDTHH:MM:SSZ``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class User:
    login: str
    id: int
    type: str = "User"
    site_admin: bool = False


@dataclass
class Label:
    """A repository label. Issues hold references, so a rename shows everywhere at once."""

    id: int
    name: str
    color: str = "ededed"
    description: str | None = None
    default: bool = False


@dataclass
class Event:
    """One issue event (``labeled``, ``unlabeled``, ``closed``, ``reopened``)."""

    id: int
    event: str
    actor: str
    created_at: float
    label: tuple[str, str] | None = None  # (name, color) as it was when the event happened


@dataclass
class Comment:
    id: int
    issue_number: int
    body: str
    author: str
    created_at: float
    updated_at: float


@dataclass
class Pull:
    """What makes an issue a pull request."""

    id: int
    head_ref: str
    head_sha: str
    base_ref: str
    draft: bool = False
    merged_at: float | None = None


@dataclass
class Issue:
    id: int
    number: int
    title: str
    body: str | None
    author: str
    created_at: float
    updated_at: float
    state: str = "open"
    state_reason: str | None = None
    closed_at: float | None = None
    closed_by: str | None = None
    labels: list[Label] = field(default_factory=list)
    comment_ids: list[int] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    pull: Pull | None = None


@dataclass
class Repo:
    id: int
    owner: str
    name: str
    clone_url: str
    default_branch: str
    private: bool
    created_at: float
    labels: dict[str, Label] = field(default_factory=dict)  # key: lowercased name (GitHub ignores case)
    issues: dict[int, Issue] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    permissions: dict[str, str] = field(default_factory=dict)  # login -> role
    next_number: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"
