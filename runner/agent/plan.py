"""The edit plan for one task: given edits, or a bounded conversation with the model.

An instruction that carries its own diff or SEARCH/REPLACE blocks is applied as given, with no model.
Otherwise the model gets the task and the relevant code, and each turn goes

    reply -> parse -> apply -> (all applied) verify -> done
                        |                        |
                        +-- failed blocks -------+-- failing output --> told to the model, next turn

up to ``AGENT_MAX_TURNS``. A reply without edits ends the task: the model's text says why. Usage is
reported after every turn through ``on_turn`` (the pipeline updates the status comment there and may
stop the task by raising).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.agent import prompts
from runner.agent.images import ImageFetcher, find_images, model_sees_images
from runner.agent.edit_text import fence_for
from runner.agent.edits import (
    ApplyResult,
    ParsedReply,
    apply_instruction_edits,
    apply_reply,
    normalize_rel,
    parse_reply,
)
from runner.agent.verify import VerifyResult, run_verify, verify_command_for
from runner.config import Settings
from runner.errors import PathRefused, TaskFailed
from runner.ports import ChangeResult, Checkout, Model, Task, Usage

log = logging.getLogger(__name__)

ContextBuilder = Callable[[Path, str, int], tuple[str, str | None]]  # -> (rendered code, repo instructions)
Verifier = Callable[[str, Path, float], VerifyResult]
OnTurn = Callable[[int, Usage], None]
_SUMMARY_CHARS = 3000
_QUOTE_CHARS = 1500
_PROBLEM_LINES = 30


def default_context(root: Path, query: str, budget_tokens: int) -> tuple[str, str | None]:
    """The repository context from ``agent.context``, rendered for the first user message."""
    from runner.agent.context import build_context, render_context

    bundle = build_context(root, query, budget_tokens)
    return render_context(bundle), bundle.repo_instructions


class Planner:
    """Turns a task into edits in a checkout. ``model_factory`` is None when no AGENT_MODEL is set."""

    def __init__(self, settings: Settings, model_factory: Callable[[], Model] | None, *,
                 context_builder: ContextBuilder | None = None, verifier: Verifier | None = None,
                 images: ImageFetcher | None = None):
        self.settings = settings
        self.images = images  # fetches linked images for a vision model; None: images are not looked at
        self.model_factory = model_factory
        self.context_builder = context_builder or default_context
        self.verifier = verifier or run_verify

    def __call__(self, task: Task, checkout: Checkout, on_turn: OnTurn | None = None) -> ChangeResult:
        root = checkout.path
        command = verify_command_for(root, self.settings)  # read before any edit: the repo's own choice
        given = apply_instruction_edits(root, task.instruction)
        if given is not None:
            return self._given_edits(task, root, given, command)
        if self.model_factory is None:
            raise TaskFailed(prompts.NO_MODEL)
        return _Session(self, task, root, command, on_turn).run()

    def verify(self, command: str, root: Path) -> VerifyResult:
        return self.verifier(command, root, self.settings.verify_timeout)

    def _given_edits(self, task: Task, root: Path, changed: tuple[str, ...], command: str | None) -> ChangeResult:
        verification = "not configured"
        if command:
            result = self.verify(command, root)
            if not result.ok:
                raise TaskFailed("The change given in the issue was applied, but " + _verify_problem(command, result))
            verification = "passed"
        summary = _clip(parse_reply(task.instruction).summary.strip(), _SUMMARY_CHARS) or task.title
        return ChangeResult(summary, changed, Usage(), None, 0, verification)


@dataclass
class _Session:
    """One task's conversation with the model."""

    planner: Planner
    task: Task
    root: Path
    command: str | None
    on_turn: OnTurn | None
    usage: Usage = field(default_factory=Usage)
    model_name: str | None = None
    summaries: list[str] = field(default_factory=list)
    originals: dict[str, bytes | None] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)
    problem: str = ""
    verification: str = "not configured"
    notes: list[str] = field(default_factory=list)  # for the status comment, e.g. ignored images

    def run(self) -> ChangeResult:
        settings = self.planner.settings
        model = self.planner.model_factory()  # type: ignore[misc]  # checked by Planner
        messages = self._first_messages()
        for turn in range(1, settings.max_turns + 1):
            reply = model.complete(messages)
            self.usage += reply.usage
            self.model_name = reply.model
            messages.append({"role": "assistant", "content": reply.text})
            try:
                feedback = self._turn(reply.text)
            finally:
                if self.on_turn is not None:
                    self.on_turn(turn, self.usage)
            if feedback is None:
                return self._result(turn)
            log.info("model turn needs another", extra={"turn": turn, "task_id": self.task.task_id})
            messages.append({"role": "user", "content": feedback})
        raise TaskFailed(f"The model did not reach a working change in {settings.max_turns} turns "
                         f"(AGENT_MAX_TURNS). Nothing was pushed. Last problem: {self.problem}")

    def _first_messages(self) -> list[dict[str, Any]]:
        settings = self.planner.settings
        query = f"{self.task.title}\n\n{self.task.instruction}"
        context, repo_instructions = self.planner.context_builder(self.root, query, settings.context_tokens)
        system = prompts.SYSTEM
        if repo_instructions and repo_instructions.strip():
            system += prompts.REPO_INSTRUCTIONS.format(instructions=repo_instructions.strip())
        related = prompts.RELATED.format(item=self.task.related_item, text=self.task.related_text.strip()
                                         or "(not available)") if self.task.related_item else ""
        user = prompts.TASK.format(title=self.task.title, instruction=self.task.instruction.strip(),
                                   related=related, context=context.strip())
        return [{"role": "system", "content": system}, {"role": "user", "content": self._with_images(user)}]

    def _with_images(self, text: str) -> str | list[dict[str, Any]]:
        """The first user message, with the instruction's linked images when the model can see them."""
        fetcher, model = self.planner.images, self.planner.settings.model
        urls = find_images(self.task.instruction) if fetcher is not None else []
        if not urls:
            return text
        if not model_sees_images(model):
            self.notes += [f"image ignored: {url} (the model {model} does not take images)" for url in urls]
            return text
        images, ignored = fetcher.fetch(urls)  # type: ignore[union-attr]  # urls is empty without one
        self.notes += [f"image ignored: {url} ({why})" for url, why in ignored]
        if not images:
            return text
        return [{"type": "text", "text": text},
                *({"type": "image_url", "image_url": {"url": image.data_url}} for image in images)]

    def _turn(self, text: str) -> str | None:
        """Apply one reply; the message for the next turn, or None when the change is done."""
        parsed = parse_reply(text)
        if parsed.summary.strip():
            self.summaries.append(parsed.summary.strip())
        if not parsed.has_edits:
            raise TaskFailed(self._no_edits(text))
        self._remember_originals(parsed)
        applied = apply_reply(self.root, parsed)
        self.touched.update(applied.changed_files)
        if not applied.ok:
            self.problem = _apply_problem(applied)
            return applied.feedback()
        if self.command:
            result = self.planner.verify(self.command, self.root)
            self.verification = "passed" if result.ok else "failed"
            if not result.ok:
                self.problem = _verify_problem(self.command, result)
                output = result.output_tail or "(no output)"
                return prompts.VERIFY_FAILED.format(command=self.command, outcome=_outcome(result),
                                                    output=output, fence=fence_for(output))
        return None

    def _no_edits(self, text: str) -> str:
        said = _clip(text.strip(), _QUOTE_CHARS)
        quote = " It said:\n\n> " + said.replace("\n", "\n> ") if said else " Its reply was empty."
        if not self.touched:
            return "The model made no changes." + quote
        return ("The model stopped without finishing; nothing was pushed." + quote
                + f"\n\nThe open problem was {self.problem}")

    def _remember_originals(self, parsed: ParsedReply) -> None:
        """Each file's content before its first edit, so the result lists only files that differ."""
        for rel in [block.path for block in parsed.blocks] + _diff_paths(parsed.diffs):
            try:
                key = normalize_rel(rel)
            except PathRefused:
                continue  # apply_reply refuses it and tells the model
            if key not in self.originals:
                self.originals[key] = _read(self.root / key)

    def _result(self, turns: int) -> ChangeResult:
        changed = tuple(sorted(k for k in self.touched
                               if k not in self.originals or _read(self.root / k) != self.originals[k]))
        if not changed:
            raise TaskFailed("The model's edits left every file as it was, so there is nothing to propose.")
        summary = _clip("\n\n".join(dict.fromkeys(self.summaries)), _SUMMARY_CHARS) or self.task.title
        return ChangeResult(summary, changed, self.usage, self.model_name, turns, self.verification,
                            notes=tuple(self.notes))


def _diff_paths(diffs: tuple[str, ...]) -> list[str]:
    from runner.agent.edit_diff import parse_diff

    paths: list[str] = []
    for diff in diffs:
        try:
            patches = parse_diff(diff)
        except Exception:  # a diff that does not parse is reported to the model by apply_reply
            continue
        paths += [p for patch in patches for p in (patch.old_path, patch.new_path) if p]
    return paths


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() and not path.is_symlink() else None


def _apply_problem(result: ApplyResult) -> str:
    total = len(result.applied) + len(result.failed)
    parts = []
    if result.failed:
        files = ", ".join(dict.fromkeys(f.block.path for f in result.failed))
        first = result.failed[0].reason.strip().splitlines()[0] if result.failed[0].reason.strip() else ""
        parts.append(f"{len(result.failed)} of {total} edit blocks did not apply ({files}): {first}")
    if result.problems:
        parts.append(result.problems[0].strip().splitlines()[0].lstrip("# "))
    return _clip("; ".join(parts), 500)


def _outcome(result: VerifyResult) -> str:
    return "timed out" if result.timed_out else f"exited with {result.exit_code}"


def _verify_problem(command: str, result: VerifyResult) -> str:
    tail = "\n".join(result.output_tail.splitlines()[-_PROBLEM_LINES:]) or "(no output)"
    fence = fence_for(tail)
    return f"verification failed: `{command}` {_outcome(result)}:\n\n{fence}\n{tail}\n{fence}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."
