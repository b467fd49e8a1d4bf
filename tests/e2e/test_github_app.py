"""GitHub App auth end to end: no GITHUB_TOKEN, an RSA key made here, the fake GitHub checks the JWT and
issues expiring installation tokens; the PR, the comments and the push all come from the app's bot."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.e2e.conftest import DISPATCH, TARGET
from tests.e2e.test_flow import PLAIN

APP_ID = "913274"
BOT = "agent-runner-app[bot]"


def _key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


@pytest.fixture
def app_world(world, tmp_path: Path):
    private, public = _key_pair()
    key_file = tmp_path / "agent-runner-app.pem"
    key_file.write_text(private)
    app = world.gh.register_app(int(APP_ID), public, installation_id=55501, repos=[DISPATCH, TARGET],
                                token_lifetime=3600)
    pushed_with: list[str] = []

    def accept(token: str) -> bool:
        pushed_with.append(token)
        return world.gh.app_token_valid(token)

    world.git.accept = accept
    world.env.update(GITHUB_TOKEN=None, GITHUB_APP_ID=APP_ID, GITHUB_APP_PRIVATE_KEY_PATH=str(key_file))
    return world, app, private, pushed_with


def test_app_auth_opens_pr_as_the_bot(app_world):
    world, app, private, pushed_with = app_world
    number = world.file_issue(PLAIN)

    done = world.cli("run", "--once")

    assert done.returncode == 0, done.stderr
    [pr] = world.prs()
    assert pr["user"]["login"] == BOT
    [status] = world.runner_comments(number)
    assert status["user"]["login"] == BOT
    assert "agent-done" in [label["name"] for label in world.gh.issue(DISPATCH, number)["labels"]]
    assert app.minted and set(pushed_with) <= set(app.minted) and pushed_with  # git used installation tokens
    assert any(r.path == f"/repos/{DISPATCH}/installation" for r in world.gh.requests)  # id discovered
    logs = done.stdout + done.stderr
    assert "new installation token" in logs
    assert private.splitlines()[1] not in logs and all(t not in logs for t in app.minted)


def test_app_auth_mints_a_new_token_when_the_old_one_runs_out(app_world):
    world, app, _private, _pushed = app_world
    app.token_lifetime = 301.0  # inside the 5-minute refresh margin: every use mints a fresh token
    number = world.file_issue(PLAIN)

    done = world.cli("run", "--once", GITHUB_APP_INSTALLATION_ID="55501")

    assert done.returncode == 0, done.stderr
    assert len(app.minted) > 1
    assert world.prs()[0]["user"]["login"] == BOT and world.runner_comments(number)
    assert not any(r.path.endswith("/installation") for r in world.gh.requests)  # id given: no discovery


def test_app_auth_wrong_key_fails_clearly(app_world, tmp_path: Path):
    world, _app, _private, _pushed = app_world
    other = tmp_path / "other.pem"
    other.write_text(_key_pair()[0])
    world.file_issue(PLAIN)

    done = world.cli("run", "--once", GITHUB_APP_PRIVATE_KEY_PATH=str(other))

    assert done.returncode != 0
    assert "GitHub App" in done.stderr and "401" in done.stderr
    assert world.prs() == []


def test_app_auth_check_names_the_bot(app_world):
    world, _app, _private, _pushed = app_world

    done = world.cli("check")

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"authenticated as {BOT}" in done.stdout
