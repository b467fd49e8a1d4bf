"""The verify command: outcome, output tail, timeout with process-group kill, clean env, repo config."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from runner.agent.verify import REPO_CONFIG, run_verify, verify_command_for
from runner.config import Settings
from runner.errors import TaskFailed


def settings(verify_command: str | None = None) -> Settings:
    return Settings(github_token="test-token", dispatch_repo="acme/agent-tasks", verify_command=verify_command)


def test_run_verify_passing_command(tmp_path: Path) -> None:
    (tmp_path / "test_app.py").write_text("print('3 passed')\n")

    result = run_verify("python3 test_app.py", tmp_path, timeout=30)

    assert result.ok and result.exit_code == 0 and not result.timed_out
    assert result.output_tail == "3 passed"


def test_run_verify_failing_command_keeps_stderr_in_tail(tmp_path: Path) -> None:
    result = run_verify("echo 'collected 2 items'; echo 'E   assert 1 == 2' >&2; exit 1", tmp_path, timeout=30)

    assert not result.ok
    assert result.exit_code == 1
    assert result.output_tail == "collected 2 items\nE   assert 1 == 2"


def test_run_verify_output_tail_is_bounded(tmp_path: Path) -> None:
    result = run_verify("seq 1 100000; exit 3", tmp_path, timeout=30)

    assert result.exit_code == 3
    assert result.output_tail.splitlines()[-1] == "100000"
    assert len(result.output_tail.splitlines()) == 80


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper that is not us does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize("command", [
    "sleep 100 & echo $! > grandchild.pid; wait",  # times out
    "sleep 100 & echo $! > grandchild.pid; exit 0",  # exits, leaving a straggler behind
])
def test_run_verify_kills_the_whole_process_group(tmp_path: Path, command: str) -> None:
    started = time.monotonic()

    result = run_verify(command, tmp_path, timeout=1)

    grandchild = int((tmp_path / "grandchild.pid").read_text())
    assert time.monotonic() - started < 10
    assert not _alive(grandchild)
    if "wait" in command:
        assert result.timed_out and not result.ok and result.exit_code is None
        assert "killed after 1 s" in result.output_tail


def test_run_verify_env_holds_no_runner_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_TOKEN", "GH_TOKEN", "OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY", "AGENT_WEBHOOK_SECRET"):
        monkeypatch.setenv(name, "s3cret-" + name.lower())

    result = run_verify("env", tmp_path, timeout=30)

    names = {line.split("=", 1)[0] for line in result.output_tail.splitlines()}
    assert "s3cret" not in result.output_tail
    assert {"PATH", "HOME", "GIT_CONFIG_NOSYSTEM"} <= names
    assert names <= {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "HOME", "TMPDIR", "TERM", "NO_COLOR", "CI",
                     "PYTHONDONTWRITEBYTECODE", "GIT_CONFIG_NOSYSTEM", "GIT_TERMINAL_PROMPT", "PWD", "SHLVL", "_"}


def test_run_verify_home_is_not_the_runners(tmp_path: Path) -> None:
    result = run_verify('echo "$HOME"; touch "$HOME/cache-file"', tmp_path, timeout=30)

    assert result.ok
    assert result.output_tail != os.path.expanduser("~")
    assert not Path(result.output_tail).exists()  # removed afterwards


@pytest.mark.parametrize(("toml", "expected"), [
    ('[verify]\ncommand = "pytest -q tests/unit"\n', "pytest -q tests/unit"),
    ('[verify]\ncommand = "  "\n', None),
    ('[tool.other]\nx = 1\n', None),
])
def test_verify_command_for_reads_repo_config(tmp_path: Path, toml: str, expected: str | None) -> None:
    (tmp_path / REPO_CONFIG).write_text(toml)

    assert verify_command_for(tmp_path, settings()) == expected


def test_verify_command_for_prefers_the_environment(tmp_path: Path) -> None:
    (tmp_path / REPO_CONFIG).write_text('[verify]\ncommand = "make test"\n')

    assert verify_command_for(tmp_path, settings("pytest -q")) == "pytest -q"


def test_verify_command_for_without_config_is_none(tmp_path: Path) -> None:
    assert verify_command_for(tmp_path, settings()) is None


def test_verify_command_for_ignores_a_symlinked_config(tmp_path: Path) -> None:
    outside = tmp_path / "outside.toml"
    outside.write_text('[verify]\ncommand = "cat /etc/passwd"\n')
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / REPO_CONFIG).symlink_to(outside)

    assert verify_command_for(clone, settings()) is None


@pytest.mark.parametrize("toml", ['[verify\ncommand = "pytest"\n', "[verify]\ncommand = ['pytest', '-q']\n"])
def test_verify_command_for_bad_repo_config_fails_task(tmp_path: Path, toml: str) -> None:
    (tmp_path / REPO_CONFIG).write_text(toml)

    with pytest.raises(TaskFailed, match=REPO_CONFIG):
        verify_command_for(tmp_path, settings())
