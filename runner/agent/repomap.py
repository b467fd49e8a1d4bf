"""The repo map: what each file defines, compact enough to put a whole repository in a prompt.

Python files are read with ``ast`` (top-level classes and functions, and the methods of top-level
classes); other languages, and Python that does not parse, with a regex for the usual definition
keywords. ``defined_names`` is the fast variant the ranking runs over every file.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

# def/class/function/func/fn and friends at the start of a line, after the usual modifiers.
_KEYWORD_DEF = re.compile(
    r"^[ \t]*(?:(?:export|default|public|private|protected|internal|static|abstract|final|async|"
    r"override|pub(?:\([a-z]+\))?|unsafe|extern|const|open|sealed|data|inline)[ \t]+)*"
    r"(?P<kw>def|class|function|func|fn|interface|struct|trait|enum|module|object|impl|protocol|type)\*?[ \t]+"
    r"(?:\([^)]*\)[ \t]*)?"  # a Go receiver: func (s *Server) Name
    r"(?P<name>[A-Za-z_$][\w$]*)",
    re.MULTILINE,
)
_PY_DEF = re.compile(r"^[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]+(?P<name>[A-Za-z_]\w*)", re.MULTILINE)
_MAX_METHODS_SHOWN = 40


@dataclass(frozen=True)
class Definition:
    """One top-level definition; ``members`` are a class's method names, in source order."""

    name: str
    kind: str  # "class", "def" or the keyword the regex saw
    line: int
    members: tuple[str, ...] = field(default=())


def definitions(path: str, text: str) -> list[Definition]:
    """Top-level definitions of one file, for the map and for excerpts."""
    if path.endswith((".py", ".pyi")):
        try:
            return _python_definitions(ast.parse(text))
        except (SyntaxError, ValueError, RecursionError):
            pass
    return [
        Definition(m.group("name"), m.group("kw"), text.count("\n", 0, m.start()) + 1)
        for m in _KEYWORD_DEF.finditer(text)
        if not m.group(0)[:1].isspace() or not path.endswith(".py")
    ]


def defined_names(path: str, text: str) -> set[str]:
    """Every name the file defines at any depth (regex only: this runs over the whole repository)."""
    pattern = _PY_DEF if path.endswith((".py", ".pyi")) else _KEYWORD_DEF
    return {m.group("name") for m in pattern.finditer(text)}


def render_map(entries: list[tuple[str, list[Definition] | None]], omitted: int = 0) -> str:
    """Paths in order, each followed by its definitions when given (None: path only)."""
    lines: list[str] = []
    for path, defs in entries:
        lines.append(path)
        for d in defs or []:
            lines.append(_render_definition(d))
    if omitted:
        lines.append(f"... ({omitted} more files not shown)")
    return "\n".join(lines)


def _render_definition(d: Definition) -> str:
    line = f"  {d.kind} {d.name}"
    if d.members:
        shown = ", ".join(d.members[:_MAX_METHODS_SHOWN])
        more = f", ... (+{len(d.members) - _MAX_METHODS_SHOWN})" if len(d.members) > _MAX_METHODS_SHOWN else ""
        line += f": {shown}{more}"
    return line


def _python_definitions(tree: ast.Module) -> list[Definition]:
    found: list[Definition] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            # dict.fromkeys: @overload and property setters repeat a name; list it once.
            methods = tuple(dict.fromkeys(
                child.name for child in node.body if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            ))
            found.append(Definition(node.name, "class", node.lineno, methods))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append(Definition(node.name, "def", node.lineno))
    return found

