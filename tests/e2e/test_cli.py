"""The other commands: check, status, bad configuration, demo."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.e2e.conftest import PROJECT, TOKEN
from tests.e2e.test_flow import BACKEND


def test_cli_bad_configuration_lists_every_problem_and_exits_2_before_any_request(world):
    result = world.cli("run", "--once", GITHUB_TOKEN="", AGENT_WORKERS="many", AGENT_DISPATCH_REPO="nope",
                       AGENT_MIN_PERMISSION="owner")
    assert result.returncode == 2
    for name in ("GITHUB_TOKEN", "AGENT_WORKERS", "AGENT_DISPATCH_REPO", "AGENT_MIN_PERMISSION"):
        assert name in result.stderr
    assert "example:" in result.stderr
    assert world.gh.requests == []


def test_cli_env_file_is_read_and_environment_wins(world):
    (world.tmp / ".env").write_text("AGENT_WORKERS=zero\nAGENT_MAX_TURNS=also-bad\n")
    result = world.cli("check", AGENT_MAX_TURNS="3")
    assert result.returncode == 2
    assert "AGENT_WORKERS" in result.stderr and "AGENT_MAX_TURNS" not in result.stderr


def test_cli_check_passes_against_a_reachable_github(world):
    result = world.cli("check")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("ok    token") for line in lines)
    assert any("acme/widgets" in line and line.startswith("ok") for line in lines)
    assert any("model" in line and line.startswith("skip") for line in lines)
    assert TOKEN not in result.stdout + result.stderr


def test_cli_check_fails_with_a_wrong_token(world):
    result = world.cli("check", GITHUB_TOKEN="ghs_wrongwrongwrong")
    assert result.returncode == 2
    assert "FAIL  token" in result.stdout
    assert "ghs_wrongwrongwrong" not in result.stdout + result.stderr


def test_cli_status_lists_tasks_with_pr_links(world):
    world.file_issue(BACKEND)
    assert world.cli("run", "--once").returncode == 0
    text = world.cli("status")
    assert text.returncode == 0 and "done" in text.stdout and "/pull/1" in text.stdout
    data = json.loads(world.cli("status", "--json").stdout)
    assert data[0]["task_id"] == "550e8400-e29b-41d4-a716-446655440000"
    assert data[0]["state"] == "done" and data[0]["pr_url"].endswith("/pull/1")


def test_cli_json_logs_are_one_object_per_line(world):
    world.file_issue(BACKEND)
    result = world.cli("run", "--once", LOG_FORMAT="json", LOG_LEVEL="INFO")
    assert result.returncode == 0
    records = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert any(r.get("task_id") == "550e8400-e29b-41d4-a716-446655440000" for r in records)


def test_cli_demo_runs_with_no_credentials(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(PROJECT),
           "GIT_CONFIG_GLOBAL": "/dev/null"}
    result = subprocess.run([sys.executable, "-m", "runner", "demo"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Pull request opened" in result.stdout
    assert "Fixes acme/agent-tasks#1" in result.stdout
    assert '+        if self.path == "/healthz":' in result.stdout
