"""Reading unified diffs (``git diff`` style, or hand-written) into per-file patches.

Written by hand rather than with a library because diffs pasted into issues are often a little off:
CRLF line endings, empty context lines whose leading space an editor stripped, hunk counts that no
longer add up after a manual tweak, ``@@`` headers without line numbers. The hunk counts are trusted
while they hold and only then does a file header (``--- ``/``+++ ``) end a hunk.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

from runner.agent.edit_text import EditError

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class DiffError(EditError):
    """A diff that cannot be read or applied; the reason names the file and hunk."""


@dataclass(frozen=True)
class Hunk:
    header: str
    old_start: int | None  # None when the header gives no line numbers
    lines: tuple[tuple[str, str], ...]  # (" " | "-" | "+", text)
    old_no_eol: bool = False  # "\ No newline at end of file" after an old-side line
    new_no_eol: bool = False

    @property
    def old(self) -> list[str]:
        return [text for tag, text in self.lines if tag != "+"]

    @property
    def new(self) -> list[str]:
        return [text for tag, text in self.lines if tag != "-"]


@dataclass(frozen=True)
class FilePatch:
    """One file's change. ``old_path`` None: created; ``new_path`` None: deleted."""

    old_path: str | None
    new_path: str | None
    hunks: tuple[Hunk, ...] = ()
    new_mode: str | None = None
    unsupported: str | None = None  # "binary patch", "copy", ...

    @property
    def name(self) -> str:
        return self.new_path or self.old_path or "?"


@dataclass
class _File:
    git_paths: tuple[str | None, str | None] = (None, None)
    header_paths: tuple[str | None, str | None] | None = None
    rename: list[str | None] = field(default_factory=lambda: [None, None])
    created: bool = False
    deleted: bool = False
    new_mode: str | None = None
    unsupported: str | None = None
    hunks: list[Hunk] = field(default_factory=list)

    def finish(self) -> FilePatch:
        old, new = self.header_paths or self.git_paths
        if (old is None or old.startswith("a/")) and (new is None or new.startswith("b/")):
            old, new = old and old[2:], new and new[2:]
        old, new = self.rename[0] or old, self.rename[1] or new
        if self.created:
            old = None
        if self.deleted:
            new = None
        if old is None and new is None:
            raise DiffError("A file in the diff has no usable name (expected `--- a/path` and `+++ b/path`).")
        return FilePatch(old, new, tuple(self.hunks), self.new_mode, self.unsupported)


def _unquote(path: str) -> str:
    if len(path) >= 2 and path[0] == path[-1] == '"':
        raw = codecs.escape_decode(path[1:-1].encode("utf-8"))[0]  # git's C-style quoting
        return raw.decode("utf-8", "surrogateescape")
    return path


def _header_path(line: str) -> str | None:
    path = _unquote(line[4:].split("\t", 1)[0].rstrip())
    return None if path == "/dev/null" else path


def _git_paths(line: str) -> tuple[str | None, str | None]:
    rest = line[len("diff --git ") :].strip()
    quoted = re.fullmatch(r'("(?:[^"\\]|\\.)*"|\S+) ("(?:[^"\\]|\\.)*"|\S+)', rest)
    if quoted:
        return _unquote(quoted.group(1)), _unquote(quoted.group(2))
    cuts = [m.start() for m in re.finditer(" b/", rest)]
    for cut in cuts:  # a path with spaces: the cut where both halves name the same file
        if rest[2:cut] == rest[cut + 3 :]:
            return rest[:cut], rest[cut + 1 :]
    return (rest[: cuts[0]], rest[cuts[0] + 1 :]) if cuts else (None, None)


class _Parser:
    def __init__(self, text: str):
        self.lines = text.replace("\r\n", "\n").split("\n")
        self.i = 0
        self.files: list[_File] = []

    def run(self) -> list[FilePatch]:
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.startswith("diff --git "):
                self.files.append(_File(git_paths=_git_paths(line)))
            elif line.startswith("--- ") and self._at(self.i + 1).startswith("+++ "):
                self._file_header(line, self.lines[self.i + 1])
                self.i += 1
            elif line.startswith("@@"):
                self._hunk()
                continue
            elif self.files and not self.files[-1].hunks:
                self._extended(line)
            self.i += 1  # anything else (index lines, commentary) is not part of the change
        return [patch.finish() for patch in self.files]

    def _at(self, k: int) -> str:
        return self.lines[k] if k < len(self.lines) else ""

    def _file_header(self, old: str, new: str) -> None:
        current = self.files[-1] if self.files else None
        if current is None or current.header_paths is not None or current.hunks:
            current = _File()  # a plain `diff -u` file section: no `diff --git` line before it
            self.files.append(current)
        current.header_paths = (_header_path(old), _header_path(new))
        current.created = current.created or current.header_paths[0] is None
        current.deleted = current.deleted or current.header_paths[1] is None

    def _extended(self, line: str) -> None:
        current = self.files[-1]
        value = line.rsplit(" ", 1)[-1]
        if line.startswith("new file mode "):
            current.created, current.new_mode = True, value
        elif line.startswith("deleted file mode "):
            current.deleted = True
        elif line.startswith("new mode "):
            current.new_mode = value
        elif line.startswith("rename from "):
            current.rename[0] = _unquote(line[len("rename from ") :].strip())
        elif line.startswith("rename to "):
            current.rename[1] = _unquote(line[len("rename to ") :].strip())
        elif line.startswith("copy from "):
            current.unsupported = "copying a file"
        elif line.startswith(("Binary files ", "GIT binary patch")):
            current.unsupported = "binary patches"

    def _hunk(self) -> None:
        header = self.lines[self.i]
        if not self.files:
            raise DiffError(f"The hunk `{header}` comes before any file header (`--- a/path`, `+++ b/path`).")
        self.i += 1
        match = _HUNK.match(header)
        counts = [int(match.group(2) or 1), int(match.group(4) or 1)] if match else None
        body, flags = self._hunk_body(counts)
        if not body:
            raise DiffError(f"The hunk `{header}` has no lines.")
        old_start = int(match.group(1)) if match else None
        self.files[-1].hunks.append(Hunk(header, old_start, tuple(body), *flags))

    def _hunk_body(self, counts: list[int] | None) -> tuple[list[tuple[str, str]], tuple[bool, bool]]:
        body: list[tuple[str, str]] = []
        old_no_eol = new_no_eol = False
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.startswith("\\"):  # "\ No newline at end of file" marks the line before it
                tag = body[-1][0] if body else " "
                old_no_eol, new_no_eol = old_no_eol or tag != "+", new_no_eol or tag != "-"
            elif self._hunk_ends(line, counts):
                break
            else:
                tag, text = (line[0], line[1:]) if line else (" ", "")  # "": an editor ate the space
                body.append((tag, text))
                if counts:
                    counts[0] -= tag != "+"
                    counts[1] -= tag != "-"
            self.i += 1
        while counts is None and body and body[-1] == (" ", ""):
            body.pop()  # without counts, trailing blank lines are the fence's, not the file's
        return body, (old_no_eol, new_no_eol)

    def _hunk_ends(self, line: str, counts: list[int] | None) -> bool:
        if line.startswith(("@@", "diff --git ")) or (line and line[0] not in " +-"):
            return True
        exhausted = counts is None or (counts[0] <= 0 and counts[1] <= 0)
        if not exhausted:
            return False
        # Past the stated counts, go on only while lines still look like hunk lines: the counts of a
        # hand-edited diff are often too small.
        next_is_header = line.startswith("--- ") and self._at(self.i + 1).startswith("+++ ")
        return next_is_header or (counts is not None and not line)


def parse_diff(text: str) -> list[FilePatch]:
    """Every file patch in ``text``; raises DiffError when there is none or one is unreadable."""
    patches = _Parser(text).run()
    if not patches:
        raise DiffError(
            "The diff names no file (expected `diff --git a/path b/path`"
            " or `--- a/path` and `+++ b/path`)."
        )
    return patches
