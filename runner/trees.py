"""Reusable working trees: a finished task's checkout is moved to the next task on the same repository.

Writing out every file is most of what a fresh checkout of a big repository costs (20,000 files take
seconds, nearly all of it in the kernel); moving an idle tree to the new base commit rewrites only the
files that differ (bench/git_cost.py). Layout: ``<root>/<mirror path>/idle-<random>``.

Ownership is a rename: whoever moves an idle tree out of the pool owns it, so workers in this process
and replicas sharing the state directory never share one. A tree is reset before use (the mirror's
commit fetched, ``checkout --force``, ``clean -ffdx``, its git config rewritten), so nothing an earlier
task changed, added, ignored or configured survives. Any failure sends the tree to the bin and the
caller makes a fresh checkout instead: the pool is only a cache.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from pathlib import Path

from runner.gitenv import GitError, GitRunner

log = logging.getLogger(__name__)

BASE_REF = "refs/agent-runner/base"
# What `git clone` writes, minus the remote (fetches and pushes name their URL): a verify command may
# have added settings (core.fsmonitor, filters) that must not run in the next task's git commands.
CLEAN_CONFIG = "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n"
_PLANTED = ("info/attributes", "objects/info/alternates", "index.lock", "shallow.lock", "HEAD.lock")


class TreePool:
    """Idle working trees per mirror, at most ``keep`` each."""

    def __init__(self, root: Path, mirrors_root: Path, git: GitRunner, keep: int = 8):
        self.root, self.mirrors_root, self._git, self.keep = root, mirrors_root, git, keep

    def take(self, mirror: Path, dest: Path, base_branch: str, sha: str) -> bool:
        """Move an idle tree of ``mirror`` onto the empty directory ``dest`` and fetch ``sha`` into it
        from the mirror (the caller holds the mirror's lock). False when there is none or it is unusable:
        ``dest`` is then empty again."""
        for idle in self._idle(mirror):
            try:
                os.rename(idle, dest)  # atomic: one taker wins, the others see it gone
            except OSError:
                continue
            try:
                self._scrub(dest / ".git")
                self._git.run(["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--", str(mirror),
                               f"+refs/heads/{base_branch}:{BASE_REF}"], cwd=dest)
                return True
            except (GitError, OSError) as err:
                log.warning("discarding a reusable tree of %s: %s", mirror.name, err)
                _empty(dest)
        return False

    def reset(self, path: Path, sha: str, work_branch: str) -> bool:
        """Make a taken tree exactly ``sha`` with nothing else in it; False (tree emptied) on failure."""
        try:
            # An index entry marked assume-unchanged or skip-worktree would survive `checkout --force`
            # with whatever content an earlier task left in that file: such a tree is not reused.
            flagged = [line for line in self._git.run(["ls-files", "-v"], cwd=path)[1].splitlines()
                       if line[:1].islower() or line[:1] == "S"]
            if flagged:
                raise GitError("local", "ls-files", f"{len(flagged)} index entries are marked unchanged")
            self._git.run(["checkout", "--quiet", "--force", "--no-track", "-B", work_branch, sha], cwd=path)
            self._git.run(["clean", "--quiet", "-ffdx"], cwd=path)
            return True
        except GitError as err:
            log.warning("discarding a reusable tree: %s", err)
            _empty(path)
            return False

    def give_back(self, mirror: Path, path: Path) -> None:
        """Park a finished task's tree for the next task, or delete it when the pool is full."""
        home = self._home(mirror)
        if (path / ".git").is_dir() and len(self._idle(mirror)) < self.keep:
            try:
                home.mkdir(parents=True, exist_ok=True)
                os.rename(path, home / f"idle-{uuid.uuid4().hex[:12]}")
                return
            except OSError as err:
                log.warning("could not park the tree %s: %s", path, err)
        shutil.rmtree(path, ignore_errors=True)

    def _home(self, mirror: Path) -> Path:
        return self.root / mirror.resolve().relative_to(self.mirrors_root.resolve())

    def _idle(self, mirror: Path) -> list[Path]:
        home = self._home(mirror)
        return sorted(home.glob("idle-*")) if home.is_dir() else []

    def _scrub(self, git_dir: Path) -> None:
        (git_dir / "config").write_text(CLEAN_CONFIG)
        for name in _PLANTED:
            with contextlib.suppress(FileNotFoundError):
                (git_dir / name).unlink()


def _empty(path: Path) -> None:
    """Remove what is inside ``path``, keeping the directory itself."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
