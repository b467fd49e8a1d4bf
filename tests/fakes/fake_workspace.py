"""An in-memory Workspace (runner.ports.Workspace): branches are dicts of commit messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from runner.ports import Checkout


@dataclass
class FakeWorkspace:
    root: Path
    author_email: str = "agent-runner@agent-runner.invalid"
    branches: dict[str, tuple[str, str]] = field(default_factory=dict)  # branch -> (message, author email)
    pushes: list[str] = field(default_factory=list)
    cleaned: int = 0
    _pending: str | None = None

    def remote_branch_sha(self, clone_url, branch):
        return "f" * 40 if branch in self.branches else None

    def prepare(self, task_id, clone_url, base_branch):
        path = self.root / task_id
        path.mkdir(parents=True, exist_ok=True)
        return Checkout(path, base_branch, "0" * 40)

    def commit(self, checkout, message, paths=None):
        self._pending = message
        return "1" * 40

    def push(self, checkout, branch, clone_url):
        self.branches[branch] = (self._pending or "", self.author_email)
        self.pushes.append(branch)

    def branch_commit_message(self, clone_url, branch):
        return self.branches.get(branch, (None, None))[0]

    def branch_author_email(self, clone_url, branch):
        return self.branches.get(branch, (None, None))[1]

    def cleanup(self, checkout):
        self.cleaned += 1
