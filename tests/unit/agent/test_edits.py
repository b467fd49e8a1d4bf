"""SEARCH/REPLACE blocks: reading real-looking model replies and applying them to a working tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.agent.edits import EditBlock, apply_blocks, apply_instruction_edits, apply_reply, parse_reply
from runner.errors import PathRefused, TaskFailed

APP_PY = '''import os


def greet(name):
    return "Hello " + name


class Config:
    def load(self):
        path = os.environ.get("APP_CONFIG")
        return path
'''

# (reply, expected [(path, search, replace)], expected summary)
PARSE_CASES = {
    "filename before fence, 7 markers": (
        "I'll make the greeting friendlier.\n\n"
        "src/app.py\n```python\n<<<<<<< SEARCH\n    return \"Hello \" + name\n=======\n"
        "    return f\"Hello, {name}!\"\n>>>>>>> REPLACE\n```\n",
        [("src/app.py", '    return "Hello " + name\n', '    return f"Hello, {name}!"\n')],
        "I'll make the greeting friendlier.",
    ),
    "filename inside the fence": (
        "```python\nsrc/app.py\n<<<<<<< SEARCH\nimport os\n=======\nimport os\nimport sys\n>>>>>>> REPLACE\n```\n"
        "Added the sys import.",
        [("src/app.py", "import os\n", "import os\nimport sys\n")],
        "Added the sys import.",
    ),
    "no fence at all, 5 markers": (
        "src/app.py\n<<<<< SEARCH\nimport os\n=====\nimport json\n>>>>> REPLACE\n",
        [("src/app.py", "import os\n", "import json\n")],
        "",
    ),
    "9 markers, no language tag": (
        "Fix:\n\nsrc/app.py\n```\n<<<<<<<<< SEARCH\nimport os\n=========\nimport io\n>>>>>>>>> REPLACE\n```\n",
        [("src/app.py", "import os\n", "import io\n")],
        "Fix:",
    ),
    "bold filename with a blank line before the fence": (
        "**src/app.py**\n\n```python\n<<<<<<< SEARCH\nimport os\n=======\nimport re\n>>>>>>> REPLACE\n```\n",
        [("src/app.py", "import os\n", "import re\n")],
        "",
    ),
    "backticked filename with colon": (
        "Change `src/app.py`:\n`src/app.py`:\n"
        "```py\n<<<<<<< SEARCH\nimport os\n=======\nimport re\n>>>>>>> REPLACE\n```",
        [("src/app.py", "import os\n", "import re\n")],
        "Change `src/app.py`:",
    ),
    "filename in a sentence": (
        "Now the config loader. In `src/app.py`:\n```python\n<<<<<<< SEARCH\nimport os\n=======\nimport re\n"
        ">>>>>>> REPLACE\n```",
        [("src/app.py", "import os\n", "import re\n")],
        "",
    ),
    "markdown heading filename": (
        "### src/app.py\n```python\n<<<<<<< SEARCH\nimport os\n=======\nimport re\n>>>>>>> REPLACE\n```",
        [("src/app.py", "import os\n", "import re\n")],
        "",
    ),
    "CRLF reply": (
        "Done.\r\n\r\nsrc/app.py\r\n```python\r\n<<<<<<< SEARCH\r\nimport os\r\n=======\r\nimport re\r\n"
        ">>>>>>> REPLACE\r\n```\r\n",
        [("src/app.py", "import os\n", "import re\n")],
        "Done.",
    ),
    "new file with an empty SEARCH": (
        "Adding a health check.\n\nsrc/health.py\n```python\n<<<<<<< SEARCH\n=======\n"
        "def healthz():\n    return {\"ok\": True}\n>>>>>>> REPLACE\n```\n",
        [("src/health.py", "", 'def healthz():\n    return {"ok": True}\n')],
        "Adding a health check.",
    ),
    "second block without a name reuses the previous file": (
        "src/app.py\n```python\n<<<<<<< SEARCH\nimport os\n=======\nimport re\n>>>>>>> REPLACE\n```\n\n"
        "And the class:\n"
        "```python\n<<<<<<< SEARCH\nclass Config:\n=======\nclass Settings:\n>>>>>>> REPLACE\n```\n",
        [("src/app.py", "import os\n", "import re\n"), ("src/app.py", "class Config:\n", "class Settings:\n")],
        "And the class:",
    ),
    "two blocks in one fence, two files": (
        "```python\nsrc/a.py\n<<<<<<< SEARCH\na = 1\n=======\na = 2\n>>>>>>> REPLACE\n\n"
        "src/b.py\n<<<<<<< SEARCH\nb = 1\n=======\nb = 2\n>>>>>>> REPLACE\n```\nBoth constants bumped.",
        [("src/a.py", "a = 1\n", "a = 2\n"), ("src/b.py", "b = 1\n", "b = 2\n")],
        "Both constants bumped.",
    ),
    "filename in its own fence (deepseek style)": (
        "```\nsrc/app.py\n```\n```python\n<<<<<<< SEARCH\nimport os\n=======\nimport re\n>>>>>>> REPLACE\n```",
        [("src/app.py", "import os\n", "import re\n")],
        "",
    ),
}


@pytest.mark.parametrize("reply, blocks, summary", PARSE_CASES.values(), ids=PARSE_CASES.keys())
def test_parse_reply_reads_blocks_and_summary(reply, blocks, summary):
    parsed = parse_reply(reply)
    assert [(b.path, b.search, b.replace) for b in parsed.blocks] == blocks
    assert parsed.summary == summary
    assert parsed.problems == ()
    assert [b.index for b in parsed.blocks] == list(range(1, len(blocks) + 1))


def test_parse_reply_keeps_explanatory_code_in_the_summary():
    reply = (
        "Run it with:\n```bash\npython -m app\n```\n"
        "src/app.py\n```python\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n```"
    )
    parsed = parse_reply(reply)
    assert parsed.summary == "Run it with:\n```bash\npython -m app\n```"
    assert parsed.blocks[0].path == "src/app.py"


@pytest.mark.parametrize(
    "reply, problem",
    [
        ("src/app.py\n```python\n<<<<<<< SEARCH\nimport os\n=======\nimport re\n", "has no `>>>>>>> REPLACE`"),
        ("src/app.py\n<<<<<<< SEARCH\nimport os\n>>>>>>> REPLACE\n", "has no `=======`"),
        ("Here it is:\n```python\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n```", "has no file name"),
    ],
    ids=["cut off", "no divider", "no file name"],
)
def test_parse_reply_reports_malformed_blocks(reply, problem):
    parsed = parse_reply(reply)
    assert parsed.blocks == ()
    assert problem in parsed.problems[0]


def test_parse_reply_finds_diff_fences():
    reply = "Patch:\n```diff\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n```\nThat is all."
    parsed = parse_reply(reply)
    assert parsed.diffs == ("--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n",)
    assert parsed.summary == "Patch:\n\nThat is all."


def test_parse_reply_prose_only_has_no_edits():
    parsed = parse_reply("I looked at the code; nothing needs to change.\n```diff\n+ added\n- removed\n```")
    assert not parsed.has_edits
    assert parsed.summary.startswith("I looked at the code")


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


def block(path: str, search: str, replace: str, index: int = 1) -> EditBlock:
    return EditBlock(path, search, replace, index)


# (files before, blocks, path, expected content after)
APPLY_CASES = {
    "exact match": (
        {"src/app.py": APP_PY},
        [block("src/app.py", '    return "Hello " + name\n', '    return f"Hello, {name}!"\n')],
        "src/app.py",
        APP_PY.replace('"Hello " + name', 'f"Hello, {name}!"'),
    ),
    "SEARCH missing the indentation": (
        {"src/app.py": APP_PY},
        [block("src/app.py", 'path = os.environ.get("APP_CONFIG")\nreturn path\n', 'return os.environ["APP_CONFIG"]\n')],
        "src/app.py",
        APP_PY.replace('path = os.environ.get("APP_CONFIG")\n        return path', 'return os.environ["APP_CONFIG"]'),
    ),
    "SEARCH indented too far": (
        {"src/app.py": APP_PY},
        [block("src/app.py", "        def load(self):\n", "        def load(self, strict=False):\n")],
        "src/app.py",
        APP_PY.replace("    def load(self):", "    def load(self, strict=False):"),
    ),
    "stray leading blank line in SEARCH": (
        {"src/app.py": APP_PY},
        [block("src/app.py", "\nclass Config:\n    def load(self):\n", "\nclass Config:\n    def read(self):\n")],
        "src/app.py",
        APP_PY.replace("def load", "def read"),
    ),
    "new file in a new directory": (
        {},
        [block("pkg/health.py", "", "def healthz():\n    return True\n")],
        "pkg/health.py",
        "def healthz():\n    return True\n",
    ),
    "empty SEARCH appends to an empty file": (
        {"pkg/__init__.py": ""},
        [block("pkg/__init__.py", "", "VERSION = '1.0'\n")],
        "pkg/__init__.py",
        "VERSION = '1.0'\n",
    ),
    "two blocks on the same file, the second sees the first": (
        {"src/app.py": APP_PY},
        [
            block("src/app.py", "import os\n", "import os\nimport sys\n", 1),
            block("src/app.py", "import sys\n", "import sys  # cli\n", 2),
        ],
        "src/app.py",
        APP_PY.replace("import os\n", "import os\nimport sys  # cli\n"),
    ),
    "CRLF file stays CRLF": (
        {"win.txt": b"alpha\r\nbeta\r\ngamma\r\n"},
        [block("win.txt", "beta\n", "BETA\nbeta2\n")],
        "win.txt",
        b"alpha\r\nBETA\r\nbeta2\r\ngamma\r\n",
    ),
    "no final newline is kept": (
        {"VERSION": b"1.0.0"},
        [block("VERSION", "1.0.0\n", "1.1.0\n")],
        "VERSION",
        b"1.1.0",
    ),
    "deleting lines with an empty REPLACE": (
        {"src/app.py": APP_PY},
        [block("src/app.py", "import os\n\n\n", "")],
        "src/app.py",
        APP_PY.replace("import os\n\n\n", ""),
    ),
}


@pytest.mark.parametrize("files, blocks, path, expected", APPLY_CASES.values(), ids=APPLY_CASES.keys())
def test_apply_blocks_writes_the_change(tmp_path, files, blocks, path, expected):
    write(tmp_path, files)
    result = apply_blocks(tmp_path, blocks)
    assert result.failed == ()
    assert result.changed_files == (path,)
    actual = (tmp_path / path).read_bytes()
    assert actual == (expected if isinstance(expected, bytes) else expected.encode())


def test_apply_blocks_keeps_file_mode(tmp_path):
    write(tmp_path, {"run.sh": "#!/bin/sh\necho hi\n"})
    (tmp_path / "run.sh").chmod(0o755)
    apply_blocks(tmp_path, [block("run.sh", "echo hi\n", "echo hello\n")])
    assert (tmp_path / "run.sh").stat().st_mode & 0o777 == 0o755


def test_apply_blocks_ambiguous_match_changes_nothing(tmp_path):
    write(tmp_path, {"a.py": "x = 1\ny = 2\nx = 1\n"})
    result = apply_blocks(tmp_path, [block("a.py", "x = 1\n", "x = 3\n")])
    assert (tmp_path / "a.py").read_text() == "x = 1\ny = 2\nx = 1\n"
    assert result.changed_files == ()
    assert "matches 2 places in a.py (starting at lines 1, 3)" in result.failed[0].reason


def test_apply_blocks_not_found_suggests_the_closest_lines(tmp_path):
    write(tmp_path, {"src/app.py": APP_PY})
    wrong = '    def load(self):\n        path = os.environ.get("CONFIG")\n        return path\n'
    result = apply_blocks(tmp_path, [block("src/app.py", wrong, "    pass\n")])
    reason = result.failed[0].reason
    assert "was not found in src/app.py" in reason
    assert "Did you mean to match these lines (src/app.py, lines 9-11)?" in reason
    assert 'path = os.environ.get("APP_CONFIG")' in reason
    assert (tmp_path / "src/app.py").read_text() == APP_PY


def test_apply_blocks_does_not_guess_a_near_miss(tmp_path):
    # one character off: difflib would find it, but applying near-misses is how wrong code gets in
    write(tmp_path, {"a.py": "total = price * qty\n"})
    result = apply_blocks(tmp_path, [block("a.py", "total = price * quantity\n", "total = price * qty * 2\n")])
    assert result.applied == ()
    assert (tmp_path / "a.py").read_text() == "total = price * qty\n"


def test_apply_blocks_feedback_lists_failures_and_blocks_not_to_resend(tmp_path):
    write(tmp_path, {"src/app.py": APP_PY, "README.md": "# App\n"})
    blocks = [
        block("src/app.py", "import os\n", "import os\nimport sys\n", 1),
        block("src/app.py", "def greet(person):\n", "def greet(who):\n", 2),
        block("README.md", "# App\n", "# App\n\nSays hello.\n", 3),
        block(".github/workflows/ci.yml", "", "on: push\n", 4),
    ]
    result = apply_blocks(tmp_path, blocks)
    assert [b.index for b in result.applied] == [1, 3]
    assert result.changed_files == ("src/app.py", "README.md")
    feedback = result.feedback()
    assert "# 2 of 4 SEARCH/REPLACE blocks failed to apply" in feedback
    assert "## Block 2 (src/app.py) failed" in feedback
    assert "def greet(name):" in feedback  # the did-you-mean lines
    assert "## Block 4 (.github/workflows/ci.yml) failed\nPath refused" in feedback
    assert "Already applied: blocks 1, 3 (src/app.py, README.md)" in feedback
    assert "Do not send them again" in feedback
    assert not (tmp_path / ".github").exists()


def test_apply_blocks_says_when_the_change_is_already_there(tmp_path):
    write(tmp_path, {"a.py": "import sys\n"})
    result = apply_blocks(tmp_path, [block("a.py", "import os\n", "import sys\n")])
    assert "may already have been made" in result.failed[0].reason


@pytest.mark.parametrize(
    "files, edit, reason",
    [
        ({}, block("missing.py", "x\n", "y\n"), "missing.py does not exist. To create it"),
        ({"a.py": "x = 1\n"}, block("a.py", "", "y = 2\n"), "a.py already exists and is not empty"),
        ({"logo.png": b"\x89PNG\r\n\x1a\n\x00\x00"}, block("logo.png", "PNG\n", "GIF\n"), "logo.png is a binary"),
        ({"pkg/mod.py": "x\n"}, block("pkg", "x\n", "y\n"), "pkg is not a regular file"),
        ({"README.md": "x\n"}, block("README.md/notes.md", "", "y\n"), "README.md is a file, not a directory"),
    ],
    ids=["missing file", "create over existing", "binary", "directory", "file as directory"],
)
def test_apply_blocks_explains_files_it_cannot_edit(tmp_path, files, edit, reason):
    write(tmp_path, files)
    result = apply_blocks(tmp_path, [edit])
    assert reason in result.failed[0].reason
    assert result.changed_files == ()


def test_apply_reply_applies_blocks_and_reports_parse_problems(tmp_path):
    write(tmp_path, {"a.py": "x = 1\n"})
    reply = (
        "a.py\n```python\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n```\n\n"
        "```python\n<<<<<<< SEARCH\ny\n"
    )
    result = apply_reply(tmp_path, parse_reply(reply))
    assert (tmp_path / "a.py").read_text() == "x = 2\n"
    assert not result.ok
    assert "Block 2 (a.py) has no `=======` line" in result.feedback()


INSTRUCTION_WITH_BLOCKS = """Please apply exactly this:\r
\r
src/app.py\r
```python\r
<<<<<<< SEARCH\r
import os\r
=======\r
import os\r
import logging\r
>>>>>>> REPLACE\r
```\r
\r
docs/CHANGES.md\r
```\r
<<<<<<< SEARCH\r
=======\r
- logging\r
>>>>>>> REPLACE\r
```\r
"""


def test_apply_instruction_edits_applies_blocks_without_a_model(tmp_path):
    write(tmp_path, {"src/app.py": APP_PY})
    changed = apply_instruction_edits(tmp_path, INSTRUCTION_WITH_BLOCKS)
    assert changed == ("src/app.py", "docs/CHANGES.md")
    assert (tmp_path / "src/app.py").read_text().startswith("import os\nimport logging\n")
    assert (tmp_path / "docs/CHANGES.md").read_text() == "- logging\n"


def test_apply_instruction_edits_is_all_or_nothing(tmp_path):
    write(tmp_path, {"src/app.py": APP_PY.replace("import os", "import pathlib")})
    with pytest.raises(TaskFailed) as caught:
        apply_instruction_edits(tmp_path, INSTRUCTION_WITH_BLOCKS)
    assert "block 1 (src/app.py) in the instruction does not apply. Nothing was changed." in str(caught.value)
    assert not (tmp_path / "docs").exists()


def test_apply_instruction_edits_refuses_workflows_before_writing(tmp_path):
    write(tmp_path, {"a.py": "x\n"})
    instruction = (
        "a.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n\n"
        ".github/workflows/ci.yml\n<<<<<<< SEARCH\n=======\non: push\n>>>>>>> REPLACE\n"
    )
    with pytest.raises(PathRefused):
        apply_instruction_edits(tmp_path, instruction)
    assert (tmp_path / "a.py").read_text() == "x\n"


@pytest.mark.parametrize(
    "instruction",
    [
        "Add a /healthz endpoint that returns {\"ok\": true}.",
        "Fix the typo in README.md:\n```\nteh -> the\n```",
    ],
)
def test_apply_instruction_edits_prose_is_for_the_model(tmp_path, instruction):
    assert apply_instruction_edits(tmp_path, instruction) is None


def test_apply_instruction_edits_malformed_block_fails_clearly(tmp_path):
    with pytest.raises(TaskFailed, match="could not be read. Block 1 \\(a.py\\) has no `>>>>>>> REPLACE`"):
        apply_instruction_edits(tmp_path, "a.py\n<<<<<<< SEARCH\nx\n=======\ny\n")
