"""Priorities: with one worker, an issue carrying the priority label is claimed before older ones;
the rest are claimed oldest first. The order is read from the claim-label POSTs the runner sent."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import DISPATCH

PLAIN = """Make the greeting friendlier.

app.py
```python
<<<<<<< SEARCH
    return "hello " + name
=======
    return "Hello, " + name + "!"
>>>>>>> REPLACE
```
"""


def claim_order(world) -> list[int]:
    """Issue numbers in the order their claim label (`agent-processing`) was added."""
    claims = []
    for r in world.gh.requests:
        found = re.fullmatch(rf"/repos/{DISPATCH}/issues/(\d+)/labels", r.path)
        if r.method == "POST" and found and "agent-processing" in str(r.body):
            claims.append(int(found.group(1)))
    return claims


@pytest.mark.parametrize("env,label", [
    ({}, "priority:high"),
    ({"AGENT_PRIORITY_LABEL": "urgent"}, "urgent"),
], ids=["default-label", "configured-label"])
def test_priorities_labelled_issue_is_claimed_first_then_oldest_first(world, env, label):
    older = [world.file_issue(PLAIN, title=f"Task {n}") for n in range(3)]
    urgent = world.gh.create_issue(DISPATCH, title="Hot fix", body=PLAIN, author="alice",
                                   labels=["copilot-agent", label])["number"]

    result = world.cli("run", "--once", AGENT_WORKERS="1", **env)

    assert result.returncode == 0, result.stderr
    assert claim_order(world) == [urgent, *older]
    assert len(world.prs()) == 4

