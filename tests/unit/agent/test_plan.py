"""The turn loop against an in-memory model, in plain temporary directories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from runner.agent.plan import Planner
from runner.agent.verify import VerifyResult
from runner.config import Settings
from runner.errors import TaskFailed
from runner.ports import Checkout, Task, Usage
from tests.fakes.fake_model import DEFAULT_USAGE, FakeModel

APP = 'def greet(name):\n    return "hello"\n'
GOOD = """I made the greeting include the name.

app.py
```python
<<<<<<< SEARCH
def greet(name):
    return "hello"
=======
def greet(name):
    return f"hello, {name}"
>>>>>>> REPLACE
```
"""
WRONG_SEARCH = """Changed the greeting.

app.py
```python
<<<<<<< SEARCH
def greet(name):
    return 'hello'
=======
def greet(name):
    return f"hello, {name}"
>>>>>>> REPLACE
```
"""
DIFF_TASK = """Please apply this patch; it makes the greeting include the name.

```diff
--- a/app.py
+++ b/app.py
@@ -1,2 +1,2 @@
 def greet(name):
-    return "hello"
+    return f"hello, {name}"
```
"""
PASSED = VerifyResult(True, 0, "1 passed in 0.01s", False, 0.2)
FAILED = VerifyResult(False, 1, "E   AssertionError: assert 'hello, Ada' == 'Hello, Ada!'\n1 failed in 0.02s",
                      False, 0.3)


class Verifier:
    def __init__(self, *results: VerifyResult):
        self.results = list(results)
        self.calls: list[tuple[str, Path, float]] = []

    def __call__(self, command: str, cwd: Path, timeout: float) -> VerifyResult:
        self.calls.append((command, cwd, timeout))
        return self.results.pop(0)


def make_task(instruction: str = "Make greet() include the name in its greeting.", **extra: object) -> Task:
    return Task(task_id="550e8400-e29b-41d4-a716-446655440000", dispatch_repo="acme/agent-tasks", issue_number=7,
                target_repo="acme/widgets", instruction=instruction, title="Greet people by name", author="octocat",
                **extra)  # type: ignore[arg-type]


def repo(tmp_path: Path) -> Checkout:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "util.py").write_text("def shout(text):\n    return text.upper()\n")
    return Checkout(tmp_path, "main", "0123456789abcdef0123456789abcdef01234567")


def context(root: Path, query: str, budget: int) -> tuple[str, str | None]:
    return f"app.py\n```python\n{(root / 'app.py').read_text()}```", None


def planner(model: FakeModel | None, verifier: Verifier | None = None, **settings: object) -> Planner:
    config = Settings(github_token="test-token", dispatch_repo="acme/agent-tasks", **settings)  # type: ignore[arg-type]
    return Planner(config, model.factory() if model else None, context_builder=context, verifier=verifier)


def test_planner_one_turn_success(tmp_path: Path) -> None:
    checkout = repo(tmp_path)
    model = FakeModel([GOOD])
    turns: list[tuple[int, Usage]] = []

    result = planner(model)(make_task(), checkout, on_turn=lambda turn, usage: turns.append((turn, usage)))

    assert (tmp_path / "app.py").read_text() == 'def greet(name):\n    return f"hello, {name}"\n'
    assert result.changed_files == ("app.py",)
    assert result.summary == "I made the greeting include the name."
    assert (result.turns, result.model, result.verification) == (1, "openai/fake-model", "not configured")
    assert result.usage == DEFAULT_USAGE
    assert turns == [(1, DEFAULT_USAGE)]


def test_planner_first_request_carries_task_context_and_format(tmp_path: Path) -> None:
    model = FakeModel([GOOD])
    task = make_task(related_item="acme/widgets#12")

    planner(model)(task, repo(tmp_path))

    system, user = model.calls[0]
    assert system["role"] == "system" and "<<<<<<< SEARCH" in system["content"]
    assert ".github/workflows/" in system["content"]
    assert user["content"].startswith("# Task: Greet people by name\n\nMake greet() include the name")
    assert "acme/widgets#12" in user["content"]
    assert 'return "hello"' in user["content"]  # the file's code went along


def test_planner_appends_repo_instructions_to_system_prompt(tmp_path: Path) -> None:
    model = FakeModel([GOOD])
    p = planner(model)
    p.context_builder = lambda root, query, budget: ("(code)", "Use type hints everywhere.\nRun `make lint`.")

    p(make_task(), repo(tmp_path))

    assert model.calls[0][0]["content"].endswith("Use type hints everywhere.\nRun `make lint`.\n")


def test_planner_block_that_does_not_apply_goes_back_to_model(tmp_path: Path) -> None:
    model = FakeModel([WRONG_SEARCH, GOOD])
    turns: list[int] = []

    result = planner(model)(make_task(), repo(tmp_path), on_turn=lambda turn, usage: turns.append(turn))

    feedback = model.calls[1][-1]
    assert feedback["role"] == "user"
    assert "The SEARCH text was not found in app.py" in feedback["content"]
    assert model.calls[1][-2] == {"role": "assistant", "content": WRONG_SEARCH}
    assert (result.turns, result.changed_files, turns) == (2, ("app.py",), [1, 2])
    assert result.usage == DEFAULT_USAGE + DEFAULT_USAGE


def test_planner_failing_verification_goes_back_to_model(tmp_path: Path) -> None:
    fix = GOOD.replace('f"hello, {name}"', 'f"Hello, {name}!"').replace(
        'def greet(name):\n    return "hello"', 'def greet(name):\n    return f"hello, {name}"')
    model = FakeModel([GOOD, fix])
    verifier = Verifier(FAILED, PASSED)

    result = planner(model, verifier, verify_command="pytest -q", verify_timeout=120)(make_task(), repo(tmp_path))

    feedback = model.calls[1][-1]["content"]
    assert "verification failed: `pytest -q` exited with 1" in feedback
    assert "assert 'hello, Ada' == 'Hello, Ada!'" in feedback
    assert verifier.calls == [("pytest -q", tmp_path, 120)] * 2
    assert result.verification == "passed"
    assert 'return f"Hello, {name}!"' in (tmp_path / "app.py").read_text()


@pytest.mark.parametrize("text", [
    "I could not find a greet() function that takes a name; nothing to change.",
    "Sure! Here is the updated function:\n\n```python\ndef greet(name):\n    return f'hello, {name}'\n```",
])
def test_planner_reply_without_edits_fails_with_models_text(tmp_path: Path, text: str) -> None:
    model = FakeModel([text])
    turns: list[int] = []

    with pytest.raises(TaskFailed, match=r"^The model made no changes\. It said:") as failed:
        planner(model)(make_task(), repo(tmp_path), on_turn=lambda turn, usage: turns.append(turn))

    assert text.splitlines()[0] in str(failed.value)
    assert turns == [1]  # the spend of that turn still reaches the status comment
    assert (tmp_path / "app.py").read_text() == APP


def test_planner_empty_reply_fails(tmp_path: Path) -> None:
    with pytest.raises(TaskFailed, match="Its reply was empty"):
        planner(FakeModel([""]))(make_task(), repo(tmp_path))


def test_planner_unreadable_block_is_sent_back_then_fixed(tmp_path: Path) -> None:
    truncated = "app.py\n```python\n<<<<<<< SEARCH\ndef greet(name):\n    return \"hello\"\n=======\n"
    model = FakeModel([truncated, GOOD])

    result = planner(model)(make_task(), repo(tmp_path))

    assert result.turns == 2
    assert len(model.calls) == 2


def test_planner_gives_up_after_max_turns_naming_last_problem(tmp_path: Path) -> None:
    model = FakeModel([WRONG_SEARCH, WRONG_SEARCH])

    with pytest.raises(TaskFailed, match="did not reach a working change in 2 turns") as failed:
        planner(model, max_turns=2)(make_task(), repo(tmp_path))

    assert "1 of 1 edit blocks did not apply (app.py)" in str(failed.value)
    assert (tmp_path / "app.py").read_text() == APP


def test_planner_gives_up_with_verification_output(tmp_path: Path) -> None:
    model = FakeModel([GOOD])

    with pytest.raises(TaskFailed) as failed:
        planner(model, Verifier(FAILED), verify_command="pytest -q", max_turns=1)(make_task(), repo(tmp_path))

    assert "verification failed: `pytest -q` exited with 1" in str(failed.value)
    assert "1 failed in 0.02s" in str(failed.value)


def test_planner_edits_that_change_nothing_fail(tmp_path: Path) -> None:
    same = GOOD.replace('return f"hello, {name}"', 'return "hello"')

    with pytest.raises(TaskFailed, match="left every file as it was"):
        planner(FakeModel([same]))(make_task(), repo(tmp_path))


def test_planner_lists_only_files_that_still_differ(tmp_path: Path) -> None:
    both = GOOD + ("\nutil.py\n```python\n<<<<<<< SEARCH\n    return text.lower()\n=======\n    return text\n"
                   ">>>>>>> REPLACE\n```\n")
    revert = ("Reverted app.py; fixed util.py.\n\napp.py\n```python\n<<<<<<< SEARCH\n    return f\"hello, {name}\"\n"
              "=======\n    return \"hello\"\n>>>>>>> REPLACE\n```\n\nutil.py\n```python\n<<<<<<< SEARCH\n"
              "    return text.upper()\n=======\n    return text.upper() + \"!\"\n>>>>>>> REPLACE\n```\n")

    result = planner(FakeModel([both, revert]))(make_task(), repo(tmp_path))

    assert result.changed_files == ("util.py",)
    assert result.summary == "I made the greeting include the name.\n\nReverted app.py; fixed util.py."


def test_planner_refuses_workflow_edits_and_tells_the_model(tmp_path: Path) -> None:
    sneaky = ("Added CI.\n\n.github/workflows/ci.yml\n```yaml\n<<<<<<< SEARCH\n=======\non: push\n"
              ">>>>>>> REPLACE\n```\n")
    model = FakeModel([sneaky, GOOD])

    result = planner(model)(make_task(), repo(tmp_path))

    assert ".github/workflows/" in model.calls[1][-1]["content"]
    assert not (tmp_path / ".github").exists()
    assert result.changed_files == ("app.py",)


def test_planner_prose_task_without_model_fails(tmp_path: Path) -> None:
    with pytest.raises(TaskFailed, match="needs a model, but none is configured: set AGENT_MODEL"):
        planner(None)(make_task(), repo(tmp_path))

    assert (tmp_path / "app.py").read_text() == APP


def test_planner_applies_given_diff_without_model(tmp_path: Path) -> None:
    result = planner(None)(make_task(DIFF_TASK), repo(tmp_path))

    assert (tmp_path / "app.py").read_text() == 'def greet(name):\n    return f"hello, {name}"\n'
    assert result.changed_files == ("app.py",)
    assert result.summary == "Please apply this patch; it makes the greeting include the name."
    assert (result.model, result.turns, result.usage, result.verification) == (None, 0, Usage(), "not configured")


def test_planner_given_diff_never_calls_a_configured_model(tmp_path: Path) -> None:
    model = FakeModel([])

    result = planner(model, Verifier(PASSED), verify_command="pytest -q")(make_task(DIFF_TASK), repo(tmp_path))

    assert model.calls == []
    assert result.verification == "passed"


def test_planner_given_diff_failing_verification_fails(tmp_path: Path) -> None:
    with pytest.raises(TaskFailed, match="given in the issue was applied, but verification failed") as failed:
        planner(None, Verifier(FAILED), verify_command="pytest -q")(make_task(DIFF_TASK), repo(tmp_path))

    assert "1 failed in 0.02s" in str(failed.value)


def test_planner_uses_repo_verify_command_with_real_run(tmp_path: Path) -> None:
    checkout = repo(tmp_path)
    (tmp_path / ".agent-runner.toml").write_text('[verify]\ncommand = "grep -q \'hello, {name}\' app.py"\n')

    result = Planner(Settings(github_token="test-token", dispatch_repo="acme/agent-tasks"), FakeModel([GOOD]).factory(),
                     context_builder=context)(make_task(), checkout)

    assert result.verification == "passed"


def test_planner_default_context_sends_repo_code_and_agents_md(tmp_path: Path) -> None:
    checkout = repo(tmp_path)
    (tmp_path / "AGENTS.md").write_text("Always add type hints.\n")
    for argv in (["git", "init", "-q"], ["git", "add", "-A"]):  # context reads the files git tracks
        subprocess.run(argv, cwd=tmp_path, check=True, capture_output=True, timeout=30)
    model = FakeModel([GOOD])

    Planner(Settings(github_token="test-token", dispatch_repo="acme/agent-tasks"), model.factory())(make_task(), checkout)

    system, user = model.calls[0]
    assert "Always add type hints." in system["content"]
    assert 'return "hello"' in user["content"]
