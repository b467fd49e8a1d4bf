"""An in-memory ``runner.ports.Model`` that answers from a script and records what it was sent."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from runner.ports import ModelReply, Usage

# A reply text, a full ModelReply, an exception to raise, or a function of the messages.
ScriptedReply = str | ModelReply | BaseException | Callable[[list[dict[str, Any]]], str | ModelReply]

DEFAULT_USAGE = Usage(tokens_in=1200, tokens_out=150, cost_usd=0.0021, calls=1)


class FakeModel:
    """Answers each ``complete`` call with the next scripted reply.

    ``calls`` holds a copy of every message list received. Running out of replies raises
    AssertionError, so a test that makes more calls than it planned fails loudly."""

    def __init__(self, replies: Iterable[ScriptedReply], *, model: str = "openai/fake-model",
                 usage: Usage = DEFAULT_USAGE):
        self.replies = list(replies)
        self.model = model
        self.usage = usage
        self.calls: list[list[dict[str, Any]]] = []

    def complete(self, messages: list[dict[str, Any]]) -> ModelReply:
        self.calls.append(copy.deepcopy(messages))
        if not self.replies:
            raise AssertionError(f"FakeModel: no scripted reply left for call #{len(self.calls)}")
        item = self.replies.pop(0)
        if isinstance(item, BaseException):
            raise item
        if callable(item):
            item = item(messages)
        if isinstance(item, ModelReply):
            return item
        return ModelReply(text=item, model=self.model, usage=self.usage)

    def factory(self) -> Callable[[], FakeModel]:
        """A ``model_factory`` for the Planner that hands out this instance."""
        return lambda: self
