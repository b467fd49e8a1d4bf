"""The fake GitHub's data and the rules real GitHub applies when it changes.

Every public method expects the caller to hold ``lock`` (the HTTP layer and ``FakeGitHub`` take it),
so one request's reads and writes are atomic, like GitHub's.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from runner.sandbox.gh_models import Comment, Event, Issue, Label, Pull, Repo, User
from runner.sandbox.gh_render import ROLE_TO_PERMISSION, fake_sha

MAX_BODY = 65536  # GitHub's limit for issue, comment and pull request bodies
_COLOR = re.compile(r"[0-9a-fA-F]{6}")
_ID_BASES = {"user": 1000, "repo": 100000, "issue": 2000000, "comment": 3000000,
             "event": 4000000, "label": 5000000, "pull": 6000000}
GHOST = "ghost"  # GitHub's stand-in for deleted accounts; events can name it


class ApiError(Exception):
    """An error answer: ``status`` plus GitHub's ``{"message", "errors"}`` body."""

    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors


def validation_failed(resource: str, code: str, field: str | None = None, message: str | None = None) -> ApiError:
    err: dict[str, Any] = {"resource": resource, "code": code}
    if field:
        err["field"] = field
    if message:
        err["message"] = message
    return ApiError(422, "Validation Failed", [err])


def check_body(resource: str, body: str | None) -> None:
    if body is not None and len(body) > MAX_BODY:
        raise validation_failed(resource, "custom", "body", f"body is too long (maximum is {MAX_BODY} characters)")


class GitHubState:
    """Users, repositories and their issues, labels, comments, events and pull requests."""

    def __init__(self, token_user: str = "agent-runner-bot", clock: Callable[[], float] = time.time):
        self.lock = threading.RLock()
        self.clock = clock  # epoch seconds for created_at/updated_at; tests may pass a fake
        self.users: dict[str, User] = {}
        self.repos: dict[str, Repo] = {}
        self.repos_by_id: dict[int, Repo] = {}
        self._counters = {kind: itertools.count(base) for kind, base in _ID_BASES.items()}
        self.token_user = token_user
        # compare(repo, base, head) -> commits head is ahead of base, or None if head is missing
        self.compare: Callable[[str, str, str], int | None] | None = None
        self.add_user(token_user, "Bot" if token_user.endswith("[bot]") else "User")
        self.add_user(GHOST)

    def next_id(self, kind: str) -> int:
        return next(self._counters[kind])

    # users and permissions -------------------------------------------------------------------

    def add_user(self, login: str, type: str = "User") -> User:
        user = self.users.get(login.lower())
        if user is None:
            user = self.users[login.lower()] = User(login=login, id=self.next_id("user"), type=type)
        return user

    def known_user(self, login: str) -> User:
        if login.lower() == self.token_user.lower():
            return self.add_user(self.token_user)
        if login.lower() not in self.users:
            raise ApiError(404, "Not Found")
        return self.users[login.lower()]

    def role(self, repo: Repo, login: str) -> str:
        """admin|maintain|write|triage|read|none; the token's user is admin unless told otherwise."""
        if login.lower() in repo.permissions:
            return repo.permissions[login.lower()]
        return "admin" if login.lower() == self.token_user.lower() else "none"

    def set_permission(self, repo: Repo, login: str, role: str) -> None:
        if role not in ROLE_TO_PERMISSION:
            raise ValueError(f"unknown role {role!r}: use one of {sorted(ROLE_TO_PERMISSION)}")
        self.add_user(login)
        repo.permissions[login.lower()] = role

    # repositories and labels -----------------------------------------------------------------

    def add_repo(self, full_name: str, clone_url: str, default_branch: str, private: bool) -> Repo:
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"repo must be owner/name, got {full_name!r}")
        self.add_user(owner, "Organization")
        repo = Repo(id=self.next_id("repo"), owner=owner, name=name, clone_url=clone_url,
                    default_branch=default_branch, private=private, created_at=self.clock())
        self.repos[full_name.lower()] = self.repos_by_id[repo.id] = repo
        return repo

    def repo(self, full_name: str) -> Repo:
        repo = self.repos.get(full_name.lower())
        if repo is None:
            raise ApiError(404, "Not Found")
        return repo

    def label(self, repo: Repo, name: str) -> Label:
        label = repo.labels.get(name.lower())
        if label is None:
            raise ApiError(404, "Not Found")
        return label

    def create_label(self, repo: Repo, name: str, color: str = "ededed", description: str | None = None) -> Label:
        if not isinstance(name, str) or not name.strip():
            raise validation_failed("Label", "missing_field", "name")
        if not isinstance(color, str) or not _COLOR.fullmatch(color.lstrip("#")):
            raise validation_failed("Label", "invalid", "color")
        if name.lower() in repo.labels:
            raise validation_failed("Label", "already_exists", "name")
        label = Label(id=self.next_id("label"), name=name, color=color.lstrip("#"), description=description)
        repo.labels[name.lower()] = label
        return label

    def edit_label(self, repo: Repo, name: str, new_name: str | None, color: str | None,
                   description: str | None) -> Label:
        label = self.label(repo, name)
        if color is not None:
            if not _COLOR.fullmatch(color.lstrip("#")):
                raise validation_failed("Label", "invalid", "color")
            label.color = color.lstrip("#")
        if new_name and new_name.lower() != name.lower():
            if new_name.lower() in repo.labels:
                raise validation_failed("Label", "already_exists", "name")
            del repo.labels[name.lower()]
            repo.labels[new_name.lower()] = label
        label.name = new_name or label.name
        label.description = description if description is not None else label.description
        return label

    def delete_label(self, repo: Repo, name: str) -> None:
        label = self.label(repo, name)
        del repo.labels[name.lower()]
        for issue in repo.issues.values():
            if label in issue.labels:
                issue.labels.remove(label)

    # issues ----------------------------------------------------------------------------------

    def issue(self, repo: Repo, number: int) -> Issue:
        issue = repo.issues.get(number)
        if issue is None:
            raise ApiError(404, "Not Found")
        return issue

    def create_issue(self, repo: Repo, title: str, body: str | None, author: str,
                     labels: Iterable[str] = (), actor: str | None = None) -> Issue:
        if not isinstance(title, str) or not title.strip():
            raise validation_failed("Issue", "missing_field", "title")
        check_body("Issue", body)
        self.add_user(author)
        now = self.clock()
        issue = Issue(id=self.next_id("issue"), number=repo.next_number, title=title, body=body,
                      author=author, created_at=now, updated_at=now)
        repo.next_number += 1
        repo.issues[issue.number] = issue
        self.add_labels(repo, issue, labels, actor or author)
        return issue

    def edit_issue(self, repo: Repo, issue: Issue, actor: str, fields: dict[str, Any]) -> None:
        if "body" in fields:
            check_body("PullRequest" if issue.pull else "Issue", fields["body"])
            issue.body = fields["body"]
        if fields.get("title") is not None:
            issue.title = fields["title"]
        state = fields.get("state")
        if state is not None and state != issue.state:
            if state not in ("open", "closed"):
                raise validation_failed("Issue", "invalid", "state")
            now = self.clock()
            issue.state, issue.closed_at = state, now if state == "closed" else None
            issue.closed_by = actor if state == "closed" else None
            issue.state_reason = fields.get("state_reason") or ("completed" if state == "closed" else "reopened")
            self._event(issue, "closed" if state == "closed" else "reopened", actor)
        if fields.get("labels") is not None:
            self.set_labels(repo, issue, fields["labels"], actor)
        issue.updated_at = self.clock()

    def add_labels(self, repo: Repo, issue: Issue, names: Iterable[str], actor: str) -> None:
        for name in names:
            label = repo.labels.get(name.lower()) or self.create_label(repo, name)
            if label not in issue.labels:
                issue.labels.append(label)
                self._event(issue, "labeled", actor, label)
        issue.updated_at = self.clock()

    def remove_label(self, repo: Repo, issue: Issue, name: str, actor: str) -> None:
        label = repo.labels.get(name.lower())
        if label is None or label not in issue.labels:
            raise ApiError(404, "Label does not exist")
        issue.labels.remove(label)
        self._event(issue, "unlabeled", actor, label)
        issue.updated_at = self.clock()

    def set_labels(self, repo: Repo, issue: Issue, names: Iterable[str], actor: str) -> None:
        wanted = {n.lower() for n in names}
        for label in list(issue.labels):
            if label.name.lower() not in wanted:
                self.remove_label(repo, issue, label.name, actor)
        self.add_labels(repo, issue, names, actor)

    def _event(self, issue: Issue, kind: str, actor: str, label: Label | None = None) -> None:
        self.add_user(actor)
        issue.events.append(Event(id=self.next_id("event"), event=kind, actor=actor, created_at=self.clock(),
                                  label=(label.name, label.color) if label else None))

    # comments --------------------------------------------------------------------------------

    def add_comment(self, repo: Repo, issue: Issue, body: str, author: str) -> Comment:
        if not isinstance(body, str) or not body:
            raise validation_failed("IssueComment", "missing_field", "body")
        check_body("IssueComment", body)
        self.add_user(author)
        now = self.clock()
        comment = Comment(id=self.next_id("comment"), issue_number=issue.number, body=body,
                          author=author, created_at=now, updated_at=now)
        repo.comments[comment.id] = comment
        issue.comment_ids.append(comment.id)
        issue.updated_at = now  # a new comment bumps the issue, so `since` polling sees it
        return comment

    def comment(self, repo: Repo, comment_id: int) -> Comment:
        comment = repo.comments.get(comment_id)
        if comment is None:
            raise ApiError(404, "Not Found")
        return comment

    def edit_comment(self, repo: Repo, comment_id: int, body: str) -> Comment:
        comment = self.comment(repo, comment_id)
        if not isinstance(body, str) or not body:
            raise validation_failed("IssueComment", "missing_field", "body")
        check_body("IssueComment", body)
        comment.body, comment.updated_at = body, self.clock()
        return comment

    def delete_comment(self, repo: Repo, comment_id: int) -> None:
        comment = self.comment(repo, comment_id)
        del repo.comments[comment_id]
        repo.issues[comment.issue_number].comment_ids.remove(comment_id)

    # pull requests ---------------------------------------------------------------------------

    def create_pull(self, repo: Repo, author: str, title: str, head: str, base: str,
                    body: str | None = None, draft: bool = False) -> Issue:
        for field, value in (("title", title), ("head", head), ("base", base)):
            if not isinstance(value, str) or not value:
                raise validation_failed("PullRequest", "missing_field", field)
        check_body("PullRequest", body)
        owner, _, branch = head.rpartition(":")
        if owner and owner.lower() != repo.owner.lower():
            raise validation_failed("PullRequest", "invalid", "head")  # forks are not modelled
        if self.open_pull_for(repo, branch):
            raise validation_failed("PullRequest", "custom",
                                    message=f"A pull request already exists for {repo.owner}:{branch}.")
        ahead = self.compare(repo.full_name, base, branch) if self.compare else 1
        if ahead is None:
            raise validation_failed("PullRequest", "invalid", "head")
        if ahead <= 0:
            raise validation_failed("PullRequest", "custom", message=f"No commits between {base} and {branch}")
        issue = self.create_issue(repo, title, body, author)
        issue.pull = Pull(id=self.next_id("pull"), head_ref=branch, base_ref=base, draft=bool(draft),
                          head_sha=fake_sha(repo.id, branch, issue.number))
        return issue

    def open_pull_for(self, repo: Repo, branch: str) -> Issue | None:
        return next((i for i in repo.issues.values()
                     if i.pull and i.state == "open" and i.pull.head_ref == branch), None)

    def pull(self, repo: Repo, number: int) -> Issue:
        issue = self.issue(repo, number)
        if issue.pull is None:
            raise ApiError(404, "Not Found")
        return issue
