"""The Markdown forms of a dispatch issue body: labelled fields, ``key: value`` lines, sections.

Works on a :class:`~runner.dispatch_text.Scanned` body, so comments are already gone and fenced
lines are marked: nothing inside a code fence is ever read as a field, heading or separator, and
fenced lines are copied verbatim. Every pass is linear in the number of lines.

* Labelled fields: ``**Task ID:** `x` `` and ``- **Task ID**: x`` (label case, ``_``/``-``/spaces
  ignored). A labelled instruction runs on over the following lines until the next field, heading,
  separator or (for a list item) the next item at its level; its indented part is dedented.
* Plain lines: ``task_id: x``, ``user_id: y``, ``Target Repository: owner/name``, ``base_branch: z``.
* Sections: ``## Instruction`` or ``## Instructions`` up to the next heading of the same or a higher
  level, or a ``---`` separator. Field lines inside it are taken out of the instruction.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from runner.dispatch_text import Scanned, join

_BOLD_LABELS = {
    "task id": "task_id",
    "taskid": "task_id",
    "user id": "user_id",
    "userid": "user_id",
    "target": "target",
    "target repository": "target",
    "target repo": "target",
    "repository": "target",
    "repo": "target",
    "base branch": "base_branch",
    "instruction": "instruction",
    "instructions": "instruction",
}
_PLAIN_LABELS = {
    "task id": "task_id",
    "taskid": "task_id",
    "user id": "user_id",
    "userid": "user_id",
    "target repository": "target",
    "target repo": "target",
    "base branch": "base_branch",
}
_SEPARATORS = re.compile(r"[\s_-]+")
_BLOCK_STARTS = frozenset(" \t#-*_+")  # first characters of a heading, separator or list item
_COLON_LINE = re.compile(r"^[^\n:]*:", re.M)
# "## Instructions", "### instruction:", "# Instructions #"; possessive runs keep it linear.
_INSTRUCTION_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]++instructions?+[ \t]*+:?[ \t]*+#*+[ \t]*+$", re.M | re.I)
_HEADING_RE = re.compile(r" {0,3}(#{1,6})(?:[ \t]|$)")
_URL_RE = re.compile(r"https?://[^/\s]+/([^/\s]+/[^/\s#]+?)(?:\.git)?(?:/(?:issues|pull|pulls)/(\d+))?/?")
_ITEM_RE = re.compile(r"(\S+?)#(\d+)")
_ITEM_TYPES = {"issue", "pull_request", "pull", "pr", "pull request"}
_REPO_TYPES = {"repository", "repo"}


class _Field(NamedTuple):
    key: str  # task_id, user_id, target, base_branch, instruction
    value: str  # raw text after the label, stripped
    indent: int  # leading whitespace of the line
    listed: bool  # a "- **Label**: value" list item
    bold: bool


@dataclass(frozen=True)
class BodyFields:
    """What the body says, by form. The caller applies the precedence between forms."""

    labelled: dict[str, str] = field(default_factory=dict)  # **Label:** values, first one wins
    plain: dict[str, str] = field(default_factory=dict)  # plain ``label: value`` lines
    labelled_instruction: str | None = None
    section_instruction: str | None = None
    remainder: str = ""  # the body without field lines: the instruction of last resort


def _label_key(label: str, table: dict[str, str]) -> str | None:
    if len(label) > 40:
        return None
    return table.get(_SEPARATORS.sub(" ", label.strip().strip(":").lower()).strip())


def _bold_field(text: str, indent: int, listed: bool) -> _Field | None:
    close = text.find("**", 2, 64)
    if close < 0:
        return None
    label, value = text[2:close].strip(), text[close + 2 :].strip()
    if label.endswith(":"):
        label = label[:-1]
    elif value.startswith(":"):
        value = value[1:].strip()
    else:
        return None
    key = _label_key(label, _BOLD_LABELS)
    return _Field(key, value, indent, listed, True) if key else None


def _parse_field(line: str) -> _Field | None:
    if ":" not in line:
        return None
    text = line.lstrip(" \t")
    indent = len(line) - len(text)
    listed = text[:2] in ("- ", "* ", "+ ")
    if listed:
        text = text[2:].lstrip()
    if text.startswith("**"):
        return _bold_field(text, indent, listed)
    label, _, value = text.partition(":")
    key = _label_key(label, _PLAIN_LABELS)
    return _Field(key, value.strip(), indent, listed, False) if key else None


def _heading(line: str) -> tuple[int, str] | None:
    m = _HEADING_RE.match(line)
    if not m:
        return None
    return len(m.group(1)), line[m.end() :].strip().rstrip("#").strip()


def _is_separator(line: str) -> bool:
    text = line.strip().replace(" ", "").replace("\t", "")
    return len(text) >= 3 and text[0] in "-*_" and text == text[0] * len(text)


def _is_item_at(line: str, indent: int) -> bool:
    text = line
    if line[:1] in (" ", "\t"):
        text = line.lstrip(" \t")
        if len(line) - len(text) > indent:
            return False
    return text[:2] in ("- ", "* ", "+ ") or text in ("-", "*", "+")


def _prose_lines_matching(body: Scanned | _Body, pattern: re.Pattern[str]) -> Iterator[int]:
    """Indices of the prose lines where ``pattern`` (``^``-anchored, multiline) matches: one regex pass
    instead of a Python loop over what may be a million lines."""
    text = "\n".join(body.lines)
    line, pos = 0, 0
    for m in pattern.finditer(text):
        line += text.count("\n", pos, m.start())
        pos = m.start()
        if not body.code[line]:
            yield line


class _Body:
    """A scanned body with its field lines found once. Loops are tight: a body may be 500,000 lines."""

    def __init__(self, scanned: Scanned):
        self.lines, self.code = scanned.lines, scanned.code
        candidates = _prose_lines_matching(scanned, _COLON_LINE)
        self.fields = {i: f for i in candidates if (f := _parse_field(self.lines[i]))}

    def text(self, start: int, end: int) -> str:
        """Lines start..end without the field lines, as text."""
        lines: list[str] = []
        code = bytearray()
        pos = start
        for cut in [*(i for i in self.fields if start <= i < end), end]:
            lines += self.lines[pos:cut]
            code += self.code[pos:cut]
            pos = cut + 1
        return join(lines, code)

    def labelled_instruction(self, at: int) -> str:
        head = self.fields[at]
        end = self._run_end(at + 1, head.indent if head.listed else None)
        first = _strip_code_span(head.value)
        rest = self._dedented(at + 1, end, head.indent) if head.listed else self.lines[at + 1 : end]
        return join([first, *rest], b"\x00" + bytes(self.code[at + 1 : end]))

    def _run_end(self, start: int, item_indent: int | None) -> int:
        """Where free text after a field ends: a field, heading, separator, or the next list item."""
        lines, code, fields = self.lines, self.code, self.fields
        for i in range(start, len(lines)):
            line = lines[i]
            if code[i] or (line[:1] not in _BLOCK_STARTS and i not in fields):
                continue
            if i in fields:
                return i
            text = line.lstrip(" \t")
            mark = text[:1]
            if mark == "#" and _heading(line):
                return i
            if mark in ("-", "*", "_") and text.rstrip()[-1] == mark and _is_separator(line):
                return i
            if item_indent is not None and mark in ("-", "*", "+") and _is_item_at(line, item_indent):
                return i
        return len(lines)

    def _dedented(self, start: int, end: int, item_indent: int) -> list[str]:
        """Lines start..end, the run indented under a list item shifted left by its common indent."""
        run_end, cut = end, None
        for i in range(start, end):
            line = self.lines[i]
            text = line.lstrip(" \t")
            if not text:
                continue
            width = len(line) - len(text)
            inside_fence = self.code[i] and self.code[i - 1]  # fence content may sit at any indent
            if width <= item_indent and not inside_fence:
                run_end = i
                break
            cut = width if cut is None else min(cut, width)
        if not cut:
            return self.lines[start:end]
        out = [line[cut:] if line.strip() else line for line in self.lines[start:run_end]]
        return out + self.lines[run_end:end]

    def section(self, at: int, level: int) -> str:
        lines, code = self.lines, self.code
        end = len(lines)
        for i in range(at + 1, len(lines)):
            line = lines[i]
            if code[i] or line[:1] not in _BLOCK_STARTS:
                continue
            heading = _heading(line)
            if (heading and heading[0] <= level) or _is_separator(line):
                end = i
                break
        return self.text(at + 1, end)


def extract(scanned: Scanned) -> BodyFields:
    """Every labelled field, plain field, instruction form and the free text of a scanned body."""
    body = _Body(scanned)
    labelled: dict[str, str] = {}
    plain: dict[str, str] = {}
    labelled_instruction = None
    for i, f in body.fields.items():
        if f.key == "instruction":
            if labelled_instruction is None:
                labelled_instruction = body.labelled_instruction(i)
        else:
            (labelled if f.bold else plain).setdefault(f.key, f.value)
    return BodyFields(labelled, plain, labelled_instruction, _section(body), body.text(0, len(body.lines)))


def _section(body: _Body) -> str | None:
    for i in _prose_lines_matching(body, _INSTRUCTION_HEADING):
        heading = _heading(body.lines[i])
        if heading:
            return body.section(i, heading[0])
    return None


def _strip_code_span(value: str) -> str:
    """`Add a /healthz endpoint` -> the text; `a` and `b` stays as written."""
    if len(value) >= 2 and value[0] == value[-1] == "`" and value.count("`") == 2:
        return value[1:-1].strip()
    return value


def unquote(value: str) -> str:
    """A field value without the backticks, quotes or bold markers people put around it."""
    value = value.strip()
    for mark in ("**", "`", '"', "'"):
        while len(value) >= 2 * len(mark) and value.startswith(mark) and value.endswith(mark):
            value = value[len(mark) : -len(mark)].strip()
    return value


def parse_target(value: str) -> tuple[str, str | None]:
    """``repository `o/n` ``, ``issue `o/n#3` ``, ``o/n``, a GitHub URL -> (repo, related item)."""
    words = value.replace("`", " ").split()
    if len(words) >= 2 and words[0].lower() == "pull" and words[1].lower() == "request":
        words = ["pull_request", *words[2:]]
    typed = bool(words) and words[0].lower().rstrip(":") in _ITEM_TYPES | _REPO_TYPES
    ref = (words[1] if len(words) > 1 else "") if typed else (words[0] if words else "")
    if not ref:
        return unquote(value), None
    url = _URL_RE.fullmatch(ref)
    if url:
        repo, number = url.group(1), url.group(2)
        return repo, f"{repo}#{number}" if number else None
    item = _ITEM_RE.fullmatch(ref)
    if item:
        return item.group(1), f"{item.group(1)}#{item.group(2)}"
    return ref, None
