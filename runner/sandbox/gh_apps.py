"""GitHub Apps on the fake GitHub: RS256 JWTs checked against a registered public key, expiring
installation tokens, and the three JWT-authenticated routes the runner uses.

PyJWT (with ``cryptography``) is imported only when a JWT arrives: the fake stays standard-library
only for ``demo``, which never registers an app.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from runner.sandbox.gh_state import ApiError

_ACCESS = re.compile(r"/app/installations/(\d+)/access_tokens")
_REPO_INSTALLATION = re.compile(r"/repos/([^/]+/[^/]+)/installation")
_PERMISSIONS = {"contents": "write", "issues": "write", "pull_requests": "write", "metadata": "read"}


@dataclass
class FakeApp:
    app_id: int
    public_key_pem: str
    slug: str
    installation_id: int
    repos: tuple[str, ...]
    token_lifetime: float  # seconds an installation token lives (GitHub: 3600)
    minted: list[str] = field(default_factory=list)  # every installation token issued, oldest first

    @property
    def bot_login(self) -> str:
        return f"{self.slug}[bot]"


class FakeApps:
    """The registered apps and the installation tokens they were issued (token -> expiry)."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self.apps: dict[int, FakeApp] = {}
        self.tokens: dict[str, float] = {}

    def register(self, app: FakeApp) -> None:
        self.apps[app.app_id] = app

    def valid(self, token: str) -> bool:
        return self.clock() < self.tokens.get(token, 0.0)

    @staticmethod
    def handles(path: str) -> bool:
        return path == "/app" or bool(_ACCESS.fullmatch(path) or _REPO_INSTALLATION.fullmatch(path))

    def answer(self, method: str, path: str, authorization: str) -> tuple[int, dict[str, Any]]:
        """(status, body) for one app route; ApiError for a bad JWT or an unknown installation."""
        app = self._authenticate(authorization)
        if path == "/app" and method == "GET":
            return 200, {"id": app.app_id, "slug": app.slug, "name": app.slug, "node_id": f"A_{app.app_id}",
                         "owner": {"login": app.repos[0].split("/")[0] if app.repos else app.slug},
                         "permissions": _PERMISSIONS, "events": ["issues", "issue_comment"]}
        found = _REPO_INSTALLATION.fullmatch(path)
        if found and method == "GET":
            if found.group(1).lower() not in {r.lower() for r in app.repos}:
                raise ApiError(404, "Not Found")
            return 200, {"id": app.installation_id, "app_id": app.app_id, "app_slug": app.slug,
                         "target_type": "Organization", "permissions": _PERMISSIONS, "events": [],
                         "account": {"login": found.group(1).split("/")[0]}, "repository_selection": "selected"}
        found = _ACCESS.fullmatch(path)
        if found and method == "POST":
            if int(found.group(1)) != app.installation_id:
                raise ApiError(404, "Not Found")
            return 201, self._mint(app)
        raise ApiError(404, "Not Found")

    def _mint(self, app: FakeApp) -> dict[str, Any]:
        token = "ghs_" + secrets.token_urlsafe(27)
        expires = self.clock() + app.token_lifetime
        self.tokens[token] = expires
        app.minted.append(token)
        stamp = datetime.fromtimestamp(expires, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"token": token, "expires_at": stamp, "permissions": _PERMISSIONS, "repository_selection": "selected"}

    def _authenticate(self, authorization: str) -> FakeApp:
        """Like GitHub: a Bearer RS256 JWT whose ``iss`` is a registered app, signed by its key, in date."""
        import jwt  # PyJWT; only apps need it

        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer":
            raise ApiError(401, "A JSON web token could not be decoded")
        try:
            claimed = jwt.decode(value.strip(), options={"verify_signature": False})
            app = self.apps.get(int(claimed.get("iss", 0)))
            if app is None:
                raise ApiError(401, "A JSON web token could not be decoded")
            claims = jwt.decode(value.strip(), app.public_key_pem, algorithms=["RS256"],
                                options={"require": ["iat", "exp", "iss"]}, leeway=0)
        except (jwt.PyJWTError, ValueError):
            raise ApiError(401, "A JSON web token could not be decoded") from None
        if claims["exp"] - claims["iat"] > 600 + 60:  # GitHub: at most ten minutes (iat may be backdated)
            raise ApiError(401, "'Expiration time' claim ('exp') is too far in the future")
        return app
