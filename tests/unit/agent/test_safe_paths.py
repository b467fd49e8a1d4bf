"""Where edits may write: every refused path is refused before anything is written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner.agent.edits import EditBlock, apply_blocks, apply_unified_diff, safe_path
from runner.errors import PathRefused

REFUSED = {
    "parent": ("../x", "'..' is not allowed"),
    "parent inside": ("a/../../x", "'..' is not allowed"),
    "parent that would stay inside": ("a/../b.txt", "'..' is not allowed"),
    "absolute": ("/etc/x", "absolute paths are not allowed"),
    "windows drive": ("C:/Windows/x", "absolute paths are not allowed"),
    "git hook": (".git/hooks/pre-commit", "nothing under .git/"),
    "git config upper case": (".GIT/config", "nothing under .git/"),
    "nested git dir": ("vendor/lib/.git/config", "nothing under .git/"),
    "git with trailing dot": (".git./config", "nothing under .git/"),
    "workflow": (".github/workflows/x.yml", "nothing under .github/workflows/"),
    "workflow upper case": (".github/WORKFLOWS/x.yml", "nothing under .github/workflows/"),
    "workflow dir itself": (".GitHub/workflows", "nothing under .github/workflows/"),
    "nul byte": ("src/a\0.py", "NUL byte"),
    "backslash": ("src\\..\\..\\x", "backslashes are not allowed"),
    "empty": ("", "the path is empty"),
    "dot only": ("./", "names no file"),
}


@pytest.mark.parametrize("rel, why", REFUSED.values(), ids=REFUSED.keys())
def test_safe_path_refuses(tmp_path, rel, why):
    with pytest.raises(PathRefused, match=why):
        safe_path(tmp_path, rel)


@pytest.mark.parametrize(
    "rel, expected",
    [
        ("src/app.py", "src/app.py"),
        ("./src//app.py", "src/app.py"),
        (".github/dependabot.yml", ".github/dependabot.yml"),
        (".gitignore", ".gitignore"),
        ("docs/workflows/x.md", "docs/workflows/x.md"),
    ],
)
def test_safe_path_allows_ordinary_paths(tmp_path, rel, expected):
    assert safe_path(tmp_path, rel) == tmp_path.resolve() / expected


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A working tree with a link to a directory outside it and a link to a file inside it."""
    root = tmp_path / "repo"
    outside = tmp_path / "outside"
    (root / "src").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    (root / "src" / "app.py").write_text("x = 1\n")
    os.symlink(outside, root / "linked")
    os.symlink(root / "src" / "app.py", root / "alias.py")
    return root


@pytest.mark.parametrize(
    "rel, why",
    [
        ("linked/secret.txt", "linked is a symbolic link"),
        ("linked/new.txt", "linked is a symbolic link"),
        ("alias.py", "alias.py is a symbolic link"),
    ],
    ids=["dir link, existing file", "dir link, new file", "file link"],
)
def test_safe_path_refuses_writing_through_links(tree, rel, why):
    with pytest.raises(PathRefused, match=why):
        safe_path(tree, rel)


REFUSED_EDITS = ["../x", "/etc/x", ".git/hooks/pre-commit", ".GIT/config", ".github/workflows/x.yml",
                 ".github/WORKFLOWS/x.yml", "linked/secret.txt", "alias.py", "a/../../x"]


@pytest.mark.parametrize("rel", REFUSED_EDITS)
def test_apply_blocks_writes_nothing_for_a_refused_path(tree, rel):
    before = snapshot(tree.parent)
    result = apply_blocks(tree, [EditBlock(rel, "", "pwned\n", 1), EditBlock(rel, "secret\n", "pwned\n", 2)])
    assert [failure.reason.split(":")[0] for failure in result.failed] == ["Path refused"] * 2
    assert result.changed_files == ()
    assert snapshot(tree.parent) == before


@pytest.mark.parametrize("rel", REFUSED_EDITS)
def test_apply_unified_diff_writes_nothing_for_a_refused_path(tree, rel):
    before = snapshot(tree.parent)
    diff = (
        "--- a/src/app.py\n+++ b/src/app.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"
        f"--- /dev/null\n+++ b/{rel}\n@@ -0,0 +1 @@\n+pwned\n"
    )
    with pytest.raises(PathRefused):
        apply_unified_diff(tree, diff)
    assert snapshot(tree.parent) == before


def snapshot(top: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(top)): path.read_bytes()
        for path in sorted(top.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }
