"""Edits to a task's working tree: SEARCH/REPLACE blocks and unified diffs, parsed and applied safely.

The public face of ``edit_parse`` (reading replies), ``edit_apply`` (blocks), ``edit_diff`` and
``edit_patch`` (unified diffs), ``edit_overlay`` (plan first, write last) and ``safe_paths`` (where
writing is allowed). Messages meant for the model come back as values (``ApplyResult.feedback``);
messages meant for the user are raised as ``TaskFailed`` / ``PathRefused``.
"""

from __future__ import annotations

from pathlib import Path

from runner.agent.edit_apply import ApplyResult, BlockFailure, apply_block, apply_blocks, plan_blocks
from runner.agent.edit_overlay import Overlay
from runner.agent.edit_parse import EditBlock, ParsedReply, parse_reply
from runner.agent.edit_patch import plan_diff
from runner.agent.edit_text import EditError
from runner.agent.safe_paths import normalize_rel, safe_path
from runner.errors import PathRefused, TaskFailed

__all__ = [
    "ApplyResult",
    "BlockFailure",
    "EditBlock",
    "ParsedReply",
    "apply_blocks",
    "apply_instruction_edits",
    "apply_reply",
    "apply_unified_diff",
    "normalize_rel",
    "parse_reply",
    "safe_path",
]

_NOTHING_CHANGED = "Nothing was changed."


def apply_unified_diff(root: Path, diff_text: str) -> tuple[str, ...]:
    """Applies a whole unified diff or nothing; returns the changed files. Raises TaskFailed (naming
    the file and hunk) or PathRefused before writing anything."""
    overlay = Overlay(root)
    _plan_diff_or_fail(overlay, diff_text, "The diff")
    return overlay.flush()


def apply_instruction_edits(root: Path, instruction: str) -> tuple[str, ...] | None:
    """Applies the diff fences and SEARCH/REPLACE blocks an instruction carries, all or nothing, with
    no model. None when it carries none (a prose task for the model). Raises TaskFailed with a
    user-facing message, or PathRefused, and then has written nothing."""
    parsed = parse_reply(instruction)
    if not parsed.has_edits:
        return None
    if parsed.problems:
        raise TaskFailed("The edits in the instruction could not be read. " + " ".join(parsed.problems))
    overlay = Overlay(root)
    for number, diff_text in enumerate(parsed.diffs, 1):
        label = "The diff" if len(parsed.diffs) == 1 else f"Diff {number} of {len(parsed.diffs)}"
        _plan_diff_or_fail(overlay, diff_text, label)
    for block in parsed.blocks:
        try:
            apply_block(overlay, block)
        except EditError as error:
            raise TaskFailed(
                f"SEARCH/REPLACE block {block.index} ({block.path}) in the instruction does not apply."
                f" {_NOTHING_CHANGED}\n{error.reason}"
            ) from None
    return overlay.flush()


def apply_reply(root: Path, parsed: ParsedReply) -> ApplyResult:
    """Applies a model reply: each diff fence all or nothing, then the blocks one by one. Diffs that
    fail and blocks that could not be read are listed in ``problems`` for the model."""
    overlay = Overlay(root)
    problems = list(parsed.problems)
    for number, diff_text in enumerate(parsed.diffs, 1):
        trial = overlay.copy()  # a failing diff must leave no half of itself in the plan
        try:
            plan_diff(trial, diff_text)
        except (EditError, PathRefused) as error:
            problems.append(f"## Diff {number} was not applied\n{error}\nSend it again as SEARCH/REPLACE blocks.")
            continue
        overlay = trial
    applied, failed = plan_blocks(overlay, parsed.blocks)
    changed = overlay.flush()
    return ApplyResult(tuple(applied), tuple(failed), changed, tuple(problems))


def _plan_diff_or_fail(overlay: Overlay, diff_text: str, label: str) -> None:
    try:
        plan_diff(overlay, diff_text)
    except PathRefused:
        raise
    except EditError as error:
        raise TaskFailed(f"{label} does not apply. {_NOTHING_CHANGED}\n{error.reason}") from None
