from __future__ import annotations

import base64
import fcntl
import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from runner.errors import GitHubAuthError, TaskFailed, TransientError
from runner.ports import Checkout
from runner.sandbox.git_server import GitRequest, GitServer
from runner.workspace import GitWorkspace

REPO = "acme/widgets"
RUNNER = ("agent-runner", "agent-runner@agent-runner.invalid")
HOSTILE_GITCONFIG = """\
[user]
    name = Machine Owner
    email = owner@machine.example
[core]
    excludesFile = ~/.gitignore_global
[commit]
    gpgSign = true
[url "http://127.0.0.1:9/"]
    insteadOf = http://127.0.0.1
"""


@pytest.fixture
def token() -> str:
    return "ghs_" + secrets.token_hex(18)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: str) -> Path:
    """The runner's machine: no git config at all, and the token in the process environment."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_CONFIG_HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_AUTHOR_NAME",
                 "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", token)
    return home


@pytest.fixture
def srv(tmp_path: Path, token: str) -> Iterator[GitServer]:
    with GitServer(tmp_path / "srv", token=token) as server:
        server.create_repo(REPO, files={"README.md": "# Widgets\n", "app.py": "print('hi')\n"})
        yield server


@pytest.fixture
def ws(tmp_path: Path, home: Path, token: str) -> GitWorkspace:
    return GitWorkspace(tmp_path / "state", lambda: token, author_name="agent-runner", git_timeout=30)


def change(ws: GitWorkspace, checkout: Checkout, text: str, message: str = "Add healthz") -> str:
    (checkout.path / "app.py").write_text(text)
    sha = ws.commit(checkout, message)
    assert sha is not None
    return sha


def upload_pack_posts(srv: GitServer, since: int) -> int:
    return sum(r.method == "POST" and r.path.endswith("/git-upload-pack") for r in srv.requests[since:])


def test_workspace_prepare_checks_out_the_base_branch(srv: GitServer, ws: GitWorkspace) -> None:
    checkout = ws.prepare("550e8400-e29b-41d4-a716-446655440000", srv.clone_url(REPO), "main")

    assert checkout.base_branch == "main"
    assert checkout.base_sha == srv.branch_sha(REPO, "main")
    assert (checkout.path / "app.py").read_text() == "print('hi')\n"
    assert checkout.path.parent == ws.work_root
    assert checkout.path.name.startswith("550e8400-e29b-41d4-a716-446655440000-")


def test_workspace_second_prepare_reuses_the_mirror(srv: GitServer, ws: GitWorkspace, tmp_path: Path) -> None:
    url = srv.clone_url(REPO)
    first = ws.prepare("task-1", url, "main")
    mirror = next(p for p in (tmp_path / "state" / "mirrors").rglob("widgets.git") if p.is_dir())
    inode, before = mirror.stat().st_ino, len(srv.requests)

    second = ws.prepare("task-2", url, "main")

    assert mirror.stat().st_ino == inode
    assert upload_pack_posts(srv, before) == 1  # the ref listing only: no objects were sent again
    assert second.path != first.path and second.base_sha == first.base_sha


def test_workspace_prepare_fetches_new_commits_into_the_mirror(srv: GitServer, ws: GitWorkspace) -> None:
    url = srv.clone_url(REPO)
    ws.prepare("task-1", url, "main")
    moved = srv.push_commit(REPO, "main", {"app.py": "print('v2')\n"}, "Ship v2")

    checkout = ws.prepare("task-2", url, "main")

    assert checkout.base_sha == moved
    assert (checkout.path / "app.py").read_text() == "print('v2')\n"


def test_workspace_prepare_on_a_missing_base_branch_fails_clearly(srv: GitServer, ws: GitWorkspace) -> None:
    with pytest.raises(TaskFailed, match="base branch 'release-9' does not exist"):
        ws.prepare("task-1", srv.clone_url(REPO), "release-9")

    assert not ws.work_root.exists() or not any(ws.work_root.iterdir())


@pytest.mark.parametrize("branch", ["--upload-pack=touch /tmp/pwned", "main..evil", "has space", "x/../y", ""])
def test_workspace_refuses_branch_names_git_would_misread(srv: GitServer, ws: GitWorkspace, branch: str) -> None:
    with pytest.raises(TaskFailed, match="not a valid git branch name"):
        ws.prepare("task-1", srv.clone_url(REPO), branch)

    assert srv.requests == []


@pytest.mark.parametrize("gitconfig", ["", HOSTILE_GITCONFIG])
def test_workspace_commit_and_push_as_the_runner_whatever_the_machine_config(
        srv: GitServer, ws: GitWorkspace, home: Path, monkeypatch: pytest.MonkeyPatch, gitconfig: str) -> None:
    if gitconfig:
        (home / ".gitconfig").write_text(gitconfig)
        (home / ".gitignore_global").write_text("*.py\n")
        monkeypatch.setenv("GIT_DIR", str(home / "not-a-repo"))  # as inside a git hook
    url = srv.clone_url(REPO)
    checkout = ws.prepare("task-1", url, "main")

    sha = change(ws, checkout, "print('healthz')\n", "Add /healthz\n\n# Why\nUsers asked.")
    ws.push(checkout, "agent-task-task-1", url)

    assert srv.branch_sha(REPO, "agent-task-task-1") == sha
    assert srv.read_file(REPO, "agent-task-task-1", "app.py") == "print('healthz')\n"
    top = srv.commits(REPO, "agent-task-task-1")[0]
    assert (top["author_name"], top["author_email"]) == RUNNER
    assert top["message"] == "Add /healthz\n\n# Why\nUsers asked."
    assert srv.commits(REPO, "agent-task-task-1")[1]["sha"] == checkout.base_sha
    assert sorted(p.name for p in home.iterdir()) == ([".gitconfig", ".gitignore_global"] if gitconfig else [])


def test_workspace_commit_with_nothing_changed_returns_none(srv: GitServer, ws: GitWorkspace) -> None:
    checkout = ws.prepare("task-1", srv.clone_url(REPO), "main")
    (checkout.path / "app.py").write_text("print('hi')\n")  # same content

    assert ws.commit(checkout, "No-op") is None


def test_workspace_push_replaces_the_runners_own_older_attempt(srv: GitServer, ws: GitWorkspace) -> None:
    url, branch = srv.clone_url(REPO), "agent-task-42"
    first = ws.prepare("42", url, "main")
    old = change(ws, first, "print('attempt 1')\n")
    ws.push(first, branch, url)
    theirs = srv.push_commit(REPO, "main", {"NOTES.md": "team notes\n"}, "Team work", author="Dana Lee")

    second = ws.prepare("42", url, "main")
    new = change(ws, second, "print('attempt 2')\n")
    ws.push(second, branch, url)

    history = [c["sha"] for c in srv.commits(REPO, branch)]
    assert history[:2] == [new, theirs]
    assert old not in history
    assert srv.branch_sha(REPO, "main") == theirs


def test_workspace_push_adds_a_follow_up_commit_without_forcing(srv: GitServer, ws: GitWorkspace) -> None:
    url, branch = srv.clone_url(REPO), "agent-task-42"
    first = ws.prepare("42", url, "main")
    round_1 = change(ws, first, "print('round 1')\n")
    ws.push(first, branch, url)

    follow_up = ws.prepare("42", url, branch)
    round_2 = change(ws, follow_up, "print('round 2')\n", "Address review")
    ws.push(follow_up, branch, url)

    assert [c["sha"] for c in srv.commits(REPO, branch)[:2]] == [round_2, round_1]


def test_workspace_push_refuses_to_overwrite_someone_elses_commits(srv: GitServer, ws: GitWorkspace) -> None:
    url, branch = srv.clone_url(REPO), "agent-task-42"
    first = ws.prepare("42", url, "main")
    change(ws, first, "print('attempt 1')\n")
    ws.push(first, branch, url)
    theirs = srv.push_commit(REPO, branch, {"app.py": "print('fixed by hand')\n"}, "Fix by hand", author="Dana Lee")
    second = ws.prepare("42", url, "main")
    change(ws, second, "print('attempt 2')\n")
    before = len(srv.requests)

    with pytest.raises(TaskFailed, match="branch agent-task-42 moved on the remote: someone else pushed to it"):
        ws.push(second, branch, url)

    assert srv.branch_sha(REPO, branch) == theirs
    assert not any(r.path.endswith("git-receive-pack") for r in srv.requests[before:])


def test_workspace_push_lease_loses_to_a_push_racing_it(srv: GitServer, ws: GitWorkspace) -> None:
    url, branch = srv.clone_url(REPO), "agent-task-42"
    first = ws.prepare("42", url, "main")
    change(ws, first, "print('attempt 1')\n")
    ws.push(first, branch, url)
    second = ws.prepare("42", url, "main")
    change(ws, second, "print('attempt 2')\n")
    raced: list[str] = []

    def someone_pushes(request: GitRequest) -> None:
        if request.method == "POST" and request.path.endswith("git-receive-pack") and not raced:
            raced.append(srv.push_commit(REPO, branch, {"hand.txt": "x\n"}, "Racing fix", author="Dana Lee"))

    srv.on_request(someone_pushes)
    with pytest.raises(TransientError):
        ws.push(second, branch, url)

    assert srv.branch_sha(REPO, branch) == raced[0]


def test_workspace_push_never_touches_the_default_branch(srv: GitServer, ws: GitWorkspace) -> None:
    url = srv.clone_url(REPO)
    checkout = ws.prepare("42", url, "main")
    change(ws, checkout, "print('oops')\n")
    main = srv.branch_sha(REPO, "main")

    with pytest.raises(TaskFailed, match="refusing to push to 'main'"):
        ws.push(checkout, "main", url)

    assert srv.branch_sha(REPO, "main") == main


def test_workspace_push_again_after_a_crash_is_a_no_op(srv: GitServer, ws: GitWorkspace) -> None:
    url = srv.clone_url(REPO)
    checkout = ws.prepare("42", url, "main")
    sha = change(ws, checkout, "print('once')\n")
    ws.push(checkout, "agent-task-42", url)
    before = len(srv.requests)

    ws.push(checkout, "agent-task-42", url)

    assert srv.branch_sha(REPO, "agent-task-42") == sha
    assert not any(r.path.endswith("git-receive-pack") for r in srv.requests[before:])


def test_workspace_reads_the_branch_tip_message_and_author(srv: GitServer, ws: GitWorkspace) -> None:
    url = srv.clone_url(REPO)
    checkout = ws.prepare("42", url, "main")
    change(ws, checkout, "print('x')\n", "Add x\n\nTask: 42")
    ws.push(checkout, "agent-task-42", url)

    assert ws.branch_commit_message(url, "agent-task-42") == "Add x\n\nTask: 42"
    assert ws.branch_author_email(url, "agent-task-42") == RUNNER[1]
    assert ws.branch_author_email(url, "main") == "git-server@example.com"
    srv.delete_branch(REPO, "agent-task-42")
    assert ws.branch_commit_message(url, "agent-task-42") is None
    assert ws.branch_author_email(url, "agent-task-42") is None


def test_workspace_remote_branch_sha_needs_no_clone(srv: GitServer, ws: GitWorkspace) -> None:
    url = srv.clone_url(REPO)

    assert ws.remote_branch_sha(url, "main") == srv.branch_sha(REPO, "main")
    assert ws.remote_branch_sha(url, "agent-task-42") is None
    assert not (ws.state_dir / "mirrors").exists()


def test_workspace_cleanup_removes_only_that_checkout(srv: GitServer, ws: GitWorkspace, tmp_path: Path) -> None:
    url = srv.clone_url(REPO)
    done, running = ws.prepare("1", url, "main"), ws.prepare("2", url, "main")
    outside = tmp_path / "elsewhere"
    outside.mkdir()

    ws.cleanup(done)
    ws.cleanup(Checkout(path=outside, base_branch="main", base_sha=done.base_sha))

    assert not done.path.exists()
    assert (running.path / "app.py").exists() and outside.exists()


def test_workspace_prune_checkouts_removes_only_old_ones(srv: GitServer, ws: GitWorkspace) -> None:
    url = srv.clone_url(REPO)
    old, fresh = ws.prepare("1", url, "main"), ws.prepare("2", url, "main")
    os.utime(old.path, (1_000_000_000, 1_000_000_000))

    assert ws.prune_checkouts(older_than=3600) == 1
    assert not old.path.exists() and fresh.path.exists()


def _all_cmdlines() -> list[tuple[int, list[str]]]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        found.append((int(pid), [a.decode(errors="replace") for a in raw.split(b"\0") if a]))
    return found


def _environ(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""


def test_workspace_token_is_in_no_argv_and_no_file(srv: GitServer, ws: GitWorkspace, token: str) -> None:
    forms = [token, base64.b64encode(f"x-access-token:{token}".encode()).decode()]
    seen: list[list[str]] = []
    raw_token_in_child_env: list[int] = []

    def look_at_processes(_request: GitRequest) -> None:  # runs while the runner's git waits for us
        for pid, argv in _all_cmdlines():
            seen.append(argv)
            if pid != os.getpid() and argv[:1] == ["git"] and token.encode() in _environ(pid):
                raw_token_in_child_env.append(pid)

    srv.on_request(look_at_processes)
    url = srv.clone_url(REPO)
    checkout = ws.prepare("42", url, "main")
    change(ws, checkout, "print('secret-free')\n")
    ws.push(checkout, "agent-task-42", url)
    ws.branch_commit_message(url, "agent-task-42")

    git_argvs = [" ".join(argv) for argv in seen if argv[:1] == ["git"]]
    assert any(" fetch " in a for a in git_argvs) and any(" push " in a for a in git_argvs)
    assert not [a for a in (" ".join(argv) for argv in seen) if any(f in a for f in forms)]
    assert raw_token_in_child_env == []  # children get only the header, and no GITHUB_TOKEN
    files = [p for p in ws.state_dir.rglob("*") if p.is_file()]
    assert any(p.name == "config" for p in files)
    assert [p for p in files if any(f.encode() in p.read_bytes() for f in forms)] == []


@pytest.mark.parametrize("path_regex, status, error", [
    (r"info/refs", 500, TransientError),
    (r"/git-upload-pack$", 502, TransientError),
    (r"info/refs", 429, TransientError),
    (r"info/refs", 404, TaskFailed),
    (r"info/refs", 403, TaskFailed),
])
def test_workspace_fetch_failures_are_translated(srv: GitServer, ws: GitWorkspace, token: str, path_regex: str,
                                                 status: int, error: type[Exception]) -> None:
    srv.fail_next(path_regex, status)

    with pytest.raises(error) as caught:
        ws.prepare("42", srv.clone_url(REPO), "main")

    assert token not in str(caught.value)
    assert srv.clone_url(REPO) in str(caught.value)


def test_workspace_wrong_token_is_an_auth_error(srv: GitServer, tmp_path: Path, home: Path) -> None:
    ws = GitWorkspace(tmp_path / "state", lambda: "ghs_revoked0000000000000000000000000000", author_name="bot")

    with pytest.raises(GitHubAuthError, match="authentication failed"):
        ws.prepare("42", srv.clone_url(REPO), "main")


class _EchoAuthHandler(BaseHTTPRequestHandler):
    """A broken server (or proxy) that quotes the request's credentials in its error page."""

    def do_GET(self) -> None:  # noqa: N802
        body = f"upstream error for {self.headers.get('Authorization')}\n".encode()
        self.send_response(502)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_workspace_scrubs_the_token_from_error_text(ws: GitWorkspace, token: str,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoAuthHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        with caplog.at_level("DEBUG"), pytest.raises(TransientError) as caught:
            ws.prepare("42", f"http://127.0.0.1:{server.server_address[1]}/{REPO}.git", "main")
    finally:
        server.shutdown()
        server.server_close()
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()

    assert "upstream error for" in str(caught.value)
    assert basic not in str(caught.value) and token not in str(caught.value)
    assert basic not in caplog.text and token not in caplog.text


def test_workspace_git_timeout_is_transient(srv: GitServer, tmp_path: Path, home: Path, token: str) -> None:
    release = threading.Event()
    srv.on_request(lambda _request: release.wait(10))
    ws = GitWorkspace(tmp_path / "state", lambda: token, author_name="bot", git_timeout=0.5)
    try:
        with pytest.raises(TransientError, match="timed out"):
            ws.prepare("42", srv.clone_url(REPO), "main")
    finally:
        release.set()


def _stale_ref_lock(mirror: Path) -> None:
    (mirror / "refs" / "heads" / "main.lock").write_text("")


def _half_created(mirror: Path) -> None:
    shutil.rmtree(mirror)
    (mirror / "objects").mkdir(parents=True)


def _corrupt_objects(mirror: Path) -> None:
    for path in (mirror / "objects").rglob("*"):
        if path.is_file() and path.parent.name not in ("info",):
            path.chmod(0o644)
            path.write_bytes(b"garbage")


@pytest.mark.parametrize("damage", [_stale_ref_lock, _half_created, _corrupt_objects])
def test_workspace_repairs_a_damaged_mirror(srv: GitServer, ws: GitWorkspace, tmp_path: Path, damage) -> None:
    url = srv.clone_url(REPO)
    ws.prepare("1", url, "main")
    damage(next(p for p in (tmp_path / "state" / "mirrors").rglob("widgets.git") if p.is_dir()))
    moved = srv.push_commit(REPO, "main", {"app.py": "print('v2')\n"}, "Ship v2")

    checkout = ws.prepare("2", url, "main")

    assert checkout.base_sha == moved
    assert (checkout.path / "app.py").read_text() == "print('v2')\n"


def test_workspace_survives_a_branch_renamed_under_a_cached_one(srv: GitServer, ws: GitWorkspace) -> None:
    url = srv.clone_url(REPO)
    srv.push_commit(REPO, "feature", {"a.txt": "1\n"}, "Feature")
    assert ws.branch_author_email(url, "feature") == "someone.else@example.com"  # now cached in the mirror
    srv.delete_branch(REPO, "feature")
    srv.push_commit(REPO, "feature/v2", {"a.txt": "2\n"}, "Feature v2", author="Dana Lee")

    # refs/heads/feature in the mirror blocks refs/heads/feature/v2 until the mirror starts over
    assert ws.branch_commit_message(url, "feature/v2") == "Feature v2"


def test_workspace_parallel_prepares_share_one_mirror(srv: GitServer, tmp_path: Path, home: Path,
                                                      token: str) -> None:
    # two workspaces on one state directory stand for two runner processes
    pair = [GitWorkspace(tmp_path / "state", lambda: token, author_name="bot") for _ in range(2)]
    with ThreadPoolExecutor(4) as pool:
        checkouts = list(pool.map(lambda i: pair[i % 2].prepare(f"task-{i}", srv.clone_url(REPO), "main"), range(6)))

    assert len({c.path for c in checkouts}) == 6
    assert {c.base_sha for c in checkouts} == {srv.branch_sha(REPO, "main")}
    assert [p.name for p in (tmp_path / "state" / "mirrors").rglob("*.git") if p.is_dir()] == ["widgets.git"]


def test_workspace_prepare_waits_for_another_process_holding_the_mirror(srv: GitServer, ws: GitWorkspace,
                                                                        tmp_path: Path) -> None:
    url = srv.clone_url(REPO)
    ws.prepare("1", url, "main")
    lock_file = next((tmp_path / "state" / "mirrors").rglob("widgets.git.lock"))
    done: list[Checkout] = []
    waiter = threading.Thread(target=lambda: done.append(ws.prepare("2", url, "main")))

    with open(lock_file) as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        before = len(srv.requests)
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive() and len(srv.requests) == before
    waiter.join(10)

    assert done and done[0].base_sha == srv.branch_sha(REPO, "main")
