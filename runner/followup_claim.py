"""The runner's reply to a `/agent` comment doubles as the round's claim. Pure.

It is posted when the round starts ("working on it") and edited with the outcome. Two hidden lines
open it::

    <!-- agent-runner:followup 1234 -->
    <!-- agent-runner:round {"runner_id": "a", "claimed_at": 1714560000.0, "state": "working", "round": 2} -->

The first says which comment it answers (a rerun looks for it before replying, so each comment gets
one reply); the second says who works on the round since when, and how it ended. Only replies by the
runner's own account count: anyone can type a marker into a comment.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from runner.ports import Comment
from runner.status_format import comment_json

REPLY_MARKER = "<!-- agent-runner:followup"
CLAIM_PREFIX = "<!-- agent-runner:round"
_REPLY_RE = re.compile(r"<!-- agent-runner:followup (\d+) -->")
_CLAIM_RE = re.compile(r"<!-- agent-runner:round (\{[^\n]*?\}) -->")


@dataclass(frozen=True)
class RoundClaim:
    comment_id: int  # the `/agent` comment answered
    runner_id: str
    claimed_at: float  # epoch seconds
    state: str  # working, done, failed
    round: int


def reply_marker(comment_id: int) -> str:
    return f"{REPLY_MARKER} {comment_id} -->"


def render_markers(claim: RoundClaim) -> str:
    """The two hidden lines that open a reply, each ending in a newline."""
    data = {"runner_id": claim.runner_id, "claimed_at": claim.claimed_at, "state": claim.state, "round": claim.round}
    return f"{reply_marker(claim.comment_id)}\n{CLAIM_PREFIX} {comment_json(data)} -->\n"


def parse_claim(body: str) -> RoundClaim | None:
    """The claim in a reply's body, or None when it has none or it is damaged."""
    reply, claim = _REPLY_RE.search(body or ""), _CLAIM_RE.search(body or "")
    if reply is None or claim is None:
        return None
    try:
        data = json.loads(claim.group(1))
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    runner_id, state, when, number = (data.get(k) for k in ("runner_id", "state", "claimed_at", "round"))
    if not (isinstance(runner_id, str) and isinstance(state, str) and isinstance(number, int)):
        return None
    if isinstance(when, bool) or not isinstance(when, (int, float)) or not math.isfinite(float(when)):
        return None
    return RoundClaim(int(reply.group(1)), runner_id, float(when), state, number)


def find_claims(own_comments: list[Comment]) -> dict[int, tuple[int, RoundClaim]]:
    """``{answered comment id: (reply id, claim)}`` from the runner's own comments on a PR; the oldest
    reply wins if a comment was somehow answered twice."""
    found: dict[int, tuple[int, RoundClaim]] = {}
    for comment in sorted(own_comments, key=lambda c: c.id):
        claim = parse_claim(comment.body)
        if claim is not None:
            found.setdefault(claim.comment_id, (comment.id, claim))
    return found
