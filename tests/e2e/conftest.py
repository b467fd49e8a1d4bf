"""End-to-end harness: the real CLI in a subprocess against real local counterparts.

``world`` gives a FakeGitHub (every request validated against GitHub's OpenAPI description), a git
server (``git http-backend`` behind Basic auth) holding the target repo, and ``world.cli(...)`` to run
``python -m runner`` with a clean environment (no .env, no real tokens, no git config).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from runner.sandbox.git_server import GitServer
from runner.sandbox.github_server import FakeGitHub
from tests.fakes.openapi_validator import make_validator

TOKEN = "ghs_e2eTestToken0123456789abcdef"
DISPATCH, TARGET = "acme/tasks", "acme/widgets"
PROJECT = Path(__file__).resolve().parents[2]

APP_PY = textwrap.dedent('''\
    def greet(name):
        return "hello " + name


    def main():
        print(greet("world"))
    ''')


@dataclass
class World:
    tmp: Path
    gh: FakeGitHub
    git: GitServer
    env: dict[str, str] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.tmp / "state"

    def base_env(self, **extra: str) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.tmp / "home"),  # no git identity, no config: like a fresh container
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(PROJECT),
            "GITHUB_TOKEN": TOKEN,
            "GITHUB_API_URL": self.gh.url,
            "AGENT_DISPATCH_REPO": DISPATCH,
            "AGENT_TARGET_REPO": TARGET,
            "AGENT_ALLOWED_TARGET_REPOS": f"{TARGET},{DISPATCH}",
            "AGENT_STATE_DIR": str(self.state_dir),
            "AGENT_POLL_INTERVAL": "1",
            # GitHub asks for 1 s between writes, the default; these tests use a shorter spacing to
            # stay fast. tests/e2e/test_github_faults.py runs with the real 1 s and checks it holds.
            "AGENT_WRITE_INTERVAL": "0.2",
            "LOG_LEVEL": "DEBUG",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_CONFIG_NOSYSTEM": "1",
        }
        env.update(self.env)
        env.update(extra)
        return {k: v for k, v in env.items() if v is not None}

    def cli(self, *args: str, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "runner", *args], cwd=self.tmp, env=self.base_env(**extra),
                              capture_output=True, text=True, timeout=timeout, check=False)

    def spawn(self, *args: str, **extra: str) -> subprocess.Popen[str]:
        """Start the CLI in its own process group, so a test can SIGKILL all of it."""
        return subprocess.Popen([sys.executable, "-m", "runner", *args], cwd=self.tmp, env=self.base_env(**extra),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)

    def file_issue(self, body: str, *, title: str = "Change greeting", author: str = "alice",
                   labeled_by: str | None = None) -> int:
        issue = self.gh.create_issue(DISPATCH, title=title, body=body, author=author, labels=["copilot-agent"],
                                     labeled_by=labeled_by or author)
        return int(issue["number"])

    def runner_comments(self, number: int) -> list[dict]:
        return [c for c in self.gh.comments(DISPATCH, number) if "agent-runner:status" in (c.get("body") or "")]

    def prs(self) -> list[dict]:
        return self.gh.pulls(TARGET)

    def api_writes(self) -> list:
        return [r for r in self.gh.requests if r.method in ("POST", "PATCH", "PUT", "DELETE")]


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture
def world(tmp_path: Path):
    (tmp_path / "home").mkdir()
    validator = make_validator()
    with GitServer(tmp_path / "git", token=TOKEN) as git, FakeGitHub(token=TOKEN, validator=validator) as gh:
        clone = git.create_repo(TARGET, files={"app.py": APP_PY, "README.md": "# widgets\n"})
        gh.add_repo(TARGET, clone_url=clone, default_branch="main")
        gh.add_repo(DISPATCH, clone_url=git.create_repo(DISPATCH, files={"README.md": "# tasks\n"}),
                    default_branch="main")
        gh.compare = git.compare
        gh.set_permission(DISPATCH, "alice", "write")
        gh.set_permission(DISPATCH, "maint", "maintain")
        gh.set_permission(DISPATCH, "reader", "read")
        world = World(tmp_path, gh, git)
        yield world
        assert gh.violations == [], "requests that break GitHub's OpenAPI description"
