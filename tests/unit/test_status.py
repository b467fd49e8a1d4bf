from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from runner.ports import Task, Usage
from runner.status import (
    GITHUB_BODY_LIMIT,
    MARKER_PREFIX,
    Marker,
    StatusView,
    format_elapsed,
    parse_marker,
    pr_metadata,
    pr_title,
    render_commit_message,
    render_marker,
    render_pr_body,
    render_status,
    summary_from_commit_message,
)

TASK = Task(
    task_id="550e8400-e29b-41d4-a716-446655440000",
    dispatch_repo="acme/tasks",
    issue_number=7,
    target_repo="acme/widgets",
    instruction='Add a /healthz endpoint that returns {"ok": true}.',
    title="Add a health check endpoint",
    author="octocat",
    user_id="user-123",
    metadata={
        "task_id": "550e8400-e29b-41d4-a716-446655440000",
        "user_id": "user-123",
        "provider": "github_issue_dispatch",
        "priority": "high",
        "trace": {"span": 42, "tags": ["a", "b"]},
    },
)
SUMMARY = 'Added a `/healthz` route to `widgets/app.py` that returns `{"ok": true}`, with a test.'


def view(**kw):
    base = dict(
        task=TASK,
        state="working",
        runner_name="agent-runner",
        runner_id="runner-a",
        claimed_at=1_700_000_000.0,
        now=1_700_000_185.0,
    )
    return StatusView(**{**base, **kw})


def metadata_comment(body: str) -> str:
    lines = [ln for ln in body.split("\n") if ln.startswith("<!-- agent_task_metadata ")]
    assert len(lines) == 1
    return lines[0]


# -- marker --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "marker",
    [
        Marker(TASK.task_id, "runner-a", 1_700_000_000.5, "working"),
        Marker("a-->b <!-- c", "r\n--!>x", 0.0, "failed"),
        Marker("tâche-\u2028-💥", "", 1e12, "pr_opened"),
    ],
)
def test_marker_round_trips_through_parse_marker(marker):
    line = render_marker(marker)
    assert line.startswith(MARKER_PREFIX + " ") and line.endswith(" -->")
    assert "\n" not in line and line.count("-->") == 1
    assert parse_marker(f"some text\n{line}\nmore text") == marker


@pytest.mark.parametrize(
    "body",
    [
        "",
        "Working on it",
        f"{MARKER_PREFIX} -->",
        f'{MARKER_PREFIX} {{"task_id": "t", "runner_id": "r", "claimed_at": 1.0}} -->',
        f'{MARKER_PREFIX} {{"task_id": "t", "runner_id": "r", "claimed_at": "yesterday", "state": "working"}} -->',
        f'{MARKER_PREFIX} {{"task_id": "t", "runner_id": "r", "claimed_at": true, "state": "working"}} -->',
        f'{MARKER_PREFIX} {{"task_id": "t", "runner_id": "r", "claimed_at": NaN, "state": "working"}} -->',
        f'{MARKER_PREFIX} {{"task_id": 5, "runner_id": "r", "claimed_at": 1, "state": "working"}} -->',
        f'{MARKER_PREFIX} {{"task_id": "t", "runner_id": "r", "claimed_at": 1, "state": "wor',
        f"{MARKER_PREFIX} [1, 2] -->",
        f'{MARKER_PREFIX} {{"task_id": "t", "runner_id": "r", "claimed_at": {"9" * 400}, "state": "working"}} -->',
        f"{MARKER_PREFIX} " + "[" * 50_000 + " -->",
    ],
)
def test_parse_marker_damaged_or_missing_is_none(body):
    assert parse_marker(body) is None


def test_parse_marker_accepts_integer_claim_time():
    body = f'{MARKER_PREFIX} {{"task_id": "t", "runner_id": "r", "claimed_at": 1700000000, "state": "queued"}} -->'
    assert parse_marker(body) == Marker("t", "r", 1_700_000_000.0, "queued")


# -- status comment ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "headline"),
    [
        ({"state": "queued"}, "**agent-runner**: Queued"),
        ({"state": "working"}, "**agent-runner**: Working on it"),
        (
            {"state": "pr_opened", "pr_url": "https://github.com/acme/widgets/pull/3"},
            "**agent-runner**: Pull request opened: https://github.com/acme/widgets/pull/3",
        ),
        (
            {"state": "failed", "message": "The patch does not apply to app.py."},
            "**agent-runner**: Failed: The patch does not apply to app.py.",
        ),
        (
            {"state": "refused", "message": "octocat lacks write permission on acme/tasks."},
            "**agent-runner**: Refused: octocat lacks write permission on acme/tasks.",
        ),
        (
            {"state": "waiting", "message": "The daily budget of $20.00 is spent."},
            "**agent-runner**: Waiting: The daily budget of $20.00 is spent.",
        ),
    ],
)
def test_render_status_headline_per_state(kw, headline):
    body = render_status(view(**kw))
    first, second = body.split("\n\n")[:2]
    assert parse_marker(first) == Marker(TASK.task_id, "runner-a", 1_700_000_000.0, kw["state"])
    assert second == headline


def test_render_status_shows_the_numbers():
    body = render_status(
        view(
            model="openai/gpt-4.1",
            turns=2,
            usage=Usage(12_345, 678, 0.0123, 2),
            branch="agent-task-x",
            verification="passed",
            round=2,
        )
    )
    for line in [
        f"- Task: `{TASK.task_id}`",
        "- Target: `acme/widgets`",
        "- Branch: `agent-task-x`",
        "- Round: 2",
        "- Elapsed: 3 min 5 s",
        "- Model: `openai/gpt-4.1`",
        "- Turns: 2",
        "- Tokens: 12,345 in / 678 out",
        "- Cost: $0.0123",
        "- Verification: passed",
    ]:
        assert line in body.split("\n")


@pytest.mark.parametrize(
    ("kw", "line"),
    [
        ({"usage": Usage(10, 5, None, 1)}, "- Cost: unknown"),
        ({"usage": Usage(10, 5, 1.5, 1)}, "- Cost: $1.50"),
        ({"state": "pr_opened", "model": None}, "- Model: none (patch applied as given)"),
        ({"state": "working", "model": None}, "- Model: none"),
        ({"verification": None}, "- Verification: not run"),
    ],
)
def test_render_status_special_values(kw, line):
    assert line in render_status(view(**kw)).split("\n")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (42, "42 s"),
        (59.9, "59 s"),
        (60, "1 min"),
        (185, "3 min 5 s"),
        (3600, "1 h"),
        (3720, "1 h 2 min"),
        (90_000, "1 d 1 h"),
        (-5, "0 s"),
        (float("nan"), "unknown"),
    ],
)
def test_format_elapsed_reads_like_a_person_would_say_it(seconds, text):
    assert format_elapsed(seconds) == text


@pytest.mark.parametrize(
    ("kw", "todo"),
    [
        (
            {"state": "failed", "message": "x"},
            "**What you can do:** Fix the issue and remove the `agent-failed` label to try again.",
        ),
        (
            {"state": "failed", "message": "x", "failed_label": "bot:failed"},
            "**What you can do:** Fix the issue and remove the `bot:failed` label to try again.",
        ),
    ],
)
def test_render_status_says_what_to_do_after_failure(kw, todo):
    assert render_status(view(**kw)).endswith(todo)


def test_render_status_refusal_explains_and_names_the_label():
    body = render_status(view(state="refused", message="The target acme/secret is not allowed."))
    todo = body.split("**What you can do:** ")[1]
    assert "not retried by itself" in todo and "`agent-failed`" in todo


def test_render_status_lists_warnings_without_letting_them_hide_text():
    body = render_status(
        view(warnings=("metadata JSON ignored: Expecting ',' delimiter at line 1 column 23", "task id <!-- x"))
    )
    assert "- metadata JSON ignored: Expecting ',' delimiter at line 1 column 23" in body
    assert "- task id &lt;!-- x" in body
    assert body.count("<!--") == 1  # the marker only


def test_render_status_long_output_goes_in_a_fence_that_cannot_be_closed_early():
    message = (
        "Verification failed: pytest -q exited with 1.\n```\n" + "E   assert 1 == 2\n" * 10 + "<!-- not hidden -->"
    )
    body = render_status(view(state="failed", message=message))
    assert "Failed: Verification failed: pytest -q exited with 1." in body
    assert "\n````text\n" in body and "<!-- not hidden -->\n````\n" in body


def test_render_status_huge_task_id_keeps_the_marker_whole():
    body = render_status(view(task=replace(TASK, task_id="t" * 1_000_000)))
    assert len(body) < GITHUB_BODY_LIMIT
    assert parse_marker(body).runner_id == "runner-a"


def test_render_status_stays_under_githubs_limit():
    body = render_status(
        view(
            state="failed",
            message="x" * 2_000_000,
            warnings=tuple(f"warning {i} " + "y" * 5000 for i in range(1000)),
            branch="b" * 100_000,
        )
    )
    assert len(body) < GITHUB_BODY_LIMIT
    assert "[... " in body and "- ... and 980 more" in body
    assert parse_marker(body) is not None


# -- pull request body ---------------------------------------------------------------------------------


def test_render_pr_body_carries_summary_files_metadata_and_fixes():
    task = replace(TASK, related_item="acme/widgets#12")
    body = render_pr_body(
        task,
        summary=SUMMARY,
        changed_files=["widgets/app.py", "tests/test_app.py"],
        runner_name="agent-runner",
        model="openai/gpt-4.1",
        usage=Usage(1000, 200, 0.0045, 1),
        verification="passed",
    )
    assert body.startswith(SUMMARY + "\n\n**Changed files** (2)\n- `widgets/app.py`\n- `tests/test_app.py`\n")
    assert "\nRelated: acme/widgets#12\n" in body
    assert "model `openai/gpt-4.1` · tokens 1,000 in / 200 out · cost $0.0045 · verification: passed" in body
    assert body.rstrip("\n").split("\n")[-1] == "Fixes acme/tasks#7"
    assert pr_metadata(body) == {**TASK.metadata, "dispatch_issue": "acme/tasks#7"}


def test_render_pr_body_metadata_comment_is_one_line_that_json_parses_back():
    body = render_pr_body(TASK, summary=SUMMARY, changed_files=["a.py"], runner_name="agent-runner")
    line = metadata_comment(body)
    assert line.endswith(" -->")
    data = json.loads(line.removeprefix("<!-- agent_task_metadata ").removesuffix(" -->"))
    assert data == {**TASK.metadata, "dispatch_issue": "acme/tasks#7"}
    assert next(iter(data)) == "task_id"


@pytest.mark.parametrize("hostile", ["--> Fixes acme/tasks#1 <!--", "--!>", "a-->b", "<script>", "-- >", "\u2028"])
def test_render_pr_body_hostile_metadata_cannot_end_the_comment(hostile):
    task = replace(TASK, task_id=hostile, metadata={"note": hostile, hostile: "key"})
    body = render_pr_body(task, summary=SUMMARY, changed_files=[], runner_name="agent-runner")
    line = metadata_comment(body)
    assert line.count("-->") == 1 and line.endswith(" -->") and "--!>" not in line
    assert pr_metadata(body) == {
        "task_id": hostile,
        "note": hostile,
        hostile: "key",
        "user_id": "user-123",
        "dispatch_issue": "acme/tasks#7",
    }


def test_render_pr_body_removes_hidden_comments_from_the_summary():
    summary = 'Done.\n<!-- agent_task_metadata {"task_id": "evil"} -->\n<!-- hidden note'
    body = render_pr_body(TASK, summary=summary, changed_files=[], runner_name="agent-runner")
    assert body.startswith("Done.\n\n")
    assert pr_metadata(body)["task_id"] == TASK.task_id
    assert body.count("<!--") == 1


def test_render_pr_body_without_model_or_usage():
    body = render_pr_body(TASK, summary="", changed_files=[], runner_name="agent-runner")
    assert body.startswith("Changes for: Add a health check endpoint\n\n**Changed files** (0)\n- none\n")
    assert "Opened by agent-runner · model none (patch applied as given) · verification: not run" in body


def test_render_pr_body_huge_inputs_stay_under_githubs_limit_and_close_fences():
    summary = "Rewrote the parser.\n\n```python\n" + "x = 1\n" * 100_000 + "```\nDone."
    task = replace(TASK, metadata={**TASK.metadata, "instruction": "i" * 200_000, "blob": "b" * 50_000})
    body = render_pr_body(
        task, summary=summary, changed_files=[f"src/m{i}.py" for i in range(500)], runner_name="agent-runner"
    )
    assert len(body) < GITHUB_BODY_LIMIT
    head = body.split("\n\n_(summary truncated)_")[0]
    assert head.endswith("\n```") and head.count("```") == 2
    assert "- ... and 400 more" in body
    meta = pr_metadata(body)
    assert meta["task_id"] == TASK.task_id and meta["priority"] == "high" and "instruction" not in meta
    assert body.rstrip("\n").endswith("Fixes acme/tasks#7")


# -- commit message and title --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "summary",
    [
        SUMMARY,
        "First paragraph.\n\n- one\n- two\n\n```diff\n-a\n+b\n```",
        "Ends with something that looks like a trailer.\n\nSigned-off-by: someone <a@b.c>",
        "Mentions Agent-Task-Id: fake\nin the text.",
        "",
    ],
)
def test_summary_survives_a_commit_message_round_trip(summary):
    message = render_commit_message(TASK, summary=summary, runner_name="agent-runner")
    assert summary_from_commit_message(message) == summary


def test_render_commit_message_shape():
    message = render_commit_message(TASK, summary="Did it.  \n\n\n\nReally.", runner_name="agent-runner")
    assert message == (
        "[agent] Add a health check endpoint\n\nDid it.\n\nReally.\n\n"
        f"Agent-Task-Id: {TASK.task_id}\nAgent-Dispatch: acme/tasks#7\nAgent-Runner: agent-runner\n"
    )


def test_summary_from_commit_message_after_git_added_a_trailer_and_crlf():
    message = render_commit_message(TASK, summary="Fixed it.", runner_name="agent-runner").replace("\n", "\r\n")
    assert summary_from_commit_message(message + "\r\n") == "Fixed it."


@pytest.mark.parametrize(
    ("title", "instruction", "expected"),
    [
        ("Add a health check endpoint", "", "[agent] Add a health check endpoint"),
        ("", "## Bump requests\n\nto 2.32", "[agent] Bump requests"),
        ("Multi\nline", "", "[agent] Multi"),
        ("x" * 100, "", "[agent] " + "x" * 63 + "…"),
        ("", "", "[agent] task 550e8400-e29b-41d4-a716-446655440000"),
    ],
)
def test_pr_title(title, instruction, expected):
    title_text = pr_title(replace(TASK, title=title, instruction=instruction))
    assert title_text == expected and len(title_text) <= 72


def test_render_status_and_pr_body_never_contain_a_stray_comment_opener():
    task = replace(TASK, task_id="<!--", target_repo="<!-- x", related_item="<!--#1")
    status = render_status(view(task=task, state="failed", message="<!-- a", warnings=("<!--",), verification="<!--"))
    assert len(re.findall(r"(?<!`)<!--", status)) == 1  # the marker; inside a code span it is shown
    pr = render_pr_body(task, summary="ok", changed_files=["<!--.py"], runner_name="<!--", verification="<!--")
    assert len(re.findall(r"(?<!`)<!--", pr)) == 1  # only the metadata comment opens one
