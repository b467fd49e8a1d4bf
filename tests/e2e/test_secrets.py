"""Secrets never leak: not into logs (any level, text or JSON), GitHub, files, argv, the model's prompt
or the verify command's environment; not even on error paths.

Each test runs with its own random GitHub token (so nothing else on the machine can hold it by chance)
and with provider keys set in the runner's environment. A thread reads every process's argv from
``/proc`` every 20 ms while the runner works; the git server answers slowly so that git processes are
alive long enough to be seen.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import subprocess
import threading
import time
from pathlib import Path

import pytest

from runner.sandbox.model_server import reply
from tests.e2e import conftest
from tests.e2e.conftest import DISPATCH, TARGET
from tests.e2e.test_flow import SEARCH_REPLACE
from tests.e2e.test_model_flow import GOOD, RENAME, model, status_of

PROVIDER_KEYS = {
    "OPENAI_API_KEY": "sk-proj-" + secrets.token_hex(20),
    "ANTHROPIC_API_KEY": "sk-ant-api03-" + secrets.token_hex(20),
    "AWS_SECRET_ACCESS_KEY": secrets.token_hex(20),
}
SECRET_NAMES = ("GITHUB_TOKEN", *PROVIDER_KEYS, "GIT_CONFIG_VALUE", "AGENT_")


@pytest.fixture
def secret_world(monkeypatch, request):
    """The usual ``world``, with a token no other test or process uses."""
    monkeypatch.setattr(conftest, "TOKEN", "ghs_" + secrets.token_hex(18))
    world = request.getfixturevalue("world")
    world.env.update(PROVIDER_KEYS)
    return world


def secret_forms() -> dict[str, bytes]:
    """Every secret, and the token in each form git or an HTTP client would carry it."""
    token = conftest.TOKEN
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    forms = {"token": token, "basic x-access-token:token": basic,
             "base64 token": base64.b64encode(token.encode()).decode(), **PROVIDER_KEYS}
    return {name: value.encode() for name, value in forms.items()}


def leaks(data: bytes | str) -> list[str]:
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return [name for name, secret in secret_forms().items() if secret in raw]


class ArgvWatch:
    """Samples ``/proc/*/cmdline`` of every process on the machine every 20 ms, in a thread."""

    def __init__(self) -> None:
        self.git_argvs: set[tuple[str, ...]] = set()
        self.leaking: list[tuple[str, ...]] = []
        self.samples = 0
        self._stop = threading.Event()
        self._forms = list(secret_forms().values())
        self._thread = threading.Thread(target=self._loop, name="argv-watch", daemon=True)

    def __enter__(self) -> ArgvWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(0.02)

    def _sample(self) -> None:
        self.samples += 1
        for pid in (name for name in os.listdir("/proc") if name.isdigit()):
            with contextlib.suppress(OSError):  # the process ended meanwhile
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    raw = handle.read()
                argv = tuple(arg.decode("utf-8", "replace") for arg in raw.split(b"\0") if arg)
                if any(form in raw for form in self._forms):
                    self.leaking.append(argv)
                if argv and os.path.basename(argv[0]).startswith("git"):
                    self.git_argvs.add(argv[:2])

    def runner_git_commands(self) -> set[str]:
        """Subcommands of the runner's own git processes seen (the git server runs `http-backend`)."""
        return {argv[1] for argv in self.git_argvs if len(argv) > 1} - {"http-backend"}


def git_objects(gitdir: Path) -> bytes:
    """Every object of a repository, decompressed: a token in a commit or blob would show here."""
    env = {"PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    result = subprocess.run(["git", f"--git-dir={gitdir}", "cat-file", "--batch-all-objects", "--batch"],
                            capture_output=True, timeout=60, check=True, env=env)
    return result.stdout


def state_leaks(world) -> dict[str, list[str]]:
    """Secrets found in any file under the state dir, or inside any repository found there."""
    found: dict[str, list[str]] = {}
    files = [p for p in world.state_dir.rglob("*") if p.is_file() and not p.is_symlink()]
    for path in files:
        if hits := leaks(path.read_bytes()):
            found[str(path)] = hits
    for head in (p for p in files if p.name == "HEAD" and (p.parent / "objects").is_dir()):
        if hits := leaks(git_objects(head.parent)):
            found[f"objects of {head.parent}"] = hits
    return found


def github_leaks(world, *numbers: int) -> dict[str, list[str]]:
    """Secrets in anything the runner sent to GitHub: request bodies, comments on ``numbers``, PRs."""
    found: dict[str, list[str]] = {}
    for request in world.gh.requests:
        if hits := leaks(f"{request.path}?{request.query}".encode() + (request.raw_body or b"")):
            found[f"{request.method} {request.path}"] = hits
    for number in numbers:
        for comment in world.gh.comments(DISPATCH, number):
            if hits := leaks(comment["body"] or ""):
                found[f"comment on #{number}"] = hits
    for pr in world.prs():
        if hits := leaks(f"{pr['title']}\n{pr['body']}"):
            found[f"PR #{pr['number']}"] = hits
    return found


def test_secrets_never_leak_from_a_diff_task_and_a_model_task_with_verification(secret_world, tmp_path):
    world = secret_world
    out = tmp_path / "verify-out"
    out.mkdir()
    verify = f'env > "$(mktemp {out}/env-XXXXXX)" && cp .git/config "$(mktemp {out}/gitconfig-XXXXXX)"'
    diff_task = world.file_issue(f"Make the greeting friendlier.\n\n{SEARCH_REPLACE}\n", title="Friendlier greeting")
    model_task = world.file_issue(RENAME, title="Rename greet")
    world.git.on_request(lambda request: time.sleep(0.2))  # git processes live long enough to be sampled
    with model(world, [reply(GOOD)], AGENT_VERIFY_COMMAND=verify, OPENAI_API_KEY=PROVIDER_KEYS["OPENAI_API_KEY"],
               LOG_FORMAT="text") as server, ArgvWatch() as watch:
        result = world.cli("run", "--once")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(world.prs()) == 2 and len(server.requests) == 1

    logs = result.stdout + result.stderr
    assert " DEBUG " in logs  # the most talkative level was on
    assert leaks(logs) == []
    assert github_leaks(world, diff_task, model_task) == {}
    assert any(world.state_dir.rglob("state.db")) and any(world.state_dir.rglob("mirrors/**/objects"))
    assert state_leaks(world) == {}
    assert leaks(git_objects(world.git.root / f"{TARGET}.git")) == []  # nothing pushed holds one
    assert [leaks(str(request)) for request in server.requests] == [[]]  # nor the prompt

    assert watch.samples > 20 and watch.leaking == []
    assert {"fetch", "push"} <= watch.runner_git_commands(), watch.git_argvs

    dumps = {p.name.split("-")[0]: p.read_text() for p in out.iterdir()}
    assert sorted(p.name.split("-")[0] for p in out.iterdir()) == ["env", "env", "gitconfig", "gitconfig"]
    for dump in (p.read_text() for p in out.iterdir()):
        assert leaks(dump) == []
        assert [name for name in SECRET_NAMES if name in dump] == []
    assert "PATH=" in dumps["env"] and "[core]" in dumps["gitconfig"]


def test_secrets_stay_out_of_error_messages_comments_and_json_logs(secret_world):
    world = secret_world
    world.env["LOG_FORMAT"] = "json"
    number = world.file_issue(f"Make the greeting friendlier.\n\n{SEARCH_REPLACE}\n")


    def deny_from_the_fetch_on(request) -> None:  # the ls-remote before it (2 requests) still works
        if len(world.git.requests) == 3:
            world.git.fail_next(r"git-upload-pack", 403, times=20)

    world.git.on_request(deny_from_the_fetch_on)
    with ArgvWatch() as watch:
        denied = world.cli("run", "--once")
        world.gh.revoke_token()
        revoked = world.cli("run", "--once")
    assert (denied.returncode, revoked.returncode) == (1, 1)
    status = status_of(world, number)
    assert "git fetch" in status and "403" in status and "agent-failed" in world.gh.labels_of(DISPATCH, number)
    assert "401" in revoked.stderr

    for result in (denied, revoked):
        lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
        assert lines and all(line.startswith("{") for line in lines)  # JSON, one object per line
        assert leaks(result.stdout + result.stderr) == []
    assert github_leaks(world, number) == {}
    assert state_leaks(world) == {}
    assert watch.leaking == []
