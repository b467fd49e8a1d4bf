"""The mirror cache: one bare repository per target repo, fetched incrementally, shared by every task.

Layout: ``<root>/<host>[_<port>]/<owner>/<name>.git``. Every use holds the mirror's lock: a
``threading.Lock`` for workers in this process and an ``fcntl`` lock on ``<name>.git.lock`` for other
processes sharing the state directory. While it is held no other git process of ours touches the
mirror, which is what makes the repairs below safe (a ``*.lock`` file inside the mirror is then stale).
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from runner.gitenv import GitError, GitRunner

log = logging.getLogger(__name__)

_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_GUARD = threading.Lock()
_THREAD_LOCKS: dict[Path, threading.Lock] = {}  # one per mirror path, for every workspace in the process
_GIT_LOCK_FILES = ("HEAD.lock", "config.lock", "packed-refs.lock", "shallow.lock", "index.lock")


class MirrorCache:
    """Bare mirrors under ``root``; ``locked`` yields one, created (or re-created) when needed."""

    def __init__(self, root: Path, git: GitRunner):
        self.root = root
        self._git = git

    def path_for(self, clone_url: str) -> Path:
        parts = urlsplit(clone_url)
        host = (parts.hostname or "") + (f"_{parts.port}" if parts.port else "")
        segments = [s for s in parts.path.split("/") if s]
        if segments:
            segments[-1] = segments[-1].removesuffix(".git") + ".git"
        if not segments or not all(_SEGMENT.fullmatch(s) for s in [host, *segments]):
            raise ValueError(f"cannot map clone URL to a mirror path: {parts.scheme}://{host}{parts.path}")
        return self.root.joinpath(host, *segments)

    @contextmanager
    def locked(self, clone_url: str) -> Iterator[Path]:
        """Hold the mirror's locks; yields its path, a valid bare repository."""
        path = self.path_for(clone_url)
        path.parent.mkdir(parents=True, exist_ok=True)
        with _GUARD:
            thread_lock = _THREAD_LOCKS.setdefault(path, threading.Lock())
        with thread_lock, open(path.with_name(path.name + ".lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
            self._ensure(path)
            yield path

    def fetch_branch(self, path: Path, clone_url: str, branch: str) -> str | None:
        """Bring ``branch`` up to date in the mirror; its sha, or None (ref dropped) if the remote lacks it."""
        ref = f"refs/heads/{branch}"
        try:
            # Only the branch asked for: on big repos a fetch of every head (or GitHub's refs/pull/*)
            # costs far more than the one the task needs.
            self._git.run(["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--", clone_url,
                           f"+{ref}:{ref}"], cwd=path, url=clone_url)
        except GitError as err:
            if err.kind != "missing_ref":
                raise
            self._git.run(["update-ref", "-d", ref], cwd=path, ok=(0, 1))
            return None
        return self._git.run(["rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=path)[1].strip()

    def repair(self, path: Path, recreate: bool = False) -> None:
        """Caller holds the lock. Clear what a killed git left behind; re-create the mirror if damaged
        (or when asked: the mirror is only a cache, so starting over is always correct, just slower)."""
        for stale in _stale_lock_files(path):
            log.warning("removing stale git lock %s", stale)
            stale.unlink(missing_ok=True)
        if recreate or not self._healthy(path):
            log.warning("re-creating mirror %s (%s)", path, "a repair did not help" if recreate else "fsck failed")
            shutil.rmtree(path, ignore_errors=True)
            self._create(path)

    def _ensure(self, path: Path) -> None:
        if _looks_bare(path):
            return
        if path.exists():  # e.g. the process died while creating it
            log.warning("mirror %s is incomplete; re-creating it", path)
            shutil.rmtree(path, ignore_errors=True)
        self._create(path)

    def _create(self, path: Path) -> None:
        # Built beside and renamed into place, so a crash never leaves a half-made mirror at `path`.
        # Mirrors are only made under the lock, so any earlier `.new-*` sibling is a crashed attempt.
        for stale in path.parent.glob(f"{path.name}.new-*"):
            shutil.rmtree(stale, ignore_errors=True)
        temp = path.with_name(f"{path.name}.new-{os.getpid()}")
        self._git.run(["init", "--quiet", "--bare", str(temp)], cwd=path.parent)
        os.replace(temp, path)

    def _healthy(self, path: Path) -> bool:
        if not _looks_bare(path):
            return False
        status, _ = self._git.run(["fsck", "--connectivity-only", "--no-dangling", "--no-progress"],
                                  cwd=path, ok=range(0, 256))
        return status == 0


def _looks_bare(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def _stale_lock_files(path: Path) -> list[Path]:
    found = [path / name for name in _GIT_LOCK_FILES if (path / name).exists()]
    refs = path / "refs"
    if refs.is_dir():
        found += [p for p in refs.rglob("*.lock") if p.is_file()]
    return found
