"""Git faults through the real CLI against the local git server: someone else's commits on the
task branch are never overwritten, a failing fetch leaves a claim the next run finishes, and edits
given in the issue never write through a symbolic link out of the clone."""

from __future__ import annotations

import re
import threading

import pytest

from runner.sandbox.git_server import Symlink
from tests.e2e.conftest import APP_PY, DISPATCH, TARGET, kill_group
from tests.e2e.test_flow import PLAIN
from tests.e2e.test_github_faults import assert_done_once, branch

BOBS_APP = APP_PY.replace('"hello "', '"howdy "')


def _receive_packs(world) -> list:
    return [r for r in world.git.requests if "receive-pack" in r.path]


def _someone_pushes(world) -> str:
    return world.git.push_commit(TARGET, branch(), {"app.py": BOBS_APP}, "Say howdy", author="Bob Builder")


def _crash_before_the_pr(world) -> None:
    """A first run that pushes its branch and is SIGKILLed as its PR request arrives (no PR made)."""
    holder: dict = {}

    def kill(rec) -> None:
        if rec.method == "POST" and rec.path == f"/repos/{TARGET}/pulls" and "proc" in holder:
            kill_group(holder.pop("proc"))
            world.gh.fail_next("POST", re.escape(rec.path), 502)  # the dead runner's request lands nowhere

    world.gh.on_request(kill)
    proc = holder["proc"] = world.spawn("run", "--once")
    proc.wait(timeout=60)
    assert "proc" not in holder, "the run never reached its PR"
    assert world.prs() == [] and world.git.branch_sha(TARGET, branch()) is not None


def _push_while_running(world) -> dict:
    """Bob pushes the task branch after the runner looked for it and before it pushes; his sha."""
    seen: dict = {"adverts": 0}

    def race(rec) -> None:
        if rec.method == "GET" and "service=git-upload-pack" in rec.path and "sha" not in seen:
            seen["adverts"] += 1
            if seen["adverts"] == 2:  # the checkout's fetch: the branch lookup came first
                seen["sha"] = _someone_pushes(world)

    world.git.on_request(race)
    return seen


# "After a crash" meets the same check a branch pushed by someone before the first run would.
@pytest.mark.parametrize("when", ["while-running", "after-a-crash"])
def test_git_faults_branch_moved_on_the_remote_is_never_overwritten(world, when):
    number = world.file_issue(PLAIN)
    ours = None
    if when == "after-a-crash":
        _crash_before_the_pr(world)
        ours = world.git.branch_sha(TARGET, branch())
        theirs = _someone_pushes(world)
    else:
        raced = _push_while_running(world)
    pushes_before = len(_receive_packs(world))

    result = world.cli("run", "--once")
    assert result.returncode == 1, result.stderr[-3000:]
    if when == "while-running":
        assert "sha" in raced, "the race was never run"
        theirs = raced["sha"]
    commits = world.git.commits(TARGET, branch())
    assert commits[0]["sha"] == theirs and commits[0]["author_name"] == "Bob Builder"  # their work intact
    runners = [c["sha"] for c in commits if c["author_name"] == "agent-runner"]
    assert runners == ([ours] if ours else [])
    assert len(_receive_packs(world)) == pushes_before  # no push at all, so no force-push
    assert world.prs() == []
    [comment] = world.runner_comments(number)
    assert "delete the branch" in comment["body"].replace("`", "") and branch() in comment["body"]
    assert "remove the failed label" in comment["body"]
    labels = world.gh.labels_of(DISPATCH, number)
    assert "agent-failed" in labels and "agent-processing" not in labels


def test_git_faults_fetch_failure_keeps_the_claim_and_the_next_run_finishes(world):
    number = world.file_issue(PLAIN)
    broken = threading.Event()
    failed = []

    def fail_fetches(rec) -> None:
        adverts = [r for r in world.git.requests if "service=git-upload-pack" in r.path]
        if broken.is_set() and "upload-pack" in rec.path and len(adverts) > 1:  # after the branch lookup
            world.git.fail_next(re.escape(rec.path), 500)
            failed.append(rec)

    world.git.on_request(fail_fetches)
    broken.set()
    first = world.cli("run", "--once")
    assert first.returncode == 1
    assert len(failed) >= 2  # the checkout step was tried again within the run, then given up
    assert "kept for a later run" in first.stderr
    labels = world.gh.labels_of(DISPATCH, number)
    assert "agent-processing" in labels and "agent-failed" not in labels
    assert world.prs() == [] and world.git.branch_sha(TARGET, branch()) is None
    status = world.cli("status")
    assert "claimed" in status.stdout or "working" in status.stdout
    assert "fetch" in status.stdout and "500" in status.stdout

    broken.clear()
    second = world.cli("run", "--once")
    assert second.returncode == 0, second.stderr[-3000:]
    assert_done_once(world, number)


THROUGH_DIR_LINK = """Add the vendored helper.

vendor/evil.py
```python
<<<<<<< SEARCH
=======
print("written outside the clone")
>>>>>>> REPLACE
```
"""

THROUGH_FILE_LINK = """Turn on debugging.

```diff
--- a/settings.py
+++ b/settings.py
@@ -1 +1 @@
-DEBUG = False
+DEBUG = True
```
"""


@pytest.mark.parametrize("body", [THROUGH_DIR_LINK, THROUGH_FILE_LINK], ids=["search-replace", "diff"])
def test_git_faults_edits_through_a_symlink_are_refused(world, tmp_path, body):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "settings.py").write_text("DEBUG = False\n")
    world.git.push_commit(TARGET, "main", {"vendor": Symlink(str(outside)),
                                           "settings.py": Symlink(str(outside / "settings.py"))},
                          "Link the shared settings", author="Maintainer")
    number = world.file_issue(body)
    result = world.cli("run", "--once")
    assert result.returncode == 1, result.stderr[-3000:]
    assert sorted(p.name for p in outside.iterdir()) == ["settings.py"]
    assert (outside / "settings.py").read_text() == "DEBUG = False\n"
    assert _receive_packs(world) == [] and world.git.branch_sha(TARGET, branch()) is None
    assert world.prs() == []
    [comment] = world.runner_comments(number)
    assert "symbolic link" in comment["body"]
    labels = world.gh.labels_of(DISPATCH, number)
    assert "agent-failed" in labels and "agent-processing" not in labels
