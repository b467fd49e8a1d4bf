"""The Python import graph of a repository, undirected: which files import which.

A file next to the best matches in this graph (the module that defines the class a top hit uses, or
the module that calls into it) is often where a fix lands even when the issue never names it.
Regex-based, so it costs milliseconds on thousands of files and never fails on odd syntax.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping

_FROM_IMPORT = re.compile(r"^[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+\(?([\w., \t\n]+)", re.MULTILINE)
_IMPORT = re.compile(r"^[ \t]*import[ \t]+([\w., \t]+)", re.MULTILINE)
_SOURCE_ROOTS = frozenset({"src", "lib", "python"})


def import_graph(files: Mapping[str, str]) -> dict[str, set[str]]:
    """For each Python file, the repository files it imports or is imported by."""
    modules = _module_index(p for p in files if p.endswith(".py"))
    edges: dict[str, set[str]] = defaultdict(set)
    for path in files:
        if not path.endswith(".py"):
            continue
        for target in _imported_modules(path, files[path]):
            other = modules.get(target)
            if other and other != path:
                edges[path].add(other)
                edges[other].add(path)
    return dict(edges)


def _imported_modules(path: str, text: str) -> list[str]:
    package = _module_parts(path)[:-1] if not path.endswith("__init__.py") else _module_parts(path)
    found: list[str] = []
    for match in _FROM_IMPORT.finditer(text):
        base = _resolve(match.group(1), package)
        found.append(base)
        # "from pkg import mod" imports a module when mod is one; try both readings.
        for name in match.group(2).replace("\n", ",").split(","):
            words = name.split()
            if words:
                found.append(f"{base}.{words[0]}" if base else words[0])
    for match in _IMPORT.finditer(text):
        found.extend(name.split()[0] for name in match.group(1).split(",") if name.split())
    return found


def _resolve(module: str, package: list[str]) -> str:
    dots = len(module) - len(module.lstrip("."))
    if not dots:
        return module
    base = package[: len(package) - (dots - 1)] if dots > 1 else package
    rest = module[dots:]
    return ".".join(base + ([rest] if rest else []))


def _module_index(paths) -> dict[str, str]:
    """Dotted module name -> path. A module is known by its full dotted path, by that path without a
    leading ``src``/``lib`` directory, and by any tail of two or more parts (packages kept in a
    subdirectory); a single bare name only from a root, so ``import logging`` (the standard
    library) does not become an edge to ``src/_pytest/logging.py``."""
    index: dict[str, str] = {}
    ordered = sorted(paths)
    for path in ordered:
        parts = _module_parts(path)
        index.setdefault(".".join(parts), path)
        if len(parts) > 1 and parts[0] in _SOURCE_ROOTS:
            index.setdefault(".".join(parts[1:]), path)
    for path in ordered:
        parts = _module_parts(path)
        for start in range(1, len(parts) - 1):
            index.setdefault(".".join(parts[start:]), path)
    return index


def _module_parts(path: str) -> list[str]:
    parts = path[: -len(".py")].split("/")
    return parts[:-1] if parts[-1] == "__init__" else parts
