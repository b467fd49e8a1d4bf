"""Who may dispatch, and where to: checked before anything is cloned or any model is called."""

from __future__ import annotations

from runner.config import PERMISSIONS, Settings
from runner.errors import TaskRefused
from runner.ports import Hub, Task

_RANK = {name: i for i, name in enumerate(("none",) + PERMISSIONS)}


def holds(permission: str, minimum: str) -> bool:
    """True when ``permission`` is at least ``minimum`` (unknown custom roles count as none)."""
    return _RANK.get(permission, 0) >= _RANK[minimum]


def authorize(task: Task, hub: Hub, settings: Settings) -> None:
    """Raise TaskRefused, with a message for the issue's author, unless the task may run."""
    if task.target_repo.lower() not in {r.lower() for r in settings.allowed_target_repos}:
        raise TaskRefused(
            f"The target repository `{task.target_repo}` is not allowed. This runner only opens pull "
            f"requests in: {', '.join(settings.allowed_target_repos)}. Ask its operator to add it to "
            "AGENT_ALLOWED_TARGET_REPOS, or name an allowed target.")
    if not task.instruction.strip():
        raise TaskRefused("The issue holds no instruction. Describe the change in the issue body "
                          "(or under a `## Instructions` heading) and apply the label again.")
    labeler = hub.labeler(task.dispatch_repo, task.issue_number, settings.label)
    _require(hub, task.dispatch_repo, labeler, settings.min_permission,
             f"the `{settings.label}` label was applied by")
    if not settings.allow_external_authors and labeler != task.author:
        _require(hub, task.dispatch_repo, task.author, settings.min_permission, "the issue was written by")


def _require(hub: Hub, repo: str, login: str | None, minimum: str, who: str) -> None:
    if not login:
        raise TaskRefused(f"Could not tell who applied the label, so the task cannot be trusted. "
                          f"Someone with `{minimum}` permission on {repo} should apply it again.")
    permission = hub.permission(repo, login)
    if not holds(permission, minimum):
        raise TaskRefused(
            f"Refused: {who} @{login}, who has `{permission}` permission on {repo}; dispatching needs "
            f"`{minimum}`. Someone with `{minimum}` permission can review the issue and apply the label."
            + (" (Issues written by others are refused unless AGENT_ALLOW_EXTERNAL_AUTHORS is on, "
               "because their text can change after a maintainer labelled it.)"
               if who.startswith("the issue") else ""))
