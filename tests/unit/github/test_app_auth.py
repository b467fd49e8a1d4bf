"""GitHub App settings and the installation-token provider (a fake minter and a fake clock)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from runner import config
from runner.errors import ConfigError
from runner.github.app_auth import AppTokenProvider
from runner.logs import Redactor

PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn\n-----END RSA PRIVATE KEY-----\n"
BASE = {"AGENT_DISPATCH_REPO": "acme/agent-tasks"}


class FakeMinter:
    def __init__(self, lifetime: float, clock):
        self.lifetime, self.clock = lifetime, clock
        self.minted: list[str] = []
        self.lookups: list[str] = []

    def installation_id(self, repo: str) -> int:
        self.lookups.append(repo)
        return 55501

    def mint(self, installation_id: int) -> tuple[str, float]:
        self.minted.append(f"ghs_installation{installation_id}n{len(self.minted) + 1}")
        return self.minted[-1], self.clock() + self.lifetime

    def slug(self) -> str:
        return "acme-agent"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _settings(**extra: str) -> config.Settings:
    return config.from_mapping({**BASE, "GITHUB_APP_ID": "913274", "GITHUB_APP_PRIVATE_KEY": PEM, **extra})


def test_config_app_replaces_token(tmp_path: Path):
    key = tmp_path / "app.pem"
    key.write_text(PEM)
    s = config.from_mapping({**BASE, "GITHUB_APP_ID": "913274", "GITHUB_APP_PRIVATE_KEY_PATH": str(key),
                             "GITHUB_APP_INSTALLATION_ID": "55501"})
    assert s.uses_app and s.github_token == ""
    assert (s.github_app_id, s.github_app_private_key_path, s.github_app_installation_id) == (913274, key, 55501)


def test_config_app_key_is_not_in_repr():
    assert "MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn" not in repr(_settings())


@pytest.mark.parametrize("env,problem", [
    ({"GITHUB_APP_ID": "913274"}, "GITHUB_APP_PRIVATE_KEY_PATH: required with GITHUB_APP_ID"),
    ({"GITHUB_APP_ID": "913274", "GITHUB_APP_PRIVATE_KEY": PEM, "GITHUB_APP_PRIVATE_KEY_PATH": "/run/app.pem"},
     "set only one"),
    ({"GITHUB_APP_ID": "913274", "GITHUB_APP_PRIVATE_KEY_PATH": "/nonexistent/app.pem"}, "is not a readable file"),
    ({"GITHUB_APP_ID": "913274", "GITHUB_APP_PRIVATE_KEY": "not-a-key-at-all"}, "not a PEM private key"),
    ({"GITHUB_APP_ID": "my-app", "GITHUB_APP_PRIVATE_KEY": PEM}, "GITHUB_APP_ID: 'my-app' is not a whole number"),
    ({"GITHUB_APP_PRIVATE_KEY": PEM}, "GITHUB_APP_ID: required when"),
    ({}, "GITHUB_TOKEN: required"),
])
def test_config_app_problems(env, problem):
    with pytest.raises(ConfigError) as caught:
        config.from_mapping({**BASE, **env})
    assert any(problem in p for p in caught.value.problems), caught.value.problems


def test_app_token_provider_reuses_then_refreshes_before_expiry():
    clock = Clock()
    minter = FakeMinter(3600, clock)
    seen: list[str] = []
    provider = AppTokenProvider(_settings(), minter=minter, clock=clock, on_token=seen.append)

    first = provider()
    clock.now += 3000  # 10 minutes left: still good
    assert provider() == first
    clock.now += 301  # inside the 5-minute margin: a new one
    second = provider()

    assert (first, second) == ("ghs_installation55501n1", "ghs_installation55501n2")
    assert seen == [first, second] and minter.lookups == ["acme/agent-tasks"]
    assert provider.bot_login == "acme-agent[bot]"


def test_app_token_provider_uses_the_configured_installation():
    clock = Clock()
    minter = FakeMinter(3600, clock)
    provider = AppTokenProvider(_settings(GITHUB_APP_INSTALLATION_ID="777"), minter=minter, clock=clock)
    assert provider() == "ghs_installation777n1" and minter.lookups == []


def test_app_token_provider_mints_once_for_many_threads():
    clock = Clock()
    minter = FakeMinter(3600, clock)
    provider = AppTokenProvider(_settings(), minter=minter, clock=clock)
    tokens: list[str] = []
    threads = [threading.Thread(target=lambda: tokens.append(provider())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(tokens) == {"ghs_installation55501n1"} and len(minter.minted) == 1


def test_redactor_add_scrubs_a_token_learnt_later():
    redactor = Redactor(["static-t0ken-value"])
    redactor.add("ghs_installation55501n2")
    record = logging.LogRecord("runner", logging.INFO, __file__, 1, "push with %s failed",
                               ("ghs_installation55501n2",), None)
    redactor.filter(record)
    assert record.getMessage() == "push with *** failed"
