"""Pull request routes of the fake GitHub (a pull request is an issue with a ``pull`` record)."""

from __future__ import annotations

from runner.sandbox.gh_routes import Ctx, Reply, created_reply, ordered
from runner.sandbox.gh_state import validation_failed

_PULL_SORTS = {"created": lambda i: int(i.created_at), "updated": lambda i: int(i.updated_at),
               "popularity": lambda i: len(i.comment_ids), "long-running": lambda i: -int(i.created_at)}


def list_pulls(ctx: Ctx, owner: str, name: str) -> Reply:
    repo, q = ctx.repo(owner, name), ctx.query
    state = q.get("state", "open")
    if state not in ("open", "closed", "all"):
        raise validation_failed("PullRequest", "invalid", "state")
    # like GitHub, `head` filters only in the `owner:branch` form; a bare branch name is ignored
    head_owner, sep, head_ref = q.get("head", "").partition(":")
    found = [i for i in repo.issues.values() if i.pull
             and (state == "all" or i.state == state)
             and (not sep or (head_owner.lower() == repo.owner.lower() and i.pull.head_ref == head_ref))
             and (not q.get("base") or i.pull.base_ref == q["base"])]
    found = ordered(found, q, _PULL_SORTS, "created")
    return Reply(items=found, render=lambda i: ctx.render.pull(repo, i))


def create_pull(ctx: Ctx, owner: str, name: str) -> Reply:
    repo = ctx.repo(owner, name, "write")
    body = ctx.fields("PullRequest", title=str, head=str, base=str, body=str, draft=bool)
    issue = ctx.state.create_pull(repo, ctx.actor, body.get("title") or "", body.get("head") or "",
                                  body.get("base") or "", body.get("body"), bool(body.get("draft")))
    return created_reply(ctx.render.pull(repo, issue, single=True))


def get_pull(ctx: Ctx, owner: str, name: str, number: str) -> Reply:
    repo = ctx.repo(owner, name)
    return Reply(body=ctx.render.pull(repo, ctx.state.pull(repo, int(number)), single=True))


def edit_pull(ctx: Ctx, owner: str, name: str, number: str) -> Reply:
    repo = ctx.repo(owner, name, "write")
    issue = ctx.state.pull(repo, int(number))
    body = ctx.fields("PullRequest", title=str, body=str, state=str, base=str)
    reopening = body.get("state") == "open" and issue.state == "closed" and issue.pull
    if reopening and ctx.state.open_pull_for(repo, issue.pull.head_ref):
        raise validation_failed("PullRequest", "custom",
                                    message=f"A pull request already exists for {repo.owner}:{issue.pull.head_ref}.")
    if body.get("base") and issue.pull:
        issue.pull.base_ref = body["base"]
    ctx.state.edit_issue(repo, issue, ctx.actor, {k: v for k, v in body.items() if k in ("title", "body", "state")})
    return Reply(body=ctx.render.pull(repo, issue, single=True))


def list_review_comments(ctx: Ctx, owner: str, name: str, number: str) -> Reply:
    """Review comments on a PR's diff: the fake models none, so the list is empty (but paginated)."""
    repo = ctx.repo(owner, name)
    ctx.state.pull(repo, int(number))
    return Reply(items=[])
