"""Explicit mentions in an instruction: file paths, stack-trace frames, module paths, defined names.

An issue that names ``requests/sessions.py``, shows ``File ".../_pytest/python.py", line 10``, says
``sphinx.ext.autodoc`` or calls ``Session.resolve_redirects`` points at files far more precisely than
any bag of words, so these matches are scored separately and weighted strongly by the ranking.
Scores are in [0, 1] per file; an ambiguous mention (a basename shared by five files) is split
between the files it could mean.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping

# Anything path-like: words, dots, dashes and separators (a stack-trace frame, a URL's tail).
_PATHLIKE = re.compile(r"[\w.\-~/\\]+\.[A-Za-z0-9_]{1,10}")
_DOTTED = re.compile(r"(?<![\w/\\])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BACKTICKED = re.compile(r"`([^`\n]{1,200})`")
_CAMEL_HUMP = re.compile(r"[a-z0-9][A-Z]|[A-Z]{2}[a-z]")

FULL_PATH, BASENAME, MODULE = 1.0, 0.5, 0.8
# A plain English word that happens to be defined somewhere ("skip", "warn") says less than a
# snake_case or CamelCase name, or one quoted as code.
_PROSE_NAME_WEIGHT = 0.25
_MIN_NAME_LENGTH = 3
_PACKAGE_SPREAD = 0.5


def path_mentions(paths: Iterable[str], instruction: str) -> dict[str, float]:
    """Files named by path or basename (including stack-trace frames and URLs ending in a path)."""
    by_suffix = _suffix_index((tuple(p.split("/")), p) for p in paths)
    scores: dict[str, float] = defaultdict(float)
    for raw in set(_PATHLIKE.findall(instruction)):
        parts = [p for p in raw.replace("\\", "/").split("/") if p not in ("", ".")]
        for size in range(len(parts), 0, -1):
            matches = by_suffix.get(tuple(parts[-size:]))
            if matches:
                weight = FULL_PATH if size >= 2 else BASENAME
                for path in matches:
                    scores[path] = max(scores[path], weight / len(matches))
                break
    return dict(scores)


def module_mentions(paths: Iterable[str], instruction: str) -> dict[str, float]:
    """Python files named by a dotted module path (``requests.sessions``, ``_pytest.python.Class``).

    A package (``sphinx.ext.napoleon``) points at its ``__init__.py`` and, half as strongly, at the
    package's other modules: the change may be in any of them."""
    python = [p for p in paths if p.endswith(".py")]
    by_suffix = _suffix_index((_module_parts(p), p) for p in python)
    siblings: dict[str, list[str]] = defaultdict(list)
    for path in python:
        siblings[path.rsplit("/", 1)[0] if "/" in path else ""].append(path)
    scores: dict[str, float] = defaultdict(float)
    for dotted in set(_DOTTED.findall(instruction)):
        parts = dotted.split(".")
        for size in range(len(parts), 1, -1):  # longest prefix first; one word alone is too vague
            matches = by_suffix.get(tuple(parts[:size]))
            if matches:
                for path in matches:
                    weight = MODULE / len(matches)
                    if path.endswith("/__init__.py"):
                        for sibling in siblings[path.rsplit("/", 1)[0]]:
                            scores[sibling] = max(scores[sibling], weight * _PACKAGE_SPREAD)
                    scores[path] = max(scores[path], weight)
                break
    return dict(scores)


def name_mentions(names: Mapping[str, set[str]], instruction: str) -> dict[str, float]:
    """Files defining identifiers the instruction uses; rarer definitions count more."""
    defined_in: dict[str, list[str]] = defaultdict(list)
    wanted = _mentioned_identifiers(instruction)
    for path, defined in names.items():
        for name in defined & wanted.keys():
            defined_in[name].append(path)
    totals: dict[str, float] = defaultdict(float)
    for name, where in defined_in.items():
        for path in where:
            totals[path] += wanted[name] / len(where)
    return {path: 1.0 - math.exp(-total) for path, total in totals.items()}


def _mentioned_identifiers(instruction: str) -> dict[str, float]:
    quoted = {w for snippet in _BACKTICKED.findall(instruction) for w in _IDENTIFIER.findall(snippet)}
    weights: dict[str, float] = {}
    for word in set(_IDENTIFIER.findall(instruction)):
        if len(word) < _MIN_NAME_LENGTH:
            continue
        codelike = "_" in word.strip("_") or _CAMEL_HUMP.search(word) or word in quoted
        weights[word] = 1.0 if codelike else _PROSE_NAME_WEIGHT
    return weights


def _module_parts(path: str) -> tuple[str, ...]:
    parts = path[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return tuple(parts)


def _suffix_index(items: Iterable[tuple[tuple[str, ...], str]]) -> dict[tuple[str, ...], list[str]]:
    """Every tail of every path's parts -> the paths ending that way."""
    index: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for parts, path in items:
        for start in range(len(parts)):
            index[parts[start:]].append(path)
    return index
