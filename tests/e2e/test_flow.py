"""A dispatch issue in, one correlated PR out: the real CLI, `run --once`, no model configured."""

from __future__ import annotations

import json
import re

import pytest

from tests.e2e.conftest import DISPATCH, TARGET, TOKEN

DIFF = """```diff
--- a/app.py
+++ b/app.py
@@ -1,2 +1,2 @@
 def greet(name):
-    return "hello " + name
+    return "Hello, " + name + "!"
```"""

SEARCH_REPLACE = """app.py
```python
<<<<<<< SEARCH
    return "hello " + name
=======
    return "Hello, " + name + "!"
>>>>>>> REPLACE
```"""

BACKEND = f"""# Agent Task Delegation

**Task ID:** `550e8400-e29b-41d4-a716-446655440000`
**User ID:** `user-123`

**Target:** repository `{TARGET}`

## Instructions

Make the greeting friendlier.

{DIFF}

---

<!-- agent_task_metadata
{{"task_id": "550e8400-e29b-41d4-a716-446655440000", "user_id": "user-123", "provider": "github_issue_dispatch", "tenant": "blue"}}
-->
"""

TASK_DETAILS = f"""## Task Details

- **Task ID**: task-details-7
- **User ID**: user-9
- **Target Repository**: {TARGET}
- **Instruction**: Make the greeting friendlier.

{SEARCH_REPLACE}

<!-- agent_task_metadata {{"task_id": "task-details-7", "user_id": "user-9", "provider": "github_issue_dispatch"}} -->
"""

SECTIONS = f"""Target Repository: {TARGET}
task_id: sections-42
user_id: user-5

## Instruction

Make the greeting friendlier.

{DIFF}
"""

PLAIN = f"""Make the greeting friendlier.

{SEARCH_REPLACE}
"""


@pytest.mark.parametrize("body,task_id,user_id", [
    (BACKEND, "550e8400-e29b-41d4-a716-446655440000", "user-123"),
    (TASK_DETAILS, "task-details-7", "user-9"),
    (SECTIONS, "sections-42", "user-5"),
    (PLAIN, None, None),
], ids=["backend", "task-details", "sections", "plain"])
def test_flow_diff_task_ends_in_one_correlated_pr(world, body, task_id, user_id):
    number = world.file_issue(body)
    task_id = task_id or f"acme-tasks-{number}"
    result = world.cli("run", "--once")
    assert result.returncode == 0, result.stderr

    prs = world.prs()
    assert len(prs) == 1
    pr = prs[0]
    branch = f"agent-task-{task_id}"
    assert pr["head"]["ref"] == branch and pr["base"]["ref"] == "main"
    assert world.git.read_file(TARGET, branch, "app.py").count('"Hello, " + name + "!"') == 1
    assert world.git.read_file(TARGET, "main", "app.py").count('"hello " + name') == 1

    assert f"Fixes {DISPATCH}#{number}" in pr["body"]
    meta = json.loads(re.search(r"<!-- agent_task_metadata (.*?) -->", pr["body"]).group(1))
    assert meta["task_id"] == task_id
    if user_id:
        assert meta["user_id"] == user_id
    if body is BACKEND:
        assert meta["tenant"] == "blue"  # unknown keys are echoed back

    comments = world.runner_comments(number)
    assert len(comments) == 1
    assert pr["html_url"] in comments[0]["body"]
    labels = world.gh.labels_of(DISPATCH, number)
    assert "agent-done" in labels and "agent-processing" not in labels and "copilot-agent" in labels
    assert TOKEN not in result.stderr + result.stdout


def test_flow_second_run_changes_nothing(world):
    number = world.file_issue(BACKEND)
    assert world.cli("run", "--once").returncode == 0
    writes = len(world.api_writes())
    again = world.cli("run", "--once")
    assert again.returncode == 0
    assert len(world.api_writes()) == writes
    assert len(world.prs()) == 1 and len(world.runner_comments(number)) == 1


def test_flow_read_only_labeler_is_refused_before_any_clone(world):
    number = world.file_issue(PLAIN, author="reader")
    result = world.cli("run", "--once")
    assert result.returncode == 1
    assert world.git.requests == []
    assert world.prs() == []
    [comment] = world.runner_comments(number)
    assert "@reader" in comment["body"] and "`read`" in comment["body"]
    assert "agent-failed" in world.gh.labels_of(DISPATCH, number)


def test_flow_disallowed_target_is_refused_before_any_clone(world):
    body = BACKEND.replace(f"repository `{TARGET}`", "repository `evil/elsewhere`")
    number = world.file_issue(body)
    result = world.cli("run", "--once")
    assert result.returncode == 1
    assert world.git.requests == []
    [comment] = world.runner_comments(number)
    assert "evil/elsewhere" in comment["body"] and "not allowed" in comment["body"]
    assert "agent-failed" in world.gh.labels_of(DISPATCH, number)


def test_flow_prose_task_without_a_model_fails_clearly(world):
    number = world.file_issue("Please make the greeting friendlier.")
    result = world.cli("run", "--once")
    assert result.returncode == 1
    [comment] = world.runner_comments(number)
    assert "AGENT_MODEL" in comment["body"]
    assert world.prs() == [] and world.git.branch_sha(TARGET, f"agent-task-acme-tasks-{number}") is None
    assert "agent-failed" in world.gh.labels_of(DISPATCH, number)


def test_flow_patch_that_does_not_apply_pushes_nothing(world):
    number = world.file_issue(PLAIN.replace('return "hello " + name', 'return "bonjour " + name', 1))
    result = world.cli("run", "--once")
    assert result.returncode == 1
    [comment] = world.runner_comments(number)
    assert "app.py" in comment["body"]
    assert world.git.branch_sha(TARGET, f"agent-task-acme-tasks-{number}") is None
    assert world.prs() == []


def test_flow_no_eligible_issue_exits_zero(world):
    world.gh.create_issue(DISPATCH, title="unrelated", body="x", author="alice", labels=[])
    result = world.cli("run", "--once")
    assert result.returncode == 0, result.stderr
    assert world.api_writes() == []
