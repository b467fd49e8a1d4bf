"""GitHub App authentication: installation tokens minted with PyGithub and refreshed before they expire.

``AppTokenProvider`` is the ``token_provider`` callable ``RestClient`` and ``GitWorkspace`` already take,
so every request and every push uses the current token. PyGithub is imported only when an app is
configured (start-up stays fast for plain ``GITHUB_TOKEN`` users).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Protocol

from runner.config import Settings
from runner.errors import GitHubAuthError

log = logging.getLogger("runner.github.app")
REFRESH_MARGIN = 300.0  # seconds before expiry a token is replaced (GitHub's tokens live an hour)


class Minter(Protocol):
    """What the provider needs from GitHub's app endpoints (JWT-authenticated)."""

    def installation_id(self, repo: str) -> int: ...

    def mint(self, installation_id: int) -> tuple[str, float]:
        """A new installation token and its expiry (epoch seconds)."""
        ...

    def slug(self) -> str: ...


class PyGithubMinter:
    """``Minter`` on PyGithub's ``GithubIntegration`` (it signs the RS256 JWT for each request)."""

    def __init__(self, app_id: int, private_key: str, base_url: str, timeout: float = 30.0,
                 user_agent: str = "agent-runner"):
        from github import Auth, GithubIntegration

        self._gi = GithubIntegration(auth=Auth.AppAuth(app_id, private_key), base_url=base_url,
                                     timeout=int(timeout), retry=None, user_agent=user_agent)

    def _call(self, what: str, fn: Callable[[], object]) -> object:
        from github import GithubException

        try:
            return fn()
        except GithubException as bad:  # the message never carries the key or a token
            message = bad.data.get("message") if isinstance(bad.data, dict) else bad.data
            raise GitHubAuthError(f"GitHub App: {what} failed: {bad.status} {message}") from None

    def installation_id(self, repo: str) -> int:
        owner, name = repo.split("/", 1)
        return int(self._call(f"finding the installation on {repo}",
                              lambda: self._gi.get_repo_installation(owner, name).id))  # type: ignore[attr-defined]

    def mint(self, installation_id: int) -> tuple[str, float]:
        auth = self._call("minting an installation token", lambda: self._gi.get_access_token(installation_id))
        expires = auth.expires_at  # type: ignore[attr-defined]
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=timezone.utc)
        return auth.token, expires.timestamp()  # type: ignore[attr-defined]

    def slug(self) -> str:
        return str(self._call("reading the app", lambda: self._gi.get_app().slug))


def private_key(settings: Settings) -> str:
    """The PEM text, from GITHUB_APP_PRIVATE_KEY or the file GITHUB_APP_PRIVATE_KEY_PATH names."""
    if settings.github_app_private_key:
        return settings.github_app_private_key.replace("\\n", "\n")  # one-line .env values
    assert settings.github_app_private_key_path is not None  # config checked one is set
    return settings.github_app_private_key_path.read_text()


class AppTokenProvider:
    """Callable returning the current installation token; mints a new one ``margin`` seconds before expiry.

    ``on_token(token)`` runs for each new token (the log redactor learns it). Thread-safe: workers
    share one provider, and only one of them mints when the token runs out.
    """

    def __init__(self, settings: Settings, *, minter: Minter | None = None, clock: Callable[[], float] = time.time,
                 margin: float = REFRESH_MARGIN, on_token: Callable[[str], None] | None = None):
        assert settings.github_app_id is not None
        self._minter = minter or PyGithubMinter(settings.github_app_id, private_key(settings),
                                                settings.github_api_url, settings.github_timeout,
                                                user_agent=f"{settings.name} (agent-runner; GitHub App auth)")
        self._installation = settings.github_app_installation_id
        self._repo = settings.dispatch_repo
        self._clock, self._margin, self._on_token = clock, margin, on_token
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0
        self._slug: str | None = None

    def __call__(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._expires - self._margin:
                self._refresh()
            assert self._token is not None
            return self._token

    def _refresh(self) -> None:
        if self._installation is None:  # discovered once from the dispatch repo
            self._installation = self._minter.installation_id(self._repo)
        token, expires = self._minter.mint(self._installation)
        if self._on_token:
            self._on_token(token)
        self._token, self._expires = token, expires
        log.info("GitHub App: new installation token for installation %s, valid for %.0f s",
                 self._installation, expires - self._clock())

    @property
    def bot_login(self) -> str:
        """The login comments and pull requests come from: ``<app-slug>[bot]``."""
        with self._lock:
            if self._slug is None:
                self._slug = self._minter.slug()
            return f"{self._slug}[bot]"
