"""The runner's exception tree. Library errors are translated into these at boundary modules.

    RunnerError
    ├── ConfigError        bad configuration: every problem listed, exit 2 before any network call
    ├── TaskRefused        not allowed (permission, allow-list, empty task): comment, never retried
    ├── TaskFailed         tried and failed (edits, verification, budget): comment, retried on request
    │   └── PathRefused    an edit tried to write outside the clone, into .git/ or workflows
    └── TransientError     network, 5xx, rate limits: back off; the claim is kept for a later run
        ├── GitHubAuthError   401: the token is wrong or was revoked
        └── Interrupted       shutdown reached a safe point; the next run finishes the task
"""

from __future__ import annotations


class RunnerError(Exception):
    """Base of every error the runner raises on purpose."""


class ConfigError(RunnerError):
    """The configuration is unusable. ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("bad configuration:\n" + "\n".join(f"  - {p}" for p in self.problems))


class TaskRefused(RunnerError):
    """The task must not run (who asked, where to, or nothing to do). The message is user-facing."""


class TaskFailed(RunnerError):
    """The task ran and could not finish. The message is user-facing and says what to do."""


class PathRefused(TaskFailed):
    """An edit named a path the runner will not write."""


class TransientError(RunnerError):
    """Worth retrying later. ``retry_after`` is a hint in seconds, when the server gave one."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class GitHubAuthError(TransientError):
    """GitHub answered 401: the token is missing, wrong or revoked."""


class Interrupted(TransientError):
    """Shutdown (or cancellation) reached a safe point: the claim stays, a later run finishes the task."""
