"""GitHubHub: the GitHub operations the pipeline needs (``runner.ports.Hub``) over RestClient.

Lookups that guard a write or an authorization decision (find_comment, find_open_pr, labeler,
get_issue) are unconditional: a stale ETag there could duplicate a comment or PR, or trust the wrong
person. General listings (issue_comments) are conditional.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import quote

from runner.github.rest import GitHubError, RestClient
from runner.ports import Comment, KeyValueCache, PullRequest, RepoInfo

PERMISSIONS = ("admin", "maintain", "write", "triage", "read")


def _q(name: str) -> str:
    """A label or login as one path segment (``priority:high`` -> ``priority%3Ahigh``)."""
    return quote(name, safe="")


def _comment(data: dict[str, Any]) -> Comment:
    return Comment(id=int(data["id"]), body=data.get("body") or "", html_url=data.get("html_url") or "",
                   author=str((data.get("user") or {}).get("login") or ""))


def _pull(data: dict[str, Any]) -> PullRequest:
    return PullRequest(number=int(data["number"]), html_url=data.get("html_url") or "",
                       head_ref=(data.get("head") or {}).get("ref", ""), state=data.get("state") or "open",
                       body=data.get("body") or "")


def _level(data: dict[str, Any]) -> str:
    """``role_name`` knows maintain and triage; ``permission`` folds them into write and read."""
    role = data.get("role_name")
    if role in PERMISSIONS:
        return str(role)
    permission = data.get("permission")
    return str(permission) if permission in PERMISSIONS else "none"


def _since_params(since: str) -> dict[str, Any]:
    return {"since": since, "sort": "updated", "direction": "asc", "per_page": 100}


class GitHubHub:
    """``runner.ports.Hub`` on the real REST API, plus the few calls ``check`` and setup need.

    ``kv`` (optional) caches permissions for ``permission_ttl`` and repository metadata for
    ``repo_ttl`` seconds, so warm tasks skip those requests.
    """

    def __init__(self, rest: RestClient, *, kv: KeyValueCache | None = None,
                 permission_ttl: float = 600.0, repo_ttl: float = 3600.0, login: Callable[[], str] | None = None):
        self.rest = rest
        self._login = login  # GitHub App: the bot's login (installation tokens cannot read GET /user)
        self._kv = kv
        self._permission_ttl = permission_ttl
        self._repo_ttl = repo_ttl

    # --- reads -------------------------------------------------------------------------------------

    def whoami(self) -> str:
        """The token's login (cached a day: it only changes with the token)."""
        if self._login is not None:
            return self._login()
        cached = self._kv.get("whoami") if self._kv else None
        if cached:
            return str(cached)
        login = str(self.rest.get("/user").json["login"])
        if self._kv:
            self._kv.put("whoami", login, 86400.0)
        return login

    def rate_limit(self) -> dict[str, Any]:
        return self.rest.get("/rate_limit").json

    def get_repo(self, repo: str) -> RepoInfo:
        key = f"repo:{repo}"
        cached = self._kv.get(key) if self._kv else None
        if cached:
            return RepoInfo(**cached)
        data = self.rest.get(f"/repos/{repo}").json
        info = RepoInfo(full_name=data["full_name"], clone_url=data["clone_url"],
                        default_branch=data["default_branch"])
        if self._kv:
            self._kv.put(key, asdict(info), self._repo_ttl)
        return info

    def repo_permissions(self, repo: str) -> dict[str, bool]:
        """What the token may do in ``repo`` (``admin``, ``maintain``, ``push``, ``triage``, ``pull``)."""
        return dict(self.rest.get(f"/repos/{repo}").json.get("permissions") or {})

    def get_issue(self, repo: str, number: int) -> dict[str, Any]:
        return self.rest.get(f"/repos/{repo}/issues/{number}").json

    def labeler(self, repo: str, number: int, label: str) -> str | None:
        """Login of whoever applied ``label`` most recently (``ghost`` for deleted users), or None."""
        events = self.rest.get_all(f"/repos/{repo}/issues/{number}/events", {"per_page": 100},
                                   conditional=False)
        wanted = label.lower()
        labeled = [e for e in events if e.get("event") == "labeled"
                   and str((e.get("label") or {}).get("name", "")).lower() == wanted]
        if not labeled:
            return None
        newest = max(labeled, key=lambda e: (e.get("created_at") or "", e.get("id") or 0))
        return (newest.get("actor") or {}).get("login")

    def permission(self, repo: str, login: str) -> str:
        """One of admin, maintain, write, triage, read, none (not a collaborator)."""
        key = f"permission:{repo}:{login.lower()}"
        cached = self._kv.get(key) if self._kv else None
        if cached:
            return str(cached)
        try:
            data = self.rest.get(f"/repos/{repo}/collaborators/{_q(login)}/permission").json
        except GitHubError as exc:
            if exc.status == 404:
                return "none"  # not cached: a newly added collaborator should not wait for expiry
            raise
        level = _level(data or {})
        if self._kv and level != "none":
            self._kv.put(key, level, self._permission_ttl)
        return level

    def issue_comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        return self.rest.get_all(f"/repos/{repo}/issues/{number}/comments", {"per_page": 100})

    def find_comment(self, repo: str, number: int, marker: str, *, fresh: bool = True) -> Comment | None:
        """The first comment holding ``marker`` written by the token's own account: anyone can type
        a marker into a comment, only the runner's account can have written the real one.
        ``fresh=False`` allows a conditional (free when unchanged) listing, for read-only decisions."""
        comments = self.rest.get_all(f"/repos/{repo}/issues/{number}/comments", {"per_page": 100},
                                     conditional=not fresh)
        me = self.whoami().lower()
        for data in comments:
            comment = _comment(data)
            if marker in comment.body and comment.author.lower() == me:
                return comment
        return None

    def find_open_pr(self, repo: str, branch: str) -> PullRequest | None:
        # GitHub ignores a bare branch name in ``head`` (and returns every PR): always owner:branch.
        owner = repo.split("/", 1)[0]
        params = {"state": "open", "head": f"{owner}:{branch}", "per_page": 100}
        for data in self.rest.get_all(f"/repos/{repo}/pulls", params, conditional=False):
            if (data.get("head") or {}).get("ref") == branch:
                return _pull(data)
        return None

    # --- follow-ups (runner/followup*.py) ------------------------------------------------------------

    def get_pr(self, repo: str, number: int) -> dict[str, Any]:
        """A pull request as GitHub sends it (unconditional: a round acts on what it says)."""
        return self.rest.get(f"/repos/{repo}/pulls/{number}").json

    def repo_comments_since(self, repo: str, since: str) -> list[dict[str, Any]]:
        """Every issue and PR comment in ``repo`` updated at or after ``since`` (ISO 8601), oldest update
        first: one conditional request per page, answered by a free 304 while nothing moved."""
        return self.rest.get_all(f"/repos/{repo}/issues/comments", _since_params(since))

    def repo_comments_key(self, repo: str, since: str) -> str:
        """The ETag cache key of that listing's first page (dropped once ``since`` moves on)."""
        return self.rest.url_for(f"/repos/{repo}/issues/comments", _since_params(since))

    def pr_review_comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        """Review comments on a PR's diff (context for a round, so a conditional listing is fine)."""
        return self.rest.get_all(f"/repos/{repo}/pulls/{number}/comments", {"per_page": 100})

    def own_comments(self, repo: str, number: int) -> list[Comment]:
        """The comments the token's own account wrote on an issue or PR (unconditional: they guard writes)."""
        comments = self.rest.get_all(f"/repos/{repo}/issues/{number}/comments", {"per_page": 100},
                                     conditional=False)
        me = self.whoami().lower()
        return [c for c in map(_comment, comments) if c.author.lower() == me]

    def get_label(self, repo: str, name: str) -> dict[str, Any] | None:
        try:
            return self.rest.get(f"/repos/{repo}/labels/{_q(name)}").json
        except GitHubError as exc:
            if exc.status == 404:
                return None
            raise

    # --- writes ------------------------------------------------------------------------------------

    def create_comment(self, repo: str, number: int, body: str) -> Comment:
        return _comment(self.rest.post(f"/repos/{repo}/issues/{number}/comments", {"body": body}).json)

    def update_comment(self, repo: str, comment_id: int, body: str) -> None:
        self.rest.patch(f"/repos/{repo}/issues/comments/{comment_id}", {"body": body})

    def add_labels(self, repo: str, number: int, labels: list[str]) -> list[str]:
        resp = self.rest.post(f"/repos/{repo}/issues/{number}/labels", {"labels": list(labels)})
        return [label["name"] for label in resp.json or []]

    def set_labels(self, repo: str, number: int, labels: list[str]) -> list[str]:
        """Replace all labels in one PUT (a label swap is one write, not two)."""
        resp = self.rest.put(f"/repos/{repo}/issues/{number}/labels", {"labels": list(labels)})
        return [label["name"] for label in resp.json or []]

    def remove_label(self, repo: str, number: int, name: str) -> None:
        try:
            self.rest.delete(f"/repos/{repo}/issues/{number}/labels/{_q(name)}")
        except GitHubError as exc:
            if exc.status != 404:  # 404: the label is already gone, which is what was asked
                raise

    def create_label(self, repo: str, name: str, color: str, description: str = "") -> None:
        body = {"name": name, "color": color.lstrip("#"), "description": description}
        try:
            self.rest.post(f"/repos/{repo}/labels", body)
        except GitHubError as exc:
            if not (exc.status == 422 and exc.has_code("already_exists")):
                raise

    def create_pr(self, repo: str, *, title: str, head: str, base: str, body: str) -> PullRequest:
        """Open a PR; when one is already open from ``head``, return that one instead."""
        payload = {"title": title, "head": head, "base": base, "body": body}
        try:
            return _pull(self.rest.post(f"/repos/{repo}/pulls", payload).json)
        except GitHubError as exc:
            if exc.status == 422 and exc.mentions("pull request already exists"):
                existing = self.find_open_pr(repo, head.split(":", 1)[-1])
                if existing is not None:
                    return existing
            raise

    def update_pr(self, repo: str, number: int, *, title: str, body: str) -> None:
        self.rest.patch(f"/repos/{repo}/pulls/{number}", {"title": title, "body": body})
