"""Small Markdown and number formatters for what the runner writes on GitHub. Pure.

Untrusted text (from an issue or a model) goes through :func:`plain` (one line, ``<`` escaped),
:func:`code` (an inline code span) or :func:`fenced` (a block nothing inside can close), so it can
never open an HTML comment that hides the rest of a comment or PR body.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from runner.ports import Usage

_FENCE_LINE = re.compile(r" {0,3}(`{3,}+|~{3,}+)")


def comment_json(value: Any) -> str:
    """One-line JSON that cannot end the HTML comment it sits in."""
    text = json.dumps(value, ensure_ascii=True, default=str, skipkeys=True)
    # "--" and "<>" only occur inside JSON strings, where \u escapes mean the same characters.
    return text.replace("--", "\\u002d\\u002d").replace(">", "\\u003e").replace("<", "\\u003c")


def format_elapsed(seconds: float) -> str:
    """42 s, 3 min 5 s, 1 h 2 min, 2 d 3 h."""
    if not math.isfinite(seconds):
        return "unknown"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    units = ((86_400, "d", 3_600, "h"), (3_600, "h", 60, "min"), (60, "min", 1, "s"))
    for size, name, small, small_name in units:
        if s >= size:
            big, rest = divmod(s, size)
            return f"{big} {name} {rest // small} {small_name}" if rest // small else f"{big} {name}"
    return f"{s} s"  # unreachable: s >= 60 matched a unit


def format_cost(cost: float | None) -> str:
    if cost is None or not math.isfinite(cost):
        return "unknown"
    return f"${cost:.4f}" if cost < 1 else f"${cost:.2f}"


def format_tokens(usage: Usage) -> str:
    return f"{usage.tokens_in:,} in / {usage.tokens_out:,} out"


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def one_line(text: str, limit: int = 300) -> str:
    return cut(" ".join(str(text).split()), limit)


def plain(text: str, limit: int = 300) -> str:
    """Untrusted text inline: one line, and ``<`` escaped so it cannot start a hidden comment."""
    return one_line(text, limit).replace("<", "&lt;")


def code(text: str, limit: int = 200) -> str:
    """Untrusted text as an inline code span, fenced by more backticks than it contains."""
    text = one_line(text, limit)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fenced(text: str, limit: int) -> str:
    """A text block nothing inside can close; the middle of long output is cut, not its end."""
    if len(text) > limit:
        head, tail = limit // 3, limit - limit // 3
        text = f"{text[:head]}\n[... {len(text) - head - tail:,} characters cut ...]\n{text[-tail:]}"
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def close_fences(text: str) -> str:
    """Close a fence a truncation left open, so it cannot swallow what follows."""
    open_fence = None
    for line in text.split("\n"):
        m = _FENCE_LINE.match(line)
        if not m:
            continue
        if open_fence is None:
            if not (m.group(1)[0] == "`" and "`" in line[m.end() :]):  # ```x``` is inline code
                open_fence = m.group(1)
        elif m.group(1)[0] == open_fence[0] and len(m.group(1)) >= len(open_fence) and not line[m.end() :].strip():
            open_fence = None
    return text if open_fence is None else f"{text}\n{open_fence}"


def model_name(model: str | None, state: str) -> str:
    if model:
        return code(model)
    return "none (patch applied as given)" if state == "pr_opened" else "none"
