"""Prose tasks through the real CLI and LiteLLM's real HTTP path, against a scripted model server."""

from __future__ import annotations

import contextlib
import json

import pytest

from runner.sandbox.model_server import ScriptedModelServer, delay, error, reply
from tests.e2e.conftest import DISPATCH, TARGET

RENAME = "Rename the function greet to welcome and update its callers."
BRANCH = "agent-task-acme-tasks-1"
RUN_MAIN = "python3 -c 'import app; app.main()'"
VERIFY = ("python3 -c \"import app; assert app.welcome('x') == 'hello x'; "
          "assert not hasattr(app, 'greet')\"")

GOOD = """I renamed `greet` to `welcome` and updated its caller in `main`.

app.py
```python
<<<<<<< SEARCH
def greet(name):
=======
def welcome(name):
>>>>>>> REPLACE
```

app.py
```python
<<<<<<< SEARCH
    print(greet("world"))
=======
    print(welcome("world"))
>>>>>>> REPLACE
```
"""

HALF = """Renamed the function.

app.py
```python
<<<<<<< SEARCH
def greet(name):
=======
def welcome(name):
>>>>>>> REPLACE
```
"""

WRONG_SEARCH = """Renamed it.

app.py
```python
<<<<<<< SEARCH
def greet(person):
=======
def welcome(person):
>>>>>>> REPLACE
```
"""

FIX_CALLER = """Also updated the caller.

app.py
```python
<<<<<<< SEARCH
    print(greet("world"))
=======
    print(welcome("world"))
>>>>>>> REPLACE
```
"""


@contextlib.contextmanager
def model(world, script, name="openai/gpt-4o-mini", **extra):
    with ScriptedModelServer(script) as server:
        world.env.update({"AGENT_MODEL": name, "AGENT_LLM_API_BASE": server.url, "OPENAI_API_KEY": "e2e-openai-key",
                          "AGENT_MODEL_TIMEOUT": "5", **extra})
        yield server


def status_of(world, number=1):
    [comment] = world.runner_comments(number)
    return comment["body"]


def assert_failed_cleanly(world, number=1):
    assert "agent-failed" in world.gh.labels_of(DISPATCH, number)
    assert "agent-processing" not in world.gh.labels_of(DISPATCH, number)
    assert world.git.branch_sha(TARGET, BRANCH) is None
    assert world.prs() == []


def test_model_flow_one_turn_rename_ends_in_a_verified_pr(world):
    world.file_issue(RENAME, title="Rename greet")
    with model(world, [reply(GOOD, usage=(1200, 150))], AGENT_VERIFY_COMMAND=VERIFY) as server:
        result = world.cli("run", "--once")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(server.requests) == 1  # a simple task takes one model call
    prompt = json.dumps(server.requests[0]["messages"])
    assert "def greet(name)" in prompt and RENAME in prompt  # the task and the code to change

    code = world.git.read_file(TARGET, BRANCH, "app.py")
    assert "def welcome(name)" in code and 'print(welcome("world"))' in code and "greet" not in code
    [pr] = world.prs()
    assert "renamed `greet` to `welcome`" in pr["body"]
    body = status_of(world)
    assert pr["html_url"] in body
    assert "gpt-4o-mini" in body and "1,200" in body.replace("1200", "1,200") and "150" in body
    assert "$" in body and "unknown" not in body.lower().split("cost")[1][:40]
    assert "passed" in body.lower()


def test_model_flow_unpriced_model_says_cost_unknown(world):
    world.file_issue(RENAME)
    with model(world, [reply(GOOD)], name="openai/house-model-7b"):
        assert world.cli("run", "--once").returncode == 0
    assert "unknown" in status_of(world).lower()


def test_model_flow_block_that_does_not_apply_is_corrected_on_the_next_turn(world):
    world.file_issue(RENAME)
    with model(world, [reply(WRONG_SEARCH), reply(GOOD)]) as server:
        assert world.cli("run", "--once").returncode == 0
    feedback = server.requests[1]["messages"][-1]["content"]
    assert "app.py" in feedback and "def greet(name):" in feedback  # "did you mean" shows the real line
    assert "def welcome(name)" in world.git.read_file(TARGET, BRANCH, "app.py")


def test_model_flow_failing_verification_goes_back_to_the_model(world):
    world.file_issue(RENAME)
    with model(world, [reply(HALF), reply(FIX_CALLER)], AGENT_VERIFY_COMMAND=RUN_MAIN) as server:
        assert world.cli("run", "--once").returncode == 0
    assert len(server.requests) == 2
    assert "NameError" in server.requests[1]["messages"][-1]["content"]
    assert 'print(welcome("world"))' in world.git.read_file(TARGET, BRANCH, "app.py")


def test_model_flow_verification_still_failing_after_last_turn_fails_the_task(world):
    world.file_issue(RENAME)
    readme = "Documented it.\n\nREADME.md\n```\n<<<<<<< SEARCH\n# widgets\n=======\n# widgets (welcome)\n>>>>>>> REPLACE\n```\n"
    with model(world, [reply(HALF), reply(readme)], AGENT_VERIFY_COMMAND=RUN_MAIN, AGENT_MAX_TURNS="2"):
        assert world.cli("run", "--once").returncode == 1
    assert_failed_cleanly(world)
    assert "NameError" in status_of(world)


def test_model_flow_reply_without_edits_fails_with_the_models_explanation(world):
    world.file_issue(RENAME)
    with model(world, [reply("I cannot do that: the repository has no function named greet.")]):
        assert world.cli("run", "--once").returncode == 1
    assert_failed_cleanly(world)
    assert "no function named greet" in status_of(world)


def test_model_flow_garbage_replies_fail_cleanly(world):
    world.file_issue(RENAME)
    garbage = "app.py\n```\n<<<<<<< SEARCH\ndef greet(name):\n" + "\x00\ufffd" * 50
    with model(world, [reply(garbage), reply(garbage)], AGENT_MAX_TURNS="2"):
        assert world.cli("run", "--once").returncode == 1
    assert_failed_cleanly(world)


def test_model_flow_timeout_and_429_before_success(world):
    world.file_issue(RENAME)
    script = [delay(8, then=reply(GOOD)), error(429, headers={"retry-after": "1"}), reply(GOOD)]
    with model(world, script, AGENT_MODEL_TIMEOUT="2") as server:
        result = world.cli("run", "--once")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(server.requests) == 3
    assert len(world.prs()) == 1


def test_model_flow_budget_spent_fails_before_calling(world):
    world.file_issue(RENAME)
    with model(world, [reply(GOOD)], AGENT_MAX_COST_USD="0.000001") as server:
        assert world.cli("run", "--once").returncode == 1
    assert server.requests == []
    assert_failed_cleanly(world)
    assert "spend cap" in status_of(world).lower() or "budget" in status_of(world).lower()


def test_model_flow_falls_back_to_the_second_model(world):
    world.file_issue(RENAME)

    def script(body):
        return error(500) if body["model"] == "primary" else reply(GOOD)

    with model(world, script, name="openai/primary", AGENT_FALLBACK_MODELS="openai/secondary") as server:
        assert world.cli("run", "--once").returncode == 0
    models = [r["model"] for r in server.requests]
    assert models[0] == "primary" and models[-1] == "secondary"
    assert "secondary" in status_of(world)


@pytest.mark.parametrize("path", ["../outside.py", "/etc/passwd", ".git/hooks/pre-commit", ".github/workflows/x.yml"])
def test_model_flow_edits_outside_the_clone_are_refused(world, path):
    world.file_issue(RENAME)
    evil = f"Done.\n\n{path}\n```\n<<<<<<< SEARCH\n=======\nboom\n>>>>>>> REPLACE\n```\n"
    with model(world, [reply(evil), reply(evil)], AGENT_MAX_TURNS="2"):
        assert world.cli("run", "--once").returncode == 1
    assert_failed_cleanly(world)
    assert not (world.tmp / "outside.py").exists()


def test_model_flow_verify_leftovers_are_not_committed(world):
    world.file_issue(RENAME)
    with model(world, [reply(GOOD)], AGENT_VERIFY_COMMAND=VERIFY + " && echo junk > coverage.out"):
        assert world.cli("run", "--once").returncode == 0
    assert world.git.read_file(TARGET, BRANCH, "coverage.out") is None


def test_model_flow_related_issue_joins_the_context_but_its_diff_is_never_applied(world):
    related = world.gh.create_issue(TARGET, title="greet() is unfriendly", author="outsider",
                                    body="Users say greet is curt.<!-- hidden -->\n\n```diff\n--- a/README.md\n"
                                         "+++ b/README.md\n@@ -1 +1 @@\n-# widgets\n+# pwned\n```\n")
    body = f"**Task ID:** `rel-1`\n\n**Target:** issue `{TARGET}#{related['number']}`\n\n## Instructions\n\n{RENAME}\n"
    world.file_issue(body)
    with model(world, [reply(GOOD)]) as server:
        assert world.cli("run", "--once").returncode == 0
    prompt = json.dumps(server.requests[0]["messages"])
    assert "greet() is unfriendly" in prompt and "Users say greet is curt." in prompt
    assert "hidden" not in prompt
    branch = "agent-task-rel-1"
    assert world.git.read_file(TARGET, branch, "README.md") == "# widgets\n"
    [pr] = world.prs()
    assert f"{TARGET}#{related['number']}" in pr["body"]
