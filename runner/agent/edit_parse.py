"""Reading a model's reply (or an instruction): SEARCH/REPLACE blocks, diff fences, and the summary.

Tolerates what real models emit: 5 to 9 marker characters, the file name before the fence, inside it,
or with no fence at all, decorated names (``**a.py**``, `` `a.py` ``, ``a.py:``, ``# a.py``), CRLF,
and blocks that reuse the previous block's file. Pure: no file system.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

HEAD = re.compile(r"^\s*<{5,9}\s*SEARCH\s*$", re.IGNORECASE)
DIVIDER = re.compile(r"^\s*={5,9}\s*$")
TAIL = re.compile(r"^\s*>{5,9}\s*REPLACE\s*$", re.IGNORECASE)
FENCE = re.compile(r"^\s*(`{3,}|~{3,})([^`]*)$")

_LABEL = re.compile(r"^(?:file ?name|file|path)\s*:\s*", re.IGNORECASE)
_LIST_MARK = re.compile(r"^(?:[-*]\s+|\d+[.)]\s+)")
_NOTE = re.compile(r"\s+\((?:new|new file|created?|updated?|modified)\)$", re.IGNORECASE)
_BACKTICKED = re.compile(r"`([^`\s]+)`")
_PATH_CHARS = re.compile(r"^[\w.@+~,=/-]+$")
_BARE_NAMES = frozenset(
    "makefile dockerfile containerfile procfile gemfile rakefile jenkinsfile vagrantfile brewfile "
    "justfile pipfile license licence readme changelog codeowners authors notice copying".split()
)
_LOOKBACK = 6  # lines above <<<<<<< SEARCH that may hold the file name and the opening fence


@dataclass(frozen=True)
class EditBlock:
    """One SEARCH/REPLACE block. ``index`` is its 1-based position in the reply, as told to the
    model. ``search``/``replace`` use ``\\n`` line endings, each line terminated."""

    path: str
    search: str
    replace: str
    index: int


@dataclass(frozen=True)
class ParsedReply:
    """Blocks in reply order, the text outside them (the change summary), the unified diffs found in
    diff fences, and ``problems``: model-facing notes on blocks that could not be read."""

    blocks: tuple[EditBlock, ...]
    summary: str
    diffs: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def has_edits(self) -> bool:
        return bool(self.blocks or self.diffs or self.problems)


def filename_from_line(line: str) -> str | None:
    """The path a line names once its decoration is peeled off, or None if it is not a path."""
    name = line.strip()
    for _ in range(5):
        before = name
        name = _LIST_MARK.sub("", name.lstrip("#").strip())
        name = _LABEL.sub("", name)
        name = _NOTE.sub("", name.strip("*`'\"").strip())
        name = name.rstrip(":").strip()
        if name == before:
            break
    name = name.replace("\\_", "_").replace("\\", "/")  # markdown-escaped underscores, Windows paths
    if _plausible_path(name):
        return name
    # "In `src/app.py`:" -- a sentence naming exactly one path in backticks
    quoted = [q for q in _BACKTICKED.findall(line) if _plausible_path(q)]
    return quoted[0] if len(quoted) == 1 else None


def _plausible_path(name: str) -> bool:
    if not _PATH_CHARS.match(name) or not re.search(r"[A-Za-z0-9]", name):
        return False
    base = name.rstrip("/").rsplit("/", 1)[-1]
    if name.endswith(".") or not base:
        return False
    return "/" in name or "." in base or base.lower() in _BARE_NAMES


def _fence(line: str) -> tuple[str, str] | None:
    """(fence characters, info word) when ``line`` opens or closes a fence."""
    match = FENCE.match(line)
    if not match:
        return None
    info = match.group(2).strip().split()
    return match.group(1), (info[0].lower() if info else "")


def _closes(line: str, opener: str) -> bool:
    fence = _fence(line)
    return fence is not None and fence[1] == "" and fence[0][0] == opener[0] and len(fence[0]) >= len(opener)


def looks_like_diff(lines: list[str]) -> bool:
    has_git = any(line.startswith("diff --git ") for line in lines)
    has_headers = any(line.startswith("--- ") for line in lines) and any(line.startswith("+++ ") for line in lines)
    has_hunk = any(line.startswith("@@") for line in lines)
    return has_git or (has_headers and has_hunk)


@dataclass
class _Scanner:
    lines: list[str]
    used: list[bool] = field(default_factory=list)
    blocks: list[EditBlock] = field(default_factory=list)
    diffs: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    last_path: str | None = None
    open_fence: str | None = None
    count: int = 0

    def __post_init__(self) -> None:
        self.used = [False] * len(self.lines)

    def run(self) -> None:
        i = 0
        while i < len(self.lines):
            if HEAD.match(self.lines[i]):
                i = self._block(i)
            else:
                i = self._diff_fence(i) or i + 1

    def _mark(self, start: int, end: int) -> None:
        for k in range(start, min(end, len(self.lines))):
            self.used[k] = True

    def _claim_filename(self, head: int) -> str | None:
        """Finds the file name above a block and takes it, and the fence(s) around it, out of the
        summary."""
        fences: list[int] = []
        k = head - 1
        while k >= 0 and not self.used[k] and head - k <= _LOOKBACK:
            line = self.lines[k]
            if _fence(line):
                fences.append(k)
            elif line.strip():
                name = filename_from_line(line)
                if name:
                    self._take_name(k, name, fences)
                    return name
                break
            k -= 1
        if fences:
            self._take_fences(fences[:1])
        return None

    def _take_name(self, k: int, name: str, fences: list[int]) -> None:
        self.used[k] = True
        above = k - 1
        # With 0 fences between name and block the name is inside the block's fence; with 2 it sits
        # in a fence of its own. Either way the fence above it opens that fence.
        inside = len(fences) % 2 == 0
        if inside and above >= 0 and not self.used[above] and _fence(self.lines[above]):
            fences = [*fences, above]
            if above >= 1 and not self.used[above - 1] and filename_from_line(self.lines[above - 1]) == name:
                self.used[above - 1] = True  # the same name was also given above the fence
        self._take_fences(fences)

    def _take_fences(self, fences: list[int]) -> None:
        """Takes fence lines out of the summary; the one nearest the block is the one to close."""
        for k in fences:
            self.used[k] = True
        if fences:
            self.open_fence = _fence(self.lines[fences[0]])[0]  # type: ignore[index]

    def _find(self, start: int, stop: re.Pattern[str]) -> tuple[int, bool]:
        """(index, True) of the first line from ``start`` matching ``stop``; (index, False) of a new
        block's first line or of the end when ``stop`` is missing."""
        for k in range(start, len(self.lines)):
            if stop.match(self.lines[k]):
                return k, True
            if HEAD.match(self.lines[k]):
                return k, False
        return len(self.lines), False

    def _block(self, head: int) -> int:
        self.count += 1
        path = self._claim_filename(head) or self.last_path
        self.last_path = path
        divider, ok = self._find(head + 1, DIVIDER)
        tail, missing = divider, "======="
        if ok:
            tail, ok = self._find(divider + 1, TAIL)
            missing = ">>>>>>> REPLACE"
        if not ok:
            self.problems.append(
                f"Block {self.count} ({path or 'no file name'}) has no `{missing}` line, so it was"
                " ignored (was the reply cut off?). Send it again, complete."
            )
            self._mark(head, tail)
            return tail
        self._mark(head, tail + 1)
        if path is None:
            self.problems.append(
                f"Block {self.count} has no file name, so it was ignored. Put the file's path alone on"
                " the line before the opening fence."
            )
        else:
            search = _text(self.lines[head + 1 : divider])
            replace = _text(self.lines[divider + 1 : tail])
            self.blocks.append(EditBlock(path, search, replace, self.count))
        self._close_fence(tail + 1)
        return tail + 1

    def _close_fence(self, start: int) -> None:
        if not self.open_fence:
            return
        k = start
        while k < len(self.lines) and not self.lines[k].strip():
            k += 1
        if k < len(self.lines) and _closes(self.lines[k], self.open_fence):
            self.used[k] = True
            self.open_fence = None

    def _diff_fence(self, start: int) -> int | None:
        """If a diff fence opens at ``start``, records it and returns the index after it."""
        fence = _fence(self.lines[start])
        if fence is None or self.used[start] or fence[1] not in ("diff", "patch", ""):
            return None
        closing = (k for k in range(start + 1, len(self.lines)) if _closes(self.lines[k], fence[0]))
        end = next(closing, len(self.lines))
        body = self.lines[start + 1 : end]
        if any(HEAD.match(line) for line in body) or not looks_like_diff(body):
            return None
        if fence[1] == "" and not (body and body[0].startswith(("diff --git ", "--- "))):
            return None  # an untagged fence counts only when it plainly starts with a diff
        self.diffs.append(_text(body))
        self._mark(start, end + 1)
        return end + 1

    def summary(self) -> str:
        kept: list[str] = []
        for line, used in zip(self.lines, self.used):
            if not used:
                kept.append(line)
            elif kept and kept[-1] != "":
                kept.append("")  # text on either side of a block stays in separate paragraphs
        return re.sub(r"\n\s*\n(\s*\n)+", "\n\n", "\n".join(kept)).strip()


def _text(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def parse_reply(text: str) -> ParsedReply:
    """Every SEARCH/REPLACE block and diff fence in ``text``, plus the rest as the summary."""
    scanner = _Scanner(text.replace("\r\n", "\n").split("\n"))
    scanner.run()
    return ParsedReply(tuple(scanner.blocks), scanner.summary(), tuple(scanner.diffs), tuple(scanner.problems))
