"""Where an edit may write: inside the clone, never into ``.git``, workflows, or through a link.

Every edit path goes through ``safe_path`` before anything is written. The lexical rules
(``normalize_rel``) look at the text alone; ``safe_path`` then walks the real tree so that no existing
component, the file included, is a symbolic link, and the result stays inside the root.
"""

from __future__ import annotations

import re
from pathlib import Path

from runner.errors import PathRefused

_DRIVE = re.compile(r"^[A-Za-z]:")


def _plain(part: str) -> str:
    # Windows and macOS ignore case, and Windows drops trailing dots and spaces: ".GIT." is ".git"
    # to a collaborator who checks the branch out there.
    return part.rstrip(". ").lower()


def _is_git_dir(part: str) -> bool:
    plain = _plain(part)
    return plain == ".git" or plain == "git~1"  # git~1: the 8.3 short name of .git on NTFS


def _refuse(rel: str, why: str) -> PathRefused:
    return PathRefused(f"{rel!r} may not be written: {why}")


def normalize_rel(rel: str) -> str:
    """The relative POSIX path ``rel`` names (``./`` and doubled slashes dropped), or PathRefused."""
    if not rel or not rel.strip():
        raise _refuse(rel, "the path is empty")
    if "\0" in rel:
        raise _refuse(rel, "the path contains a NUL byte")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in rel):
        raise _refuse(rel, "the path contains a control character")
    if "\\" in rel:
        raise _refuse(rel, "backslashes are not allowed; use forward slashes")
    if rel.startswith("/") or _DRIVE.match(rel):
        raise _refuse(rel, "absolute paths are not allowed; use a path relative to the repository root")
    parts = [part for part in rel.split("/") if part not in ("", ".")]
    if not parts:
        raise _refuse(rel, "the path names no file")
    if ".." in parts:
        raise _refuse(rel, "'..' is not allowed; edits stay inside the repository")
    if any(_is_git_dir(part) for part in parts):
        raise _refuse(rel, "nothing under .git/ may be written")
    if any(_plain(a) == ".github" and _plain(b) == "workflows" for a, b in zip(parts, parts[1:])):
        why = "nothing under .github/workflows/ may be written (workflows run with the repository's secrets)"
        raise _refuse(rel, why)
    return "/".join(parts)


def safe_path(root: Path, rel: str) -> Path:
    """The absolute path for ``rel`` under ``root``; raises PathRefused when writing it is not safe."""
    norm = normalize_rel(rel)
    base = Path(root).resolve()
    current = base
    for part in norm.split("/"):
        current = current / part
        if current.is_symlink():
            link = current.relative_to(base).as_posix()
            raise _refuse(rel, f"{link} is a symbolic link; edits never write through links")
        if not current.exists():
            break  # nothing below a missing component exists, so nothing below can be a link
    target = base / norm
    if not target.resolve().is_relative_to(base):
        raise _refuse(rel, "it resolves outside the repository")
    return target


def relative_key(root: Path, rel: str) -> str:
    """The normalized relative path after the same checks as ``safe_path``."""
    safe_path(root, rel)
    return normalize_rel(rel)
