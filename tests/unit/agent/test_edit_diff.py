"""Unified diffs from instructions: applied whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.agent.edits import apply_instruction_edits, apply_reply, apply_unified_diff, parse_reply
from runner.errors import TaskFailed

SERVER_PY = "".join(f"line {n}\n" for n in range(1, 21))

MODIFY = """diff --git a/server.py b/server.py
index 3b18e51..a1b2c3d 100644
--- a/server.py
+++ b/server.py
@@ -2,3 +2,4 @@
 line 2
-line 3
+line three
+line 3.5
 line 4
@@ -15,3 +16,3 @@ def handler():
 line 15
-line 16
+line sixteen
 line 17
"""

NEW_FILE = """diff --git a/app/health.py b/app/health.py
new file mode 100644
index 0000000..e69de29
--- /dev/null
+++ b/app/health.py
@@ -0,0 +1,2 @@
+def healthz():
+    return {"ok": True}
"""

DELETE = """diff --git a/old.txt b/old.txt
deleted file mode 100644
--- a/old.txt
+++ /dev/null
@@ -1,2 +0,0 @@
-obsolete
-notes
"""


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


def expected_server(**changes: str) -> str:
    lines = SERVER_PY.splitlines(keepends=True)
    return "".join(changes.get(f"l{n}", line) for n, line in enumerate(lines, 1))


CHANGED_SERVER_PY = expected_server(l3="line three\nline 3.5\n", l16="line sixteen\n")

# (files before, diff, changed files, {path: content after, None: deleted})
CASES = {
    "modify, two hunks": (
        {"server.py": SERVER_PY},
        MODIFY,
        ("server.py",),
        {"server.py": CHANGED_SERVER_PY},
    ),
    "new file": ({}, NEW_FILE, ("app/health.py",), {"app/health.py": 'def healthz():\n    return {"ok": True}\n'}),
    "delete": ({"old.txt": "obsolete\nnotes\n"}, DELETE, ("old.txt",), {"old.txt": None}),
    "several files in one diff": (
        {"server.py": SERVER_PY, "old.txt": "obsolete\nnotes\n"},
        MODIFY + NEW_FILE + DELETE,
        ("server.py", "app/health.py", "old.txt"),
        {"app/health.py": 'def healthz():\n    return {"ok": True}\n', "old.txt": None},
    ),
    "hunks drifted by inserted lines": (
        {"server.py": "# header\n# more header\n" + SERVER_PY},
        MODIFY,
        ("server.py",),
        {"server.py": "# header\n# more header\n" + CHANGED_SERVER_PY},
    ),
    "CRLF file stays CRLF": (
        {"server.py": SERVER_PY.replace("\n", "\r\n").encode()},
        MODIFY,
        ("server.py",),
        {"server.py": CHANGED_SERVER_PY.replace("\n", "\r\n").encode()},
    ),
    "plain diff -u without git headers": (
        {"notes.txt": "a\nb\nc\n"},
        "--- notes.txt\t2024-05-01 10:00:00\n+++ notes.txt\t2024-05-02 10:00:00\n"
        "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n",
        ("notes.txt",),
        {"notes.txt": "a\nB\nc\n"},
    ),
    "empty context line whose space an editor stripped": (
        {"a.py": "def f():\n\n    return 1\n"},
        "--- a/a.py\n+++ b/a.py\n@@ -1,3 +1,3 @@\n def f():\n\n-    return 1\n+    return 2\n",
        ("a.py",),
        {"a.py": "def f():\n\n    return 2\n"},
    ),
    "hunk counts too small after a hand edit": (
        {"a.txt": "one\ntwo\nthree\n"},
        "--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n one\n-two\n+TWO\n+2\n three\n",
        ("a.txt",),
        {"a.txt": "one\nTWO\n2\nthree\n"},
    ),
    "no newline at end of file": (
        {"VERSION": "1.0.0"},
        "--- a/VERSION\n+++ b/VERSION\n@@ -1 +1 @@\n"
        "-1.0.0\n\\ No newline at end of file\n+1.1.0\n\\ No newline at end of file\n",
        ("VERSION",),
        {"VERSION": b"1.1.0"},
    ),
    "adds the missing final newline": (
        {"VERSION": "1.0.0"},
        "--- a/VERSION\n+++ b/VERSION\n@@ -1 +1 @@\n-1.0.0\n\\ No newline at end of file\n+1.1.0\n",
        ("VERSION",),
        {"VERSION": b"1.1.0\n"},
    ),
    "rename with a change": (
        {"src/old_name.py": "x = 1\ny = 2\n"},
        "diff --git a/src/old_name.py b/src/new_name.py\nsimilarity index 50%\nrename from src/old_name.py\n"
        "rename to src/new_name.py\n--- a/src/old_name.py\n+++ b/src/new_name.py\n"
        "@@ -1,2 +1,2 @@\n x = 1\n-y = 2\n+y = 3\n",
        ("src/old_name.py", "src/new_name.py"),
        {"src/old_name.py": None, "src/new_name.py": "x = 1\ny = 3\n"},
    ),
    "context indented differently (whitespace drift)": (
        {"a.py": "class A:\n    def f(self):\n        return 1\n"},
        "--- a/a.py\n+++ b/a.py\n@@ -2,2 +2,2 @@\n def f(self):\n-    return 1\n+    return 2\n",
        ("a.py",),
        {"a.py": "class A:\n    def f(self):\n        return 2\n"},
    ),
}


@pytest.mark.parametrize("files, diff, changed, after", CASES.values(), ids=CASES.keys())
def test_apply_unified_diff_changes_files(tmp_path, files, diff, changed, after):
    write(tmp_path, files)
    assert apply_unified_diff(tmp_path, diff) == changed
    for name, content in after.items():
        path = tmp_path / name
        if content is None:
            assert not path.exists()
        else:
            assert path.read_bytes() == (content if isinstance(content, bytes) else content.encode())


def test_apply_unified_diff_failing_hunk_writes_nothing(tmp_path):
    write(tmp_path, {"server.py": SERVER_PY.replace("line 16\n", "line 16 changed upstream\n")})
    diff = NEW_FILE + MODIFY
    with pytest.raises(TaskFailed) as caught:
        apply_unified_diff(tmp_path, diff)
    message = str(caught.value)
    assert message.startswith("The diff does not apply. Nothing was changed.")
    assert "server.py: hunk 2 of 2 (`@@ -15,3 +16,3 @@ def handler():`) does not apply" in message
    assert "looked near line 15" in message
    assert "line 16 changed upstream" in message  # the closest lines, so the user sees why
    assert not (tmp_path / "app").exists()
    assert "line three" not in (tmp_path / "server.py").read_text()


BINARY = "diff --git a/logo.png b/logo.png\nindex 1..2 100644\nBinary files a/logo.png and b/logo.png differ\n"
SYMLINK = "diff --git a/l b/l\nnew file mode 120000\n--- /dev/null\n+++ b/l\n@@ -0,0 +1 @@\n+/etc/passwd\n"


@pytest.mark.parametrize(
    "files, diff, reason",
    [
        ({}, MODIFY, "server.py: the diff changes this file, but it does not exist"),
        ({"app/health.py": "x = 1\n"}, NEW_FILE, "app/health.py: the diff creates this file, but it already"),
        ({"old.txt": "obsolete\nnotes\nmore\n"}, DELETE, "do not remove all its lines"),
        ({"logo.png": "x"}, BINARY, "binary patches is not supported"),
        ({}, SYMLINK, "file mode 120000"),
        ({}, "Some text\n@@ -1 +1 @@\n-a\n+b\n", "comes before any file header"),
    ],
    ids=["missing file", "create existing", "partial delete", "binary", "symlink", "no header"],
)
def test_apply_unified_diff_explains_what_does_not_apply(tmp_path, files, diff, reason):
    write(tmp_path, files)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(TaskFailed, match=reason):
        apply_unified_diff(tmp_path, diff)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_apply_unified_diff_prefers_the_place_nearest_the_stated_line(tmp_path):
    write(tmp_path, {"a.txt": "x\nsame\nx\n" + "filler\n" * 10 + "x\nsame\nx\n"})
    diff = "--- a/a.txt\n+++ b/a.txt\n@@ -15,1 +15,1 @@\n-same\n+changed\n"
    apply_unified_diff(tmp_path, diff)
    lines = (tmp_path / "a.txt").read_text().splitlines()
    assert (lines[1], lines[14]) == ("same", "changed")


def test_apply_unified_diff_without_line_numbers_must_match_once(tmp_path):
    write(tmp_path, {"a.txt": "same\nother\nsame\n"})
    with pytest.raises(TaskFailed, match="matches 2 places"):
        apply_unified_diff(tmp_path, "--- a/a.txt\n+++ b/a.txt\n@@\n-same\n+changed\n")
    assert (tmp_path / "a.txt").read_text() == "same\nother\nsame\n"


def test_apply_unified_diff_sets_the_executable_bit(tmp_path):
    diff = (
        "diff --git a/run.sh b/run.sh\nnew file mode 100755\n--- /dev/null\n+++ b/run.sh\n"
        "@@ -0,0 +1,2 @@\n+#!/bin/sh\n+echo hi\n"
    )
    apply_unified_diff(tmp_path, diff)
    assert (tmp_path / "run.sh").stat().st_mode & 0o100


ISSUE_WITH_DIFF = """Please apply this patch as is.\r
\r
```diff\r
--- a/server.py\r
+++ b/server.py\r
@@ -1,2 +1,2 @@\r
-line 1\r
+line one\r
 line 2\r
```\r
\r
Thanks!"""


def test_apply_instruction_edits_applies_a_diff_fence(tmp_path):
    write(tmp_path, {"server.py": SERVER_PY})
    assert apply_instruction_edits(tmp_path, ISSUE_WITH_DIFF) == ("server.py",)
    assert (tmp_path / "server.py").read_text().startswith("line one\nline 2\n")


def test_apply_instruction_edits_diff_failure_names_the_file(tmp_path):
    write(tmp_path, {"server.py": "something else\n"})
    with pytest.raises(TaskFailed, match="server.py: hunk 1 of 1"):
        apply_instruction_edits(tmp_path, ISSUE_WITH_DIFF)
    assert (tmp_path / "server.py").read_text() == "something else\n"


def test_apply_reply_skips_a_failing_diff_and_keeps_the_blocks(tmp_path):
    write(tmp_path, {"server.py": SERVER_PY, "b.txt": "b\n"})
    reply = (
        "```diff\n--- a/server.py\n+++ b/server.py\n@@ -1 +1 @@\n-nope\n+yes\n```\n"
        "b.txt\n```\n<<<<<<< SEARCH\nb\n=======\nB\n>>>>>>> REPLACE\n```\n"
    )
    result = apply_reply(tmp_path, parse_reply(reply))
    assert result.changed_files == ("b.txt",)
    assert "## Diff 1 was not applied" in result.feedback()
    assert (tmp_path / "server.py").read_text() == SERVER_PY
