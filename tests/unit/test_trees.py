"""Reusable working trees (runner/trees.py through GitWorkspace): a later task gets the earlier
task's tree, reset so that nothing the earlier task left behind survives."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.sandbox.git_server import GitServer
from runner.workspace import GitWorkspace

REPO = "acme/widgets"
FILES = {"README.md": "# Widgets\n", "app.py": "print('hi')\n", ".gitignore": "build/\n"}


@pytest.fixture
def token() -> str:
    return "ghs_" + secrets.token_hex(18)


@pytest.fixture
def srv(tmp_path: Path, token: str) -> Iterator[GitServer]:
    with GitServer(tmp_path / "srv", token=token) as server:
        server.create_repo(REPO, files=FILES)
        yield server


@pytest.fixture
def ws(tmp_path: Path, token: str, monkeypatch: pytest.MonkeyPatch) -> GitWorkspace:
    monkeypatch.setenv("HOME", str(tmp_path))
    return GitWorkspace(tmp_path / "state", lambda: token, author_name="agent-runner", git_timeout=30)


def git(path: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=path, capture_output=True, text=True, check=True,
                          env={"PATH": "/usr/bin:/bin", "GIT_CONFIG_GLOBAL": "/dev/null", "HOME": str(path)}).stdout


def leave_a_mess(ws: GitWorkspace, path: Path) -> None:
    """What a task (its edits, its verify command) can leave in its checkout."""
    (path / "app.py").write_text("print('half-done edit')\n")
    (path / "notes.txt").write_text("scratch\n")
    (path / "build").mkdir()
    (path / "build" / "out.o").write_bytes(b"\x7fELF")
    (path / "README.md").unlink()


def test_trees_next_task_gets_the_tree_back_exactly_at_the_new_base(srv: GitServer, ws: GitWorkspace) -> None:
    url = srv.clone_url(REPO)
    first = ws.prepare("task-1", url, "main")
    inode = first.path.stat().st_ino
    leave_a_mess(ws, first.path)
    ws.cleanup(first)
    moved = srv.push_commit(REPO, "main", {"app.py": "print('v2')\n"}, "Ship v2")

    second = ws.prepare("task-2", url, "main")

    assert second.path.stat().st_ino == inode  # the same tree, renamed: nothing was written out again
    assert second.base_sha == moved == git(second.path, "rev-parse", "HEAD").strip()
    assert (second.path / "app.py").read_text() == "print('v2')\n"
    assert (second.path / "README.md").read_text() == "# Widgets\n"
    assert not (second.path / "notes.txt").exists() and not (second.path / "build").exists()
    assert git(second.path, "status", "--porcelain", "--ignored") == ""


def test_trees_settings_planted_in_the_git_dir_do_not_reach_the_next_task(
        srv: GitServer, ws: GitWorkspace, tmp_path: Path) -> None:
    url = srv.clone_url(REPO)
    first = ws.prepare("task-1", url, "main")
    ran = tmp_path / "fsmonitor-ran"
    with open(first.path / ".git" / "config", "a") as config:  # as a hostile verify command could
        config.write(f"[core]\n\tfsmonitor = touch {ran}\n[filter \"x\"]\n\tclean = touch {ran}\n")
    (first.path / ".git" / "info").mkdir(exist_ok=True)
    (first.path / ".git" / "info" / "attributes").write_text("* filter=x\n")
    ws.cleanup(first)

    second = ws.prepare("task-2", url, "main")
    (second.path / "app.py").write_text("print('edited')\n")
    assert ws.commit(second, "Edit app") is not None

    assert not ran.exists()
    assert "fsmonitor" not in (second.path / ".git" / "config").read_text()


@pytest.mark.parametrize("flag", ["--assume-unchanged", "--skip-worktree"])
def test_trees_a_file_hidden_from_git_does_not_survive_into_the_next_task(
        srv: GitServer, ws: GitWorkspace, flag: str) -> None:
    url = srv.clone_url(REPO)
    first = ws.prepare("task-1", url, "main")
    (first.path / "app.py").write_text("print('poisoned')\n")  # same file in the next base commit
    git(first.path, "update-index", flag, "app.py")
    ws.cleanup(first)

    second = ws.prepare("task-2", url, "main")

    assert (second.path / "app.py").read_text() == "print('hi')\n"
    assert git(second.path, "ls-files", "-v", "app.py").startswith("H ")


def test_trees_a_broken_idle_tree_falls_back_to_a_fresh_checkout(srv: GitServer, ws: GitWorkspace) -> None:
    url = srv.clone_url(REPO)
    first = ws.prepare("task-1", url, "main")
    ws.cleanup(first)
    [idle] = list((ws.state_dir / "trees").rglob("idle-*"))
    (idle / ".git" / "HEAD").write_text("garbage\n")  # e.g. a disk that filled up mid-write

    second = ws.prepare("task-2", url, "main")

    assert second.base_sha == srv.branch_sha(REPO, "main")
    assert (second.path / "app.py").read_text() == "print('hi')\n"
    assert git(second.path, "status", "--porcelain") == ""


def test_trees_tasks_running_at_once_never_share_a_tree(srv: GitServer, ws: GitWorkspace) -> None:
    url = srv.clone_url(REPO)
    a, b = ws.prepare("task-1", url, "main"), ws.prepare("task-2", url, "main")
    ws.cleanup(a)
    ws.cleanup(b)

    c, d = ws.prepare("task-3", url, "main"), ws.prepare("task-4", url, "main")
    e = ws.prepare("task-5", url, "main")  # the pool is empty now: a fresh checkout

    inodes = {p.path.stat().st_ino for p in (c, d, e)}
    assert len(inodes) == 3
    assert all((p.path / "app.py").read_text() == "print('hi')\n" for p in (c, d, e))
    assert not list((ws.state_dir / "trees").rglob("idle-*"))
