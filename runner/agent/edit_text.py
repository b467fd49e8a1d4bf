"""A text file as lines plus their line endings, so that edits keep what they do not touch.

Edits compare line *texts*; endings live beside them. That keeps a CRLF file CRLF, a file without a
final newline without one, a UTF-8 BOM where it was, and bytes that are not UTF-8 as they were
(``surrogateescape`` round-trips them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

BOM = "\ufeff"


class EditError(Exception):
    """An edit that cannot be applied. ``reason`` is written for whoever sent the edit."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def split_lines(text: str) -> list[str]:
    """Lines of ``text`` without their endings; only ``\\n`` ends a line (not form feeds etc.)."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


@dataclass(frozen=True)
class TextFile:
    """File content: ``lines[i]`` ends with ``eols[i]`` (``"\\n"``, ``"\\r\\n"``, or ``""`` for a last
    line with no newline)."""

    lines: tuple[str, ...] = ()
    eols: tuple[str, ...] = ()
    bom: bool = False

    @classmethod
    def parse(cls, text: str) -> TextFile:
        bom = text.startswith(BOM)
        if bom:
            text = text[1:]
        parts = text.split("\n")
        tail = parts.pop()
        lines: list[str] = []
        eols: list[str] = []
        for part in parts:
            crlf = part.endswith("\r")
            lines.append(part[:-1] if crlf else part)
            eols.append("\r\n" if crlf else "\n")
        if tail:
            lines.append(tail)
            eols.append("")
        return cls(tuple(lines), tuple(eols), bom)

    @classmethod
    def decode(cls, data: bytes, name: str) -> TextFile:
        if b"\0" in data:
            raise EditError(f"{name} is a binary file; the runner edits text files only.")
        return cls.parse(data.decode("utf-8", "surrogateescape"))

    def render(self) -> str:
        body = "".join(line + eol for line, eol in zip(self.lines, self.eols))
        return (BOM if self.bom else "") + body

    def encode(self) -> bytes:
        return self.render().encode("utf-8", "surrogateescape")

    @property
    def newline(self) -> str:
        """The ending new lines get: the file's dominant one, ``\\n`` for a file with none."""
        crlf = self.eols.count("\r\n")
        return "\r\n" if crlf > self.eols.count("\n") else "\n"

    @property
    def ends_with_newline(self) -> bool:
        return bool(self.eols) and self.eols[-1] != ""

    def is_blank(self) -> bool:
        return not any(line.strip() for line in self.lines)

    def splice(self, start: int, end: int, new_lines: Sequence[str]) -> TextFile:
        """Replace ``lines[start:end]`` with ``new_lines``; whether the file ends with a newline stays
        as it was (an empty file gets one)."""
        had_final = self.ends_with_newline or not self.lines
        # A new line takes the ending of the old line in its place (mixed files stay as mixed as
        # they were), and the file's dominant ending beyond those.
        replaced = self.eols[start:end]
        new_eols = tuple(replaced[i] if i < len(replaced) else self.newline for i in range(len(new_lines)))
        lines = self.lines[:start] + tuple(new_lines) + self.lines[end:]
        eols = self.eols[:start] + new_eols + self.eols[end:]
        return TextFile(lines, eols, self.bom).with_final_newline(had_final)

    def with_final_newline(self, wanted: bool) -> TextFile:
        """Every line but the last keeps an ending; the last has one iff ``wanted``."""
        if not self.lines:
            return self
        nl = self.newline
        eols = [eol or nl for eol in self.eols[:-1]]
        last = (self.eols[-1] or nl) if wanted else ""
        return TextFile(self.lines, tuple(eols) + (last,), self.bom)


def fence_for(text: str) -> str:
    """A backtick fence longer than any backtick run in ``text``."""
    runs = (len(line) - len(line.lstrip("`")) for line in (raw.lstrip() for raw in text.split("\n")))
    longest = max(runs, default=0)
    return "`" * max(3, longest + 1)


def quote_lines(lines: Sequence[str]) -> str:
    body = "".join(line + "\n" for line in lines)
    fence = fence_for(body)
    return f"{fence}\n{body}{fence}"
