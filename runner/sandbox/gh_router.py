"""The route table of the fake GitHub: (method, path pattern) -> handler."""

from __future__ import annotations

import re
from collections.abc import Callable

from runner.sandbox import gh_pulls as pulls
from runner.sandbox import gh_routes as r
from runner.sandbox.gh_state import ApiError

_REPO = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"
_ISSUE = _REPO + r"/issues/(?P<number>\d+)"
_TABLE: list[tuple[str, str, Callable[..., r.Reply]]] = [
    ("GET", r"/user", r.get_user),
    ("GET", r"/users/(?P<login>[^/]+)", r.get_other_user),
    ("GET", _REPO, r.get_repo),
    ("GET", _REPO + r"/collaborators/(?P<login>[^/]+)/permission", r.get_permission),
    ("GET", _REPO + r"/issues", r.list_issues),
    ("POST", _REPO + r"/issues", r.create_issue),
    ("GET", _REPO + r"/issues/comments", r.list_repo_comments),
    ("GET", _REPO + r"/issues/comments/(?P<comment_id>\d+)", r.get_comment),
    ("PATCH", _REPO + r"/issues/comments/(?P<comment_id>\d+)", r.edit_comment),
    ("DELETE", _REPO + r"/issues/comments/(?P<comment_id>\d+)", r.delete_comment),
    ("GET", _ISSUE, r.get_issue),
    ("PATCH", _ISSUE, r.edit_issue),
    ("GET", _ISSUE + r"/comments", r.list_issue_comments),
    ("POST", _ISSUE + r"/comments", r.create_comment),
    ("GET", _ISSUE + r"/events", r.list_events),
    ("GET|POST|PUT|DELETE", _ISSUE + r"/labels", r.issue_labels),
    ("DELETE", _ISSUE + r"/labels/(?P<label>[^/]+)", r.remove_issue_label),
    ("GET|POST", _REPO + r"/labels", r.repo_labels),
    ("GET|PATCH|DELETE", _REPO + r"/labels/(?P<label>[^/]+)", r.one_label),
    ("GET", _REPO + r"/pulls", pulls.list_pulls),
    ("POST", _REPO + r"/pulls", pulls.create_pull),
    ("GET", _REPO + r"/pulls/(?P<number>\d+)", pulls.get_pull),
    ("PATCH", _REPO + r"/pulls/(?P<number>\d+)", pulls.edit_pull),
    ("GET", _REPO + r"/pulls/(?P<number>\d+)/comments", pulls.list_review_comments),
]
ROUTES = [(frozenset(m.split("|")), re.compile(p), h) for m, p, h in _TABLE]


def dispatch(ctx: r.Ctx, path: str) -> r.Reply:
    """Runs the handler for ``path`` (``/repos/...`` form); unknown routes answer 404 like GitHub."""
    for methods, pattern, handler in ROUTES:
        match = pattern.fullmatch(path)
        if match and ctx.method in methods:
            return handler(ctx, **match.groupdict())
    raise ApiError(404, "Not Found")
