"""Finding where a SEARCH (or a diff hunk's old side) sits in a file, and what to put there.

The cascade is deliberately short: an exact match, then a uniform leading-whitespace drift, then
(for SEARCH/REPLACE) the same without stray leading blank lines. A text found in more than one place is
an error, never "the first one". ``closest_chunk`` uses difflib, but only to point at likely lines in
an error message; it never decides what gets written.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
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


_TOKEN = re.compile(r"\w+|[^\w\s]")


def _window_starts(lines: Lines, wanted: list[str], width: int, keep: int) -> list[int]:
    """Starts of the ``keep`` windows sharing the most tokens with SEARCH: a linear pre-filter, so
    that difflib's costly ratio runs on a handful of windows, not on every one."""
    want = Counter(token for line in wanted for token in _TOKEN.findall(line))
    per_line = [Counter(_TOKEN.findall(line)) for line in lines]
    have: Counter[str] = Counter()
    for counts in per_line[:width]:
        have.update(counts)
    scores = []
    for start in range(len(lines) - width + 1):
        if start:
            have.subtract(per_line[start - 1])
            have.update(per_line[start + width - 1])
        scores.append(sum(min(n, have[token]) for token, n in want.items()))
    return heapq.nlargest(keep, range(len(scores)), key=scores.__getitem__)


def closest_chunk(lines: Lines, search: Lines, threshold: float = 0.6) -> tuple[int, int] | None:
    """``(start, end)`` of the file lines most like SEARCH (leading whitespace ignored), for a "did
    you mean" hint; None if nothing is close enough. Windows are ranked by the mean of two difflib
    ratios: whole lines alike (one wrong line among right ones) and characters alike (a name changed
    on every line)."""
    wanted = [line.strip() for line in search]
    if not any(wanted) or not lines:
        return None
    width = min(len(wanted), len(lines))
    by_line = SequenceMatcher(None, autojunk=False)
    by_line.set_seq2(wanted)  # difflib caches its index of the second sequence
    by_char = SequenceMatcher(None, autojunk=False)
    by_char.set_seq2("\n".join(wanted))
    best, best_at = -1.0, None
    for start in sorted(_window_starts(lines, wanted, width, keep=8)):
        window = [line.strip() for line in lines[start : start + width]]
        by_line.set_seq1(window)
        by_char.set_seq1("\n".join(window))
        line_ratio, char_ratio = by_line.ratio(), by_char.ratio()
        if max(line_ratio, char_ratio) >= threshold and line_ratio + char_ratio > best:
            best, best_at = line_ratio + char_ratio, start
    return None if best_at is None else (best_at, best_at + width)
