"""The most relevant parts of a file too large to send whole.

Lines are scored by how many distinct query terms they contain; a line defining a name the
instruction mentions scores high and brings its whole body (up to a cap). Windows around the best
lines are added until the token budget is spent, then shown in file order. The lines themselves are
verbatim, so a model can quote them in a SEARCH block; each chunk is introduced by a marker line.
"""

from __future__ import annotations

import re

from runner.agent.terms import tokenize_cached
from runner.agent.tokens import count_tokens, estimate_tokens

EXCERPT_MARK = "... (excerpt)"
_BEFORE, _AFTER = 6, 14
_BODY_CAP = 80
_DEFINITION_BONUS = 5.0
_HEAD_LINES = 12
_DEF_LINE = re.compile(r"^(\s*)(?:async\s+)?(?:def|class|function|func|fn)\s+([A-Za-z_$][\w$]*)")


def excerpt(path: str, text: str, query_terms: frozenset[str], names: set[str], budget: int) -> str | None:
    """Chunks of ``text`` within ``budget`` tokens, marked as an excerpt; None if nothing fits."""
    lines = text.splitlines()
    header = f"{EXCERPT_MARK} {path}: {len(lines)} lines, only the parts below are shown"
    spans = _chosen_spans(lines, query_terms, names, budget - count_tokens(header) - 8)
    while spans:
        rendered = _render(header, lines, spans)
        if count_tokens(rendered) <= budget:
            return rendered
        spans = spans[:-1]  # estimates were optimistic: drop the least relevant chunk
    return None


def _chosen_spans(lines: list[str], query: frozenset[str], names: set[str], budget: int) -> list[tuple[int, int]]:
    """Half-open line ranges, most relevant first, whose estimated size fits ``budget``."""
    chosen: list[tuple[int, int]] = []
    covered: set[int] = set()
    used = 0
    for start, end in _candidate_spans(lines, query, names):
        fresh = [i for i in range(start, end) if i not in covered]
        cost = sum(estimate_tokens(lines[i]) + 1 for i in fresh) + 12
        if not fresh or used + cost > budget:
            continue
        chosen.append((start, end))
        covered.update(fresh)
        used += cost
    return chosen


def _candidate_spans(lines: list[str], query: frozenset[str], names: set[str]) -> list[tuple[int, int]]:
    scored: list[tuple[float, int]] = []
    for number, line in enumerate(lines):
        score = float(len(query.intersection(tokenize_cached(line))))
        match = _DEF_LINE.match(line)
        if match and match.group(2) in names:
            score += _DEFINITION_BONUS
        if score > 0:
            scored.append((score, number))
    scored.sort(key=lambda item: (-item[0], item[1]))
    spans = [_span(lines, number) for _score, number in scored]
    head = (0, min(_HEAD_LINES, len(lines)))  # imports and module docstring: cheap orientation
    return spans[:3] + [head] + spans[3:]


def _span(lines: list[str], number: int) -> tuple[int, int]:
    match = _DEF_LINE.match(lines[number])
    if not match:
        return max(0, number - _BEFORE), min(len(lines), number + _AFTER)
    indent = len(match.group(1))
    end = number + 1
    while end < len(lines) and end - number < _BODY_CAP:
        line = lines[end]
        if line.strip() and len(line) - len(line.lstrip()) <= indent and not line.lstrip().startswith((")", "]", "}")):
            break
        end += 1
    return max(0, number - 2), end


def _render(header: str, lines: list[str], spans: list[tuple[int, int]]) -> str:
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts = [header]
    for start, end in merged:
        parts.append(f"... (lines {start + 1}-{end})")
        parts.extend(lines[start:end])
    return "\n".join(parts)
