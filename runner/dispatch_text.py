"""Markdown hygiene for text that reaches the model: hidden HTML comments and invisible Unicode out.

What a maintainer sees on GitHub is what the model gets. Two things are invisible on GitHub and are
removed:

* **Invisible characters**, everywhere, code fences included (a bidi override inside a fenced diff is
  exactly the "trojan source" attack): every format (Cf), control (Cc, except tab and newline),
  surrogate (Cs) and unassigned (Cn) character, tag characters U+E0000-U+E007F, variation selectors
  (used to smuggle bytes after an emoji), Hangul fillers and the combining grapheme joiner.
  U+2028/U+2029/U+0085 and carriage returns become newlines (CRLF bodies come from browsers, so the
  CR is never meaningful, even inside a diff).
* **HTML comments** outside fenced code blocks, including an unterminated ``<!--`` (it hides the rest
  of the body). Inside a ```` ``` ```` or ``~~~`` fence GitHub shows ``<!-- ... -->`` literally, so
  nothing there is hidden and the fence is kept verbatim: a diff or SEARCH/REPLACE block that edits
  HTML keeps its comments. A comment that starts before a fence swallows it, as on GitHub. Comments
  inside inline code spans and indented code blocks are stripped too: losing a little visible text in
  those rare cases is the safe side.

* **Link reference definitions** (``[//]: # (hidden)``, ``[x]: <> "hidden"``), which render as
  nothing: the Markdown way to write a comment. The line goes, with the lines right below it up to a
  blank line (a title may continue there); text glued under a definition is lost, which is the safe side.

Characters are removed *before* comments are looked for, so ``<!\u200b--`` cannot dodge the scan.
Everything here is linear in the input: ``str.find`` and anchored, bounded regexes only.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_NEWLINES = {"\r\n": "\n", "\r": "\n", "\u2028": "\n", "\u2029": "\n", "\x85": "\n"}
_NEWLINE_RE = re.compile("\r\n|[\r\u2028\u2029\x85]")
_EXTRA_INVISIBLE = [(0xE0000, 0xE007F), (0xFE00, 0xFE0F), (0xE0100, 0xE01EF)] + [
    (cp, cp) for cp in (0x034F, 0x115F, 0x1160, 0x3164, 0xFFA0, 0x180E)
]
# A line that may open or close a fence: up to three spaces, then three or more backticks or tildes.
# Possessive runs keep it linear; a backtick fence's info string may not hold a backtick (```x``` is
# inline code).
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}+(?![^\n]*`)|~{3,}+)", re.M)
_CLOSE_RE = re.compile(r"^ {0,3}(`{3,}+|~{3,}+)[ \t]*$", re.M)
METADATA_KEYWORD = "agent_task_metadata"
# "[label]: ..." at the start of a line, also inside a blockquote or list item; a label holds at most
# 999 characters and no unescaped "]" (CommonMark). Bounded runs: each try stops at the line's end.
_LINK_DEFINITION = re.compile(r"^[ \t>]{0,40}+(?:(?:[-*+]|\d{1,9}+[.)])[ \t]++)?\[(?:[^\]\\\n]|\\.){1,999}+\]:", re.M)


def _is_invisible(ch: str) -> bool:
    if ch in "\t\n":
        return False
    cp = ord(ch)
    if any(lo <= cp <= hi for lo, hi in _EXTRA_INVISIBLE):
        return True
    return unicodedata.category(ch) in ("Cf", "Cc", "Cs", "Cn")


def remove_invisible(text: str) -> str:
    """Normalize newlines to ``\\n`` and drop every invisible character (see the module doc)."""
    text = _NEWLINE_RE.sub(lambda m: _NEWLINES[m.group()], text)
    if text.isascii():
        drop = {ord(ch): None for ch in set(text) if (ch < " " and ch not in "\t\n") or ch == "\x7f"}
    else:
        # Only the distinct characters are classified, so a 1 MB body costs one pass plus a set.
        drop = {ord(ch): None for ch in set(text) if _is_invisible(ch)}
    return text.translate(drop) if drop else text


def clean_line(text: str) -> str:
    """A one-line field (title, id): invisible characters out, newlines to spaces, trimmed."""
    return " ".join(remove_invisible(text).split("\n")).strip()


@dataclass(frozen=True)
class Scanned:
    """A body as lines with comments removed, plus the first metadata comment's payload.

    ``code[i]`` is 1 when ``lines[i]`` belongs to a fenced block (fence lines included); such lines are
    verbatim. Parallel arrays rather than one object per line: a 1 MB body may hold 500,000 lines.
    """

    lines: list[str]
    code: bytearray
    metadata: str | None  # text after ``agent_task_metadata`` inside the first such comment


def _fence_end(text: str, pos: int, fence: str) -> int:
    """Offset just past the line closing a fence opened by ``fence``; the end of text if none."""
    for m in _CLOSE_RE.finditer(text, pos):
        if m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
            return min(m.end() + 1, len(text))
    return len(text)


class _Scanner:
    """One left-to-right pass: prose runs, fenced blocks kept whole, comments dropped."""

    def __init__(self, text: str):
        self.text, self.pieces, self.metadata = text, [], None
        self.comment_at = self.fence_at = -1
        self.fence: re.Match[str] | None = None

    def run(self) -> tuple[list[tuple[bool, str]], str | None]:
        text, pos = self.text, 0
        while pos < len(text):
            self._look_ahead(pos)
            nxt = min(self.comment_at, self.fence_at)
            if nxt > pos:
                self.pieces.append((False, text[pos:nxt]))
                pos = nxt
            elif pos == self.fence_at:
                pos = self._fence(pos)
            else:
                pos = self._comment(pos)
        return self.pieces, self.metadata

    def _look_ahead(self, pos: int) -> None:
        # Each search result is reused until passed, which keeps the whole scan linear.
        n = len(self.text)
        if self.comment_at < pos:
            found = self.text.find("<!--", pos)
            self.comment_at = n if found < 0 else found
        if self.fence_at < pos:
            self.fence = _FENCE_RE.search(self.text, pos)
            self.fence_at = n if self.fence is None else self.fence.start()

    def _fence(self, pos: int) -> int:
        assert self.fence is not None
        fence = self.fence.group(1)
        line_end = self.text.find("\n", pos)
        close = len(self.text) if line_end < 0 else _fence_end(self.text, line_end + 1, fence)
        self.pieces.append((True, self.text[pos:close]))
        return close

    def _comment(self, pos: int) -> int:
        text = self.text
        stop = text.find("-->", pos + 4)
        inner = text[pos + 4 : len(text) if stop < 0 else stop]
        head = inner.lstrip()
        if self.metadata is None and head[: len(METADATA_KEYWORD)].lower() == METADATA_KEYWORD:
            self.metadata = head[len(METADATA_KEYWORD) :]
        return len(text) if stop < 0 else stop + 3


def _to_lines(pieces: list[tuple[bool, str]]) -> tuple[list[str], bytearray]:
    lines: list[str] = []
    code = bytearray()
    buf: list[str] = []  # prose of the current line, which comments may have cut into pieces
    for is_code, chunk in pieces:
        if is_code:
            if any(buf):
                lines.append("".join(buf))
                code.append(0)
                buf = []
            parts = chunk.removesuffix("\n").split("\n")
            lines.extend(parts)
            code.extend(b"\x01" * len(parts))
            continue
        first, *rest = chunk.split("\n")
        buf.append(first)
        if rest:
            lines.append("".join(buf))
            lines.extend(rest[:-1])
            code.extend(bytes(len(rest)))
            buf = [rest[-1]]
    if any(buf):
        lines.append("".join(buf))
        code.append(0)
    return lines, code


def scan(text: str) -> Scanned:
    """Clean ``text`` (a raw issue body) and split it into prose and code lines."""
    pieces, metadata = _Scanner(remove_invisible(text)).run()
    return Scanned(*_drop_link_definitions(*_to_lines(pieces)), metadata)


def _drop_link_definitions(lines: list[str], code: bytearray) -> tuple[list[str], bytearray]:
    """``lines`` without the prose lines that start a link reference definition, and the lines below
    each up to a blank line or code. One regex pass and one rebuild: linear."""
    text = "\n".join(lines)
    if "]:" not in text:
        return lines, code
    dropped = bytearray(len(lines))
    line, pos = 0, 0
    for m in _LINK_DEFINITION.finditer(text):
        line += text.count("\n", pos, m.start())
        pos = m.start()
        i = line
        while i < len(lines) and not code[i] and not dropped[i] and lines[i].strip():
            dropped[i] = 1
            i += 1
    if not any(dropped):
        return lines, code
    kept = [i for i in range(len(lines)) if not dropped[i]]
    return [lines[i] for i in kept], bytearray(code[i] for i in kept)


def join(lines: list[str], code: bytearray | bytes) -> str:
    """``lines`` as text, without the blank lines and spaces around it; code lines stay verbatim."""
    text = "\n".join(lines)
    first = code.find(1)
    if first < 0:
        return text.strip()
    last = code.rfind(1)
    start = sum(map(len, lines[:first])) + first  # offset of the first code line
    end = sum(map(len, lines[: last + 1])) + last  # offset just past the last one
    return text[:start].lstrip() + text[start:end] + text[end:].rstrip()


def sanitize_markdown(text: str) -> str:
    """Text as the model may see it: no hidden comments, no invisible characters, fences verbatim.

    Also right for follow-up comments (``/agent ...``); a metadata block is dropped like any comment.
    """
    scanned = scan(text)
    return join(scanned.lines, scanned.code)
