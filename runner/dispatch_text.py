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

Characters are removed *before* comments are looked for, so ``<!\u200b--`` cannot dodge the scan.
Everything here is linear in the input: ``str.find`` and anchored, bounded regexes only.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import NamedTuple

_NEWLINES = {"\r\n": "\n", "\r": "\n", "\u2028": "\n", "\u2029": "\n", "\x85": "\n"}
_NEWLINE_RE = re.compile("\r\n|[\r\u2028\u2029\x85]")
_EXTRA_INVISIBLE = (
    [(0xE0000, 0xE007F), (0xFE00, 0xFE0F), (0xE0100, 0xE01EF)]
    + [(cp, cp) for cp in (0x034F, 0x115F, 0x1160, 0x3164, 0xFFA0, 0x180E)]
)
# Up to three spaces, then three or more backticks or tildes; the rest of the line is the info string.
_FENCE_RE = re.compile(r" {0,3}(`{3,}|~{3,})([^\n]*)")
_CLOSE_RE = re.compile(r" {0,3}(`{3,}|~{3,})[ \t]*\n?")
METADATA_KEYWORD = "agent_task_metadata"


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
        drop = {ord(ch): None for ch in set(text) if ch < " " and ch not in "\t\n" or ch == "\x7f"}
    else:
        # Only the distinct characters are classified, so a 1 MB body costs one pass plus a set.
        drop = {ord(ch): None for ch in set(text) if _is_invisible(ch)}
    return text.translate(drop) if drop else text


def clean_line(text: str) -> str:
    """A one-line field (title, id): invisible characters out, newlines to spaces, trimmed."""
    return " ".join(remove_invisible(text).split("\n")).strip()


class Line(NamedTuple):
    """One line of a cleaned body. Code lines (fences and their content) are kept verbatim."""

    text: str
    code: bool = False


@dataclass(frozen=True)
class Scanned:
    """A body split into lines with comments removed, plus the first metadata comment's payload."""

    lines: tuple[Line, ...]
    metadata: str | None  # text after ``agent_task_metadata`` inside the first such comment


def _line_end(text: str, pos: int) -> int:
    nl = text.find("\n", pos)
    return len(text) if nl < 0 else nl + 1


def _fence_end(text: str, pos: int, fence: str) -> int:
    """Offset just past the line closing a fence opened by ``fence``; the end of text if none."""
    n = len(text)
    while pos < n:
        end = _line_end(text, pos)
        m = _CLOSE_RE.fullmatch(text, pos, end)
        if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
            return end
        pos = end
    return n


def _open_fence(text: str, pos: int, end: int) -> str | None:
    m = _FENCE_RE.match(text, pos, end)
    if not m:
        return None
    fence, info = m.group(1), m.group(2)
    if fence[0] == "`" and "`" in info:  # ```foo``` on one line is an inline code span
        return None
    return fence


def _segments(text: str) -> tuple[list[tuple[bool, str]], str | None]:
    """Split into (is_code, text) pieces, dropping comments; returns the metadata payload too."""
    pieces: list[tuple[bool, str]] = []
    metadata: str | None = None
    pos, n, at_line_start = 0, len(text), True
    while pos < n:
        end = _line_end(text, pos)
        fence = _open_fence(text, pos, end) if at_line_start else None
        if fence:
            close = _fence_end(text, end, fence)
            pieces.append((True, text[pos:close]))
            pos = close
            continue
        start = text.find("<!--", pos, end)
        if start < 0:
            pieces.append((False, text[pos:end]))
            pos, at_line_start = end, True
            continue
        pieces.append((False, text[pos:start]))
        stop = text.find("-->", start + 4)
        inner = text[start + 4 : n if stop < 0 else stop]
        head = inner.lstrip()
        if metadata is None and head[: len(METADATA_KEYWORD)].lower() == METADATA_KEYWORD:
            metadata = head[len(METADATA_KEYWORD) :]
        pos, at_line_start = (n if stop < 0 else stop + 3), False
    return pieces, metadata


def _to_lines(pieces: list[tuple[bool, str]]) -> tuple[Line, ...]:
    lines: list[Line] = []
    buf: list[str] = []  # prose of the current line, which comments may have cut into pieces
    for code, chunk in pieces:
        if code:
            if any(buf):
                lines.append(Line("".join(buf)))
                buf = []
            lines.extend(Line(t, True) for t in chunk.removesuffix("\n").split("\n"))
            continue
        first, *rest = chunk.split("\n")
        buf.append(first)
        for part in rest:
            lines.append(Line("".join(buf)))
            buf = [part]
    if any(buf):
        lines.append(Line("".join(buf)))
    return tuple(lines)


def scan(text: str) -> Scanned:
    """Clean ``text`` (a raw issue body) and split it into prose and code lines."""
    pieces, metadata = _segments(remove_invisible(text))
    return Scanned(_to_lines(pieces), metadata)


def trim_blank(lines: list[Line] | tuple[Line, ...]) -> list[Line]:
    """Drop blank prose lines at both ends; code lines are never touched."""
    out = list(lines)
    while out and not out[0].code and not out[0].text.strip():
        out.pop(0)
    while out and not out[-1].code and not out[-1].text.strip():
        out.pop()
    return out


def join(lines: list[Line] | tuple[Line, ...]) -> str:
    """The text of ``lines`` with blank prose ends trimmed and trailing prose whitespace removed."""
    trimmed = trim_blank(lines)
    return "\n".join(ln.text if ln.code else ln.text.rstrip() for ln in trimmed)


def sanitize_markdown(text: str) -> str:
    """Text as the model may see it: no hidden comments, no invisible characters, fences verbatim.

    Also right for follow-up comments (``/agent ...``); a metadata block is dropped like any comment.
    """
    return join(scan(text).lines)
