"""Planned file contents on top of the working tree; nothing touches the disk until ``flush``.

Edits are worked out against an ``Overlay`` first, so every path is checked and every hunk or block
is known to apply before a byte is written. Writes open files with ``O_NOFOLLOW``: even a link that
appeared after the check is never written through.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from runner.agent.edit_text import EditError, TextFile
from runner.agent.safe_paths import normalize_rel, safe_path
from runner.errors import TaskFailed

class Overlay:
    """Files as they will be after the edits planned so far. Keys are normalized relative paths."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._planned: dict[str, TextFile | None] = {}  # None: to be deleted
        self._modes: dict[str, bool] = {}  # path -> executable
        self._order: list[str] = []

    def copy(self) -> Overlay:
        """An independent plan starting from this one (to try edits that must apply whole)."""
        twin = Overlay(self.root)
        twin._planned, twin._modes, twin._order = dict(self._planned), dict(self._modes), list(self._order)
        return twin

    def key(self, rel: str) -> str:
        """Checks ``rel`` (PathRefused) and returns its normalized form."""
        safe_path(self.root, rel)
        return normalize_rel(rel)

    def read(self, rel: str) -> TextFile | None:
        """The file as planned so far, or None when it does not exist (or is planned deleted)."""
        key = self.key(rel)
        if key in self._planned:
            return self._planned[key]
        return self._read_disk(key)

    def _read_disk(self, key: str) -> TextFile | None:
        path = self.root / key
        if not path.exists():
            return None
        if not path.is_file():
            raise EditError(f"{key} is not a regular file (it is a directory or something else).")
        try:
            return TextFile.decode(path.read_bytes(), key)
        except OSError as exc:
            raise EditError(f"{key} could not be read: {exc.strerror or exc}.") from exc

    def write(self, rel: str, content: TextFile) -> None:
        key = self.key(rel)
        for parent in (self.root / key).parents:
            if parent.exists() and not parent.is_dir():
                blocker = parent.relative_to(self.root)
                raise EditError(f"{key} cannot be written: {blocker} is a file, not a directory.")
            if parent == self.root:
                break
        self._plan(key, content)

    def delete(self, rel: str) -> None:
        self._plan(self.key(rel), None)

    def set_executable(self, rel: str, executable: bool) -> None:
        key = self.key(rel)
        self._modes[key] = executable
        if key not in self._order:
            self._order.append(key)

    def _plan(self, key: str, content: TextFile | None) -> None:
        self._planned[key] = content
        if key not in self._order:
            self._order.append(key)

    def changed(self) -> tuple[str, ...]:
        """Paths whose planned state differs from the disk, in the order they were first touched."""
        return tuple(key for key in self._order if self._differs(key))

    def _differs(self, key: str) -> bool:
        path = self.root / key
        if key in self._planned:
            planned = self._planned[key]
            if planned is None:
                return path.exists()
            if not path.is_file() or path.read_bytes() != planned.encode():
                return True
        if key in self._modes and path.is_file():
            return _is_executable(path) != self._modes[key]
        return False

    def flush(self) -> tuple[str, ...]:
        """Writes every planned change; returns the changed paths. Every path is checked again
        first, so a refused path stops the flush before anything is written."""
        changed = self.changed()
        for key in changed:
            safe_path(self.root, key)
        try:
            for key in changed:
                self._flush_one(key)
        except OSError as exc:
            raise TaskFailed(f"Could not write {exc.filename or 'a file'}: {exc.strerror or exc}.") from exc
        return changed

    def _flush_one(self, key: str) -> None:
        path = self.root / key
        if key in self._planned:
            planned = self._planned[key]
            if planned is None:
                path.unlink()
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_no_follow(path, planned.encode())
        if key in self._modes:
            _set_executable(path, self._modes[key])


def _write_no_follow(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o666)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _is_executable(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IXUSR)


def _set_executable(path: Path, executable: bool) -> None:
    mode = path.stat().st_mode
    exec_bits = stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
    # x where r is, as git checks out 100755
    wanted = mode | ((mode & 0o444) >> 2) if executable else mode & ~exec_bits
    if wanted != mode:
        os.chmod(path, stat.S_IMODE(wanted))
