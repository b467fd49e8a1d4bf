"""Finding where a SEARCH (or a diff hunk's old side) sits in a file, and what to put there.

The cascade is deliberately short: an exact match, then a uniform leading-whitespace drift, then
(for SEARCH/REPLACE) the same without stray leading blank lines. A text found in more than one place is
an error, never "the first one". ``closest_chunk`` uses difflib, but only to point at likely lines in
an error message; it never decides what gets written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

Lines = Sequence[str]


@dataclass(frozen=True)
class Match:
    """``lines[start:end]`` of the file are to become ``replace``."""

    start: int
    end: int
    replace: tuple[str, ...]


def find_exact(lines: Lines, search: Lines, replace: Lines, start_at: int = 0) -> list[Match]:
    n = len(search)
    hits = []
    for i in range(start_at, len(lines) - n + 1):
        if lines[i] == search[0] and list(lines[i : i + n]) == list(search):
            hits.append(Match(i, i + n, tuple(replace)))
    return hits


def _line_shift(file_line: str, search_line: str) -> tuple[str, str] | None:
    """How ``search_line`` differs from ``file_line`` by leading whitespace alone:
    ("add", prefix) when the file has the extra prefix, ("cut", prefix) when SEARCH has it."""
    if file_line == search_line:
        return ("add", "")
    if file_line.endswith(search_line):
        prefix = file_line[: len(file_line) - len(search_line)]
        return ("add", prefix) if not prefix.strip() else None
    if search_line.endswith(file_line):
        prefix = search_line[: len(search_line) - len(file_line)]
        return ("cut", prefix) if not prefix.strip() else None
    return None


def _uniform_shift(chunk: Lines, search: Lines) -> tuple[str, str] | None:
    shifts = set()
    for file_line, search_line in zip(chunk, search):
        if not file_line.strip() and not search_line.strip():
            continue  # blank lines carry no indentation worth comparing
        if not file_line.strip() or not search_line.strip():
            return None
        shift = _line_shift(file_line, search_line)
        if shift is None:
            return None
        shifts.add(shift)
    if len(shifts) != 1:
        return None
    shift = shifts.pop()
    return shift if shift[1] else None


def _shift_lines(replace: Lines, shift: tuple[str, str]) -> tuple[str, ...]:
    how, prefix = shift
    if how == "add":
        return tuple(prefix + line if line.strip() else line for line in replace)
    return tuple(line[len(prefix) :] if line.startswith(prefix) else line for line in replace)


def find_drifted(lines: Lines, search: Lines, replace: Lines, start_at: int = 0) -> list[Match]:
    """Places where every SEARCH line equals the file's line but for one same leading-whitespace
    prefix; REPLACE gets the same adjustment."""
    if not any(line.strip() for line in search):
        return []
    n = len(search)
    hits = []
    for i in range(start_at, len(lines) - n + 1):
        shift = _uniform_shift(lines[i : i + n], search)
        if shift is not None:
            hits.append(Match(i, i + n, _shift_lines(replace, shift)))
    return hits


class Ambiguous(Exception):
    def __init__(self, matches: list[Match]):
        super().__init__(f"{len(matches)} matches")
        self.matches = matches


def _without_leading_blanks(search: Lines, replace: Lines) -> tuple[list[str], list[str]] | None:
    cut = 0
    while cut < len(search) - 1 and not search[cut].strip():
        cut += 1
    if cut == 0:
        return None
    kept = list(replace)
    dropped = 0
    while dropped < cut and kept and not kept[0].strip():
        kept.pop(0)  # the model that added a stray blank line on top usually added it to both halves
        dropped += 1
    return list(search[cut:]), kept


def locate(lines: Lines, search: Lines, replace: Lines) -> Match | None:
    """The one place SEARCH applies, None if nowhere; raises Ambiguous if several."""
    attempts = [(list(search), list(replace))]
    trimmed = _without_leading_blanks(search, replace)
    if trimmed:
        attempts.append(trimmed)
    for attempt_search, attempt_replace in attempts:
        for finder in (find_exact, find_drifted):
            hits = finder(lines, attempt_search, attempt_replace)
            if len(hits) > 1:
                raise Ambiguous(hits)
            if hits:
                return hits[0]
    return None


def _best_window(windows: int, score) -> tuple[float, int]:
    best, best_at = 0.0, -1
    for i in range(windows):
        ratio = score(i, best)
        if ratio > best:
            best, best_at = ratio, i
    return best, best_at


def closest_chunk(lines: Lines, search: Lines, threshold: float = 0.6) -> tuple[int, int] | None:
    """``(start, end)`` of the file lines most like SEARCH, for a "did you mean" hint; None if
    nothing is close. Whole stripped lines are compared first (cheap); characters when that finds
    nothing."""
    wanted = [line.strip() for line in search]
    if not any(wanted) or not lines:
        return None
    have = [line.strip() for line in lines]
    width = min(len(wanted), len(have))
    windows = len(have) - width + 1

    def by_lines(i: int, best: float) -> float:
        matcher = SequenceMatcher(None, wanted, have[i : i + width], autojunk=False)
        return matcher.ratio() if matcher.real_quick_ratio() > best and matcher.quick_ratio() > best else 0.0

    wanted_text = "\n".join(wanted)

    def by_chars(i: int, best: float) -> float:
        matcher = SequenceMatcher(None, wanted_text, "\n".join(have[i : i + width]), autojunk=False)
        return matcher.ratio() if matcher.real_quick_ratio() > best and matcher.quick_ratio() > best else 0.0

    for score in (by_lines, by_chars):
        ratio, start = _best_window(windows, score)
        if ratio >= threshold:
            return start, start + width
    return None
