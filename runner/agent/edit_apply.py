"""Applying SEARCH/REPLACE blocks, and telling the model precisely what did not apply and why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from runner.agent.edit_match import Ambiguous, closest_chunk, find_exact, locate
from runner.agent.edit_overlay import Overlay
from runner.agent.edit_parse import EditBlock
from runner.agent.edit_text import EditError, TextFile, fence_for, quote_lines, split_lines
from runner.errors import PathRefused

_SHOW_LINES = 40  # at most this many lines of a file or block are quoted back to the model


@dataclass(frozen=True)
class BlockFailure:
    """A block that did not apply; ``reason`` is written for the model."""

    block: EditBlock
    reason: str


@dataclass(frozen=True)
class ApplyResult:
    """What one round of blocks did. Applied blocks are on disk; failed ones changed nothing.
    ``problems`` are model-facing notes on edits that were not even blocks (malformed, diff failed)."""

    applied: tuple[EditBlock, ...]
    failed: tuple[BlockFailure, ...]
    changed_files: tuple[str, ...]
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failed and not self.problems

    def feedback(self) -> str:
        """The message for the model: each failure with its reason, and the blocks that did apply
        (already in the files, not to be sent again)."""
        if self.ok:
            return f"All {len(self.applied)} SEARCH/REPLACE blocks applied."
        parts = [_headline(self)]
        parts += [_failure_text(failure) for failure in self.failed]
        parts += self.problems
        if self.applied:
            parts.append(_applied_text(self.applied))
        parts.append(
            "Reply with fixed versions of the failed blocks only. Each SEARCH must copy lines of the"
            " file as it is now exactly, with the same whitespace, indentation and comments, and"
            " match exactly one place."
        )
        return "\n\n".join(parts)


def _headline(result: ApplyResult) -> str:
    total = len(result.applied) + len(result.failed)
    if not result.failed:
        return "Some of your edits could not be read:"
    return f"# {len(result.failed)} of {total} SEARCH/REPLACE blocks failed to apply"


def _failure_text(failure: BlockFailure) -> str:
    block = failure.block
    return (
        f"## Block {block.index} ({block.path}) failed\n{failure.reason}\n\n"
        f"The block was:\n{block.path}\n{quote_block(block)}"
    )


def _applied_text(applied: tuple[EditBlock, ...]) -> str:
    numbers = ", ".join(str(block.index) for block in applied)
    files = ", ".join(dict.fromkeys(block.path for block in applied))
    noun = "block" if len(applied) == 1 else "blocks"
    return (
        f"# Already applied: {noun} {numbers} ({files})\n"
        f"These are in the files now. Do not send them again; later SEARCH text must match the files"
        f" as they are after these changes."
    )


def _clip(text: str) -> str:
    lines = split_lines(text)
    if len(lines) <= _SHOW_LINES:
        return text
    return "".join(line + "\n" for line in lines[:_SHOW_LINES]) + f"... ({len(lines) - _SHOW_LINES} more lines)\n"


def quote_block(block: EditBlock) -> str:
    body = f"<<<<<<< SEARCH\n{_clip(block.search)}=======\n{_clip(block.replace)}>>>>>>> REPLACE\n"
    fence = fence_for(body)
    return f"{fence}\n{body}{fence}"


def not_found_reason(path: str, content: TextFile, search: list[str], replace: list[str]) -> str:
    reason = f"The SEARCH text was not found in {path}."
    chunk = closest_chunk(content.lines, search)
    if chunk:
        start, end = chunk
        shown = content.lines[start : min(end, start + _SHOW_LINES)]
        reason += f"\nDid you mean to match these lines ({path}, lines {start + 1}-{end})?\n{quote_lines(shown)}"
    if any(line.strip() for line in replace) and find_exact(content.lines, replace, replace):
        reason += f"\nThe REPLACE text is already in {path}: this change may already have been made."
    return reason


def ambiguous_reason(path: str, error: Ambiguous) -> str:
    starts = ", ".join(str(match.start + 1) for match in error.matches[:10])
    return (
        f"The SEARCH text matches {len(error.matches)} places in {path} (starting at lines {starts}),"
        f" so it is not clear which one to change. Add surrounding lines to SEARCH so it matches"
        f" exactly one place."
    )


def apply_block(overlay: Overlay, block: EditBlock) -> None:
    """Plans ``block`` on ``overlay``; raises EditError (model-facing reason) or PathRefused."""
    content = overlay.read(block.path)
    path = overlay.key(block.path)
    search, replace = split_lines(block.search), split_lines(block.replace)
    if not any(line.strip() for line in search):
        overlay.write(path, _create(path, content, replace))
        return
    if content is None:
        raise EditError(f"{path} does not exist. To create it, send a block with an empty SEARCH part.")
    try:
        match = locate(content.lines, search, replace)
    except Ambiguous as error:
        raise EditError(ambiguous_reason(path, error)) from None
    if match is None:
        raise EditError(not_found_reason(path, content, search, replace))
    overlay.write(path, content.splice(match.start, match.end, match.replace))


def _create(path: str, content: TextFile | None, replace: list[str]) -> TextFile:
    if content is not None and not content.is_blank():
        raise EditError(
            f"{path} already exists and is not empty, so an empty SEARCH cannot create it. To change"
            f" it, put the exact lines to replace in SEARCH."
        )
    new = TextFile().splice(0, 0, replace)
    return TextFile(new.lines, new.eols, content.bom) if content else new


def plan_blocks(overlay: Overlay, blocks: Sequence[EditBlock]) -> tuple[list[EditBlock], list[BlockFailure]]:
    """Plans each block in order on ``overlay``; a failure leaves the others in place."""
    applied: list[EditBlock] = []
    failed: list[BlockFailure] = []
    for block in blocks:
        try:
            apply_block(overlay, block)
        except PathRefused as error:
            failed.append(BlockFailure(block, f"Path refused: {error}."))
        except EditError as error:
            failed.append(BlockFailure(block, error.reason))
        else:
            applied.append(block)
    return applied, failed


def apply_blocks(root: Path, blocks: Sequence[EditBlock]) -> ApplyResult:
    """Applies ``blocks`` in order to the tree at ``root``. Blocks that fail change nothing and do not
    undo the ones that applied (the model resends only the failed ones)."""
    overlay = Overlay(root)
    applied, failed = plan_blocks(overlay, blocks)
    changed = overlay.flush()
    return ApplyResult(tuple(applied), tuple(failed), changed)
