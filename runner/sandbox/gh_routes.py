"""REST routes of the fake GitHub: one small handler per endpoint, over ``GitHubState``.

Handlers run with the state lock held and return a ``Reply``; list endpoints return the whole
filtered, sorted list in ``Reply.items`` and the HTTP layer cuts the page and writes ``Link``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from runner.sandbox.gh_models import Repo
from runner.sandbox.gh_render import ROLE_RANK, ROLE_TO_PERMISSION, Renderer
from runner.sandbox.gh_state import ApiError, GitHubState, validation_failed


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    items: list[Any] | None = None  # a list endpoint: everything matching, before pagination
    render: Callable[[Any], Any] | None = None  # applied to the items of the page only


@dataclass
class Ctx:
    state: GitHubState
    render: Renderer
    method: str
    query: dict[str, str]
    body: Any
    actor: str  # the token's user

    def repo(self, owner: str, name: str, min_role: str = "read") -> Repo:
        repo = self.state.repo(f"{unquote(owner)}/{unquote(name)}")
        role = self.state.role(repo, self.actor)
        if repo.private and role == "none":
            raise ApiError(404, "Not Found")  # GitHub hides private repos from outsiders
        if ROLE_RANK.index(role) < ROLE_RANK.index(min_role):
            raise ApiError(403, "Resource not accessible by personal access token")
        return repo

    def fields(self, resource: str, **types: type | tuple[type, ...]) -> dict[str, Any]:
        """The JSON object body, type-checked like GitHub does ("Invalid request")."""
        if not isinstance(self.body, dict):
            raise ApiError(422, f"Invalid request.\n\nFor 'links/0/schema', {self.body!r} is not an object.")
        for name, kind in types.items():
            value = self.body.get(name)
            if name in self.body and value is not None and not isinstance(value, kind):
                raise ApiError(422, f"Invalid request.\n\nFor 'properties/{name}', {value!r} is not a {_kind(kind)}.")
        return self.body


def _kind(kind: type | tuple[type, ...]) -> str:
    first = kind[0] if isinstance(kind, tuple) else kind
    return {str: "string", bool: "boolean", list: "array", int: "integer"}.get(first, "object")


def _since(query: dict[str, str]) -> float | None:
    raw = query.get("since")
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise validation_failed("Issue", "invalid", "since") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def ordered(items: list[Any], query: dict[str, str], keys: dict[str, Callable[[Any], Any]],
            default: str, default_dir: str = "desc") -> list[Any]:
    sort, direction = query.get("sort", default), query.get("direction", default_dir)
    if sort not in keys or direction not in ("asc", "desc"):
        raise validation_failed("Issue", "invalid", "sort" if sort not in keys else "direction")
    return sorted(items, key=lambda it: (keys[sort](it), it.id), reverse=direction == "desc")


_ISSUE_SORTS = {"created": lambda i: int(i.created_at), "updated": lambda i: int(i.updated_at),
                "comments": lambda i: len(i.comment_ids)}


# users and repos ---------------------------------------------------------------------------------

def get_user(ctx: Ctx) -> Reply:
    return Reply(body=ctx.render.user(ctx.state.known_user(ctx.actor).login))


def get_other_user(ctx: Ctx, login: str) -> Reply:
    return Reply(body=ctx.render.user(ctx.state.known_user(unquote(login)).login))


def get_repo(ctx: Ctx, owner: str, name: str) -> Reply:
    repo = ctx.repo(owner, name)
    return Reply(body=ctx.render.repo(repo, ctx.state.role(repo, ctx.actor)))


def get_permission(ctx: Ctx, owner: str, name: str, login: str) -> Reply:
    repo = ctx.repo(owner, name)
    user = ctx.state.known_user(unquote(login))
    role = ctx.state.role(repo, user.login)
    body = {"permission": ROLE_TO_PERMISSION[role], "role_name": role,
            "user": {**ctx.render.user(user.login), "role_name": role}}
    return Reply(body=body)


# issues ------------------------------------------------------------------------------------------

def list_issues(ctx: Ctx, owner: str, name: str) -> Reply:
    repo, q = ctx.repo(owner, name), ctx.query
    state = q.get("state", "open")
    if state not in ("open", "closed", "all"):
        raise validation_failed("Issue", "invalid", "state")
    wanted = {n.strip().lower() for n in q.get("labels", "").split(",") if n.strip()}
    since = _since(q)
    found = [i for i in repo.issues.values()
             if (state == "all" or i.state == state)
             and wanted <= {lab.name.lower() for lab in i.labels}
             and (since is None or int(i.updated_at) >= since)
             and (not q.get("creator") or i.author.lower() == q["creator"].lower())]
    found = ordered(found, q, _ISSUE_SORTS, "created")
    return Reply(items=found, render=lambda i: ctx.render.issue(repo, i))


def create_issue(ctx: Ctx, owner: str, name: str) -> Reply:
    repo = ctx.repo(owner, name)
    body = ctx.fields("Issue", title=(str, int), body=str, labels=list)
    labels = _label_names(body.get("labels") or [])
    issue = ctx.state.create_issue(repo, str(body.get("title") or ""), body.get("body"), ctx.actor, labels)
    return created_reply(ctx.render.issue(repo, issue, single=True))


def get_issue(ctx: Ctx, owner: str, name: str, number: str) -> Reply:
    repo = ctx.repo(owner, name)
    return Reply(body=ctx.render.issue(repo, ctx.state.issue(repo, int(number)), single=True))


def edit_issue(ctx: Ctx, owner: str, name: str, number: str) -> Reply:
    repo = ctx.repo(owner, name, "triage")
    issue = ctx.state.issue(repo, int(number))
    body = ctx.fields("Issue", title=(str, int), body=str, state=str, state_reason=str, labels=list)
    if body.get("labels") is not None:
        body = {**body, "labels": _label_names(body["labels"])}
    ctx.state.edit_issue(repo, issue, ctx.actor, body)
    return Reply(body=ctx.render.issue(repo, issue, single=True))


def list_events(ctx: Ctx, owner: str, name: str, number: str) -> Reply:
    repo = ctx.repo(owner, name)
    issue = ctx.state.issue(repo, int(number))
    return Reply(items=list(issue.events), render=lambda e: ctx.render.event(repo, e))


def created_reply(body: dict[str, Any]) -> Reply:
    return Reply(201, body, {"Location": body["url"]})


# comments ----------------------------------------------------------------------------------------

def list_issue_comments(ctx: Ctx, owner: str, name: str, number: str) -> Reply:
    repo = ctx.repo(owner, name)
    issue, since = ctx.state.issue(repo, int(number)), _since(ctx.query)
    found = [repo.comments[c] for c in issue.comment_ids]
    found = [c for c in found if since is None or int(c.updated_at) >= since]
    return Reply(items=found, render=lambda c: ctx.render.comment(repo, c))


def list_repo_comments(ctx: Ctx, owner: str, name: str) -> Reply:
    repo, since = ctx.repo(owner, name), _since(ctx.query)
    found = [c for c in repo.comments.values() if since is None or int(c.updated_at) >= since]
    keys = {"created": lambda c: int(c.created_at), "updated": lambda c: int(c.updated_at)}
    # without `sort` GitHub lists comments oldest first and ignores `direction`
    found = ordered(found, ctx.query, keys, "created") if "sort" in ctx.query else found
    return Reply(items=found, render=lambda c: ctx.render.comment(repo, c))


def create_comment(ctx: Ctx, owner: str, name: str, number: str) -> Reply:
    repo = ctx.repo(owner, name)
    issue = ctx.state.issue(repo, int(number))
    body = ctx.fields("IssueComment", body=str)
    comment = ctx.state.add_comment(repo, issue, body.get("body") or "", ctx.actor)
    return created_reply(ctx.render.comment(repo, comment))


def get_comment(ctx: Ctx, owner: str, name: str, comment_id: str) -> Reply:
    repo = ctx.repo(owner, name)
    return Reply(body=ctx.render.comment(repo, ctx.state.comment(repo, int(comment_id))))


def edit_comment(ctx: Ctx, owner: str, name: str, comment_id: str) -> Reply:
    repo = ctx.repo(owner, name)
    comment = ctx.state.comment(repo, int(comment_id))
    others = comment.author.lower() != ctx.actor.lower()
    if others and ctx.state.role(repo, ctx.actor) not in ("write", "maintain", "admin"):
        raise ApiError(403, "Resource not accessible by personal access token")
    body = ctx.fields("IssueComment", body=str)
    return Reply(body=ctx.render.comment(repo, ctx.state.edit_comment(repo, comment.id, body.get("body") or "")))


def delete_comment(ctx: Ctx, owner: str, name: str, comment_id: str) -> Reply:
    repo = ctx.repo(owner, name, "write")
    ctx.state.delete_comment(repo, int(comment_id))
    return Reply(204)


# labels ------------------------------------------------------------------------------------------

def _label_names(raw: Any) -> list[str]:
    """GitHub takes {"labels": [...]}, a bare array, a bare string, and {"name": ...} items."""
    if isinstance(raw, dict):
        raw = raw.get("labels", [])
    if isinstance(raw, str):
        raw = [raw]
    names = [x.get("name") if isinstance(x, dict) else x for x in raw] if isinstance(raw, list) else None
    if names is None or not all(isinstance(n, str) and n.strip() for n in names):
        raise ApiError(422, f"Invalid request.\n\nFor 'properties/labels', {raw!r} is not an array of strings.")
    return names


def issue_labels(ctx: Ctx, owner: str, name: str, number: str) -> Reply:
    repo = ctx.repo(owner, name, "read" if ctx.method == "GET" else "triage")
    issue = ctx.state.issue(repo, int(number))
    if ctx.method == "POST":
        ctx.state.add_labels(repo, issue, _label_names(ctx.body), ctx.actor)
    elif ctx.method == "PUT":
        ctx.state.set_labels(repo, issue, _label_names(ctx.body if ctx.body is not None else []), ctx.actor)
    elif ctx.method == "DELETE":
        ctx.state.set_labels(repo, issue, [], ctx.actor)
        return Reply(204)
    rendered = [ctx.render.label(repo, lab) for lab in issue.labels]
    return Reply(items=rendered) if ctx.method == "GET" else Reply(body=rendered)


def remove_issue_label(ctx: Ctx, owner: str, name: str, number: str, label: str) -> Reply:
    repo = ctx.repo(owner, name, "triage")
    issue = ctx.state.issue(repo, int(number))
    ctx.state.remove_label(repo, issue, unquote(label), ctx.actor)
    return Reply(body=[ctx.render.label(repo, lab) for lab in issue.labels])


def repo_labels(ctx: Ctx, owner: str, name: str) -> Reply:
    repo = ctx.repo(owner, name, "read" if ctx.method == "GET" else "write")
    if ctx.method == "GET":
        return Reply(items=list(repo.labels.values()), render=lambda lab: ctx.render.label(repo, lab))
    body = ctx.fields("Label", name=str, color=str, description=str)
    label = ctx.state.create_label(repo, body.get("name") or "", body.get("color") or "ededed", body.get("description"))
    return created_reply(ctx.render.label(repo, label))


def one_label(ctx: Ctx, owner: str, name: str, label: str) -> Reply:
    repo = ctx.repo(owner, name, "read" if ctx.method == "GET" else "write")
    label = unquote(label)
    if ctx.method == "DELETE":
        ctx.state.delete_label(repo, label)
        return Reply(204)
    if ctx.method == "PATCH":
        body = ctx.fields("Label", new_name=str, color=str, description=str)
        found = ctx.state.edit_label(repo, label, body.get("new_name"), body.get("color"), body.get("description"))
        return Reply(body=ctx.render.label(repo, found))
    return Reply(body=ctx.render.label(repo, ctx.state.label(repo, label)))
