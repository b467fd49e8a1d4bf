"""Applying parsed unified diffs to an ``Overlay``, with the same safety rules as SEARCH/REPLACE.

Context and removed lines must match (exactly, or with one uniform leading-whitespace drift); a hunk
may have moved, so it is looked for nearest the line its header states, never before the previous
hunk. Two equally near places are an error, as is a hunk found nowhere.
"""

from __future__ import annotations

from collections.abc import Sequence

from runner.agent.edit_diff import DiffError, FilePatch, Hunk, parse_diff
from runner.agent.edit_match import Match, closest_chunk, find_drifted, find_exact
from runner.agent.edit_overlay import Overlay
from runner.agent.edit_text import TextFile, quote_lines

_SHOW_LINES = 15
_MODES = {"100644": False, "100755": True}


def plan_diff(overlay: Overlay, diff_text: str) -> list[str]:
    """Plans every file of ``diff_text`` on ``overlay``; returns the files it names. Raises
    DiffError (naming file and hunk) or PathRefused."""
    patches = parse_diff(diff_text)
    for patch in patches:
        plan_patch(overlay, patch)
    return [patch.name for patch in patches]


def plan_patch(overlay: Overlay, patch: FilePatch) -> None:
    if patch.unsupported:
        raise DiffError(f"{patch.name}: {patch.unsupported} is not supported; only text changes are.")
    if patch.new_mode is not None and patch.new_mode not in _MODES:
        raise DiffError(f"{patch.name}: file mode {patch.new_mode} (a link or submodule) is not supported.")
    result = apply_hunks(_starting_content(overlay, patch), patch.hunks, patch.name)
    if patch.new_path is None:
        if result.lines:
            raise DiffError(f"{patch.name}: the diff deletes the file, but its hunks do not remove all its lines.")
        overlay.delete(patch.old_path or patch.name)
        return
    if patch.old_path is not None and overlay.key(patch.old_path) != overlay.key(patch.new_path):
        if overlay.read(patch.new_path) is not None:
            raise DiffError(f"{patch.old_path} cannot be renamed to {patch.new_path}: that file already exists.")
        overlay.delete(patch.old_path)
    overlay.write(patch.new_path, result)
    if patch.new_mode is not None:
        overlay.set_executable(patch.new_path, _MODES[patch.new_mode])


def _starting_content(overlay: Overlay, patch: FilePatch) -> TextFile:
    if patch.old_path is None:
        existing = overlay.read(patch.name)
        if existing is not None and not existing.is_blank():
            raise DiffError(f"{patch.name}: the diff creates this file, but it already exists.")
        return existing or TextFile()
    content = overlay.read(patch.old_path)
    if content is None:
        raise DiffError(f"{patch.old_path}: the diff changes this file, but it does not exist.")
    return content


def apply_hunks(content: TextFile, hunks: Sequence[Hunk], name: str) -> TextFile:
    """``content`` with every hunk applied in order."""
    offset = 0  # how far the file has drifted from the diff's line numbers so far
    floor = 0  # hunks apply in order: never before the end of the previous one
    for number, hunk in enumerate(hunks, 1):
        old = hunk.old
        stated = None if hunk.old_start is None else hunk.old_start - (1 if old else 0)
        expected = floor if stated is None else max(stated + offset, floor)
        if old:
            label = f"{name}: hunk {number} of {len(hunks)} (`{hunk.header}`)"
            match = _find_hunk(content.lines, hunk, expected, floor, stated is None, label)
        else:  # pure insertion: nothing to check, the line number is all there is
            at = min(expected, len(content.lines))
            match = Match(at, at, tuple(hunk.new))
        if match is None:
            raise DiffError(_hunk_failure(name, number, len(hunks), hunk, content, stated))
        content = content.splice(match.start, match.end, match.replace)
        floor = match.start + len(match.replace)
        if stated is not None:
            offset = floor - (stated + len(old))
    return _final_newline(content, hunks)


def _find_hunk(
    lines: Sequence[str], hunk: Hunk, expected: int, floor: int, unplaced: bool, label: str
) -> Match | None:
    for finder in (find_exact, find_drifted):
        hits = sorted(finder(lines, hunk.old, hunk.new, floor), key=lambda hit: abs(hit.start - expected))
        if not hits:
            continue
        tied = len(hits) > 1 and (unplaced or abs(hits[1].start - expected) == abs(hits[0].start - expected))
        if tied:
            where = ", ".join(str(hit.start + 1) for hit in hits[:10])
            raise DiffError(
                f"{label} does not apply: it matches {len(hits)} places (lines {where}) equally well;"
                " add context lines or line numbers so it matches one place."
            )
        return hits[0]
    return None


def _hunk_failure(name: str, number: int, total: int, hunk: Hunk, content: TextFile, stated: int | None) -> str:
    near = f" (looked near line {stated + 1})" if stated is not None else ""
    message = (
        f"{name}: hunk {number} of {total} (`{hunk.header}`) does not apply: its context and removed"
        f" lines are not in the file{near}. Expected:\n{quote_lines(hunk.old[:_SHOW_LINES])}"
    )
    chunk = closest_chunk(content.lines, hunk.old)
    if chunk:
        start, end = chunk
        shown = content.lines[start : min(end, start + _SHOW_LINES)]
        message += f"\nClosest lines in {name} (lines {start + 1}-{end}):\n{quote_lines(shown)}"
    return message


def _final_newline(content: TextFile, hunks: Sequence[Hunk]) -> TextFile:
    if any(hunk.new_no_eol for hunk in hunks):
        return content.with_final_newline(False)
    if any(hunk.old_no_eol for hunk in hunks):
        return content.with_final_newline(True)
    return content
