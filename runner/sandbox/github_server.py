"""A local GitHub-like REST server for the ``demo`` command and the end-to-end tests.

It behaves like api.github.com where the runner can tell the difference: ETags and 304s that do
not cost rate limit, ``Link`` pagination through ``/repositories/{id}/...``, rate-limit headers,
labels created on first use, ``labeled`` events with their actor, 422s for duplicate pull requests
and over-long bodies, and injectable faults (5xx, secondary limits, writes that land but answer
502). Standard library only: it ships in the runner package.

    with FakeGitHub(token="test-token") as gh:
        gh.add_repo("acme/tasks", clone_url="http://127.0.0.1:9999/acme/tasks.git")
        gh.create_issue("acme/tasks", title="Add /healthz", author="alice", labels=["copilot-agent"])
        ...  # point GITHUB_API_URL at gh.url
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Self

from runner.sandbox.gh_apps import FakeApp, FakeApps
from runner.sandbox.gh_http import GitHubHTTPServer
from runner.sandbox.gh_pipeline import ApiPipeline, Validator
from runner.sandbox.gh_render import Renderer
from runner.sandbox.gh_state import GitHubState
from runner.sandbox.gh_traffic import Fault, RecordedRequest

__all__ = ["FakeGitHub", "RecordedRequest"]


class FakeGitHub:
    """GitHub's REST API under ``{url}`` (``http://127.0.0.1:PORT/api/v3``, a GHES-style prefix).

    ``validator(method, path, query, headers, body) -> list[str]`` checks each request (see
    ``tests/fakes/openapi_validator.py``); what it finds collects in ``violations``. The token's
    user (``token_user``, default ``agent-runner-bot``) is admin on every repo unless
    ``set_permission`` says otherwise. ``clock`` stamps created_at/updated_at (epoch seconds).
    Use as a context manager, or call ``stop()``.
    """

    def __init__(self, token: str = "test-token", validator: Validator | None = None,
                 token_user: str = "agent-runner-bot", clock: Callable[[], float] = time.time):
        self._state = GitHubState(token_user, clock)
        self._pipeline = ApiPipeline(self._state, token, validator)
        self._server: GitHubHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle ------------------------------------------------------------------------------

    def start(self) -> Self:
        server = self._bind()
        if self._thread is None:
            self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="fake-github", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        if self._thread is not None:
            server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        server.drop_connections()
        server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _bind(self) -> GitHubHTTPServer:
        if self._server is None:
            self._server = GitHubHTTPServer(self._pipeline)
            self._pipeline.web = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self._server

    @property
    def url(self) -> str:
        """The ``GITHUB_API_URL`` value (binds the port on first use; kept after ``stop``)."""
        self._ensure_port()
        return self._pipeline.web + self._pipeline.prefix

    def _ensure_port(self) -> None:
        if not self._pipeline.web.rpartition(":")[2].isdigit():  # never bound yet
            self._bind()

    # configuration --------------------------------------------------------------------------

    def add_attachment(self, asset_id: str, content: bytes, content_type: str = "image/png") -> str:
        """A file "uploaded" to an issue; its URL (web host, needs the token) for an issue body."""
        self._ensure_port()
        with self._state.lock:
            self._pipeline.attachments[asset_id] = (content, content_type)
        return f"{self._pipeline.web}/user-attachments/assets/{asset_id}"

    @property
    def token_user(self) -> str:
        return self._state.token_user

    @token_user.setter
    def token_user(self, login: str) -> None:
        with self._state.lock:
            self._state.token_user = login
            self._state.add_user(login)

    @property
    def compare(self) -> Callable[[str, str, str], int | None] | None:
        """``compare(repo, base, head)`` -> commits head is ahead of base, None if head is missing."""
        return self._state.compare

    @compare.setter
    def compare(self, hook: Callable[[str, str, str], int | None] | None) -> None:
        self._state.compare = hook

    def add_user(self, login: str, type: str = "User") -> dict[str, Any]:
        with self._state.lock:
            return self._render().user(self._state.add_user(login, type).login)

    def add_repo(self, full_name: str, clone_url: str | None = None, default_branch: str = "main",
                 private: bool = False) -> dict[str, Any]:
        with self._state.lock:
            render = self._render()
            url = clone_url or f"{render.web}/{full_name}.git"
            repo = self._state.add_repo(full_name, url, default_branch, private)
            return render.repo(repo, self._state.role(repo, self.token_user))

    def set_permission(self, repo: str, login: str, role: str) -> None:
        """role: admin|maintain|write|triage|read|none (a login never mentioned anywhere is unknown: 404)."""
        with self._state.lock:
            self._state.set_permission(self._state.repo(repo), login, role)

    def register_app(self, app_id: int, public_key_pem: str, *, slug: str = "agent-runner-app",
                     installation_id: int = 4242, repos: Iterable[str] = (), token_lifetime: float = 3600.0) -> FakeApp:
        """A GitHub App installed on ``repos``: its installation tokens (minted with a JWT signed by the
        private key of ``public_key_pem``) act as ``<slug>[bot]``, which becomes ``token_user``."""
        with self._state.lock:
            if self._pipeline.apps is None:
                self._pipeline.apps = FakeApps(self._state.clock)
            app = FakeApp(app_id, public_key_pem, slug, installation_id, tuple(repos), token_lifetime)
            self._pipeline.apps.register(app)
            self._state.token_user = app.bot_login
            self._state.add_user(app.bot_login, "Bot")
            return app

    def app_token_valid(self, token: str) -> bool:
        """Whether ``token`` is an unexpired installation token (``GitServer(accept=...)`` takes this)."""
        with self._state.lock:
            return self._pipeline.apps is not None and self._pipeline.apps.valid(token)

    def revoke_token(self) -> None:
        with self._state.lock:
            self._pipeline.revoked = True

    def restore_token(self) -> None:
        """The token works again (the user fixed it) after ``revoke_token``."""
        with self._state.lock:
            self._pipeline.revoked = False

    # acting as users (no request, no rate limit) --------------------------------------------

    def create_issue(self, repo: str, title: str, body: str | None = "", author: str | None = None,
                     labels: Iterable[str] = (), labeled_by: str | None = None) -> dict[str, Any]:
        """Files an issue as ``author``; each label gets a ``labeled`` event by ``labeled_by`` (default: author)."""
        with self._state.lock:
            r = self._state.repo(repo)
            author = author or self.token_user
            issue = self._state.create_issue(r, title, body, author, list(labels), labeled_by or author)
            return self._render().issue(r, issue, single=True)

    def add_label_to_issue(self, repo: str, number: int, name: str, actor: str | None = None) -> None:
        """As a user in the web UI: adds the label (creating it if new), records ``labeled``, bumps updated_at."""
        with self._state.lock:
            r = self._state.repo(repo)
            issue = self._state.issue(r, number)
            self._state.add_labels(r, issue, [name], actor or issue.author)

    def remove_label_from_issue(self, repo: str, number: int, name: str, actor: str | None = None) -> None:
        with self._state.lock:
            r = self._state.repo(repo)
            issue = self._state.issue(r, number)
            self._state.remove_label(r, issue, name, actor or issue.author)

    def add_comment(self, repo: str, number: int, body: str, author: str | None = None) -> dict[str, Any]:
        with self._state.lock:
            r = self._state.repo(repo)
            comment = self._state.add_comment(r, self._state.issue(r, number), body, author or self.token_user)
            return self._render().comment(r, comment)

    def edit_issue(self, repo: str, number: int, actor: str | None = None, **fields: Any) -> dict[str, Any]:
        """Changes ``title``, ``body``, ``state`` or ``labels`` as ``actor`` would in the UI."""
        with self._state.lock:
            r = self._state.repo(repo)
            issue = self._state.issue(r, number)
            self._state.edit_issue(r, issue, actor or issue.author, fields)
            return self._render().issue(r, issue, single=True)

    def create_pull(self, repo: str, head: str, title: str = "Change", body: str | None = "",
                    base: str | None = None, author: str | None = None, draft: bool = False) -> dict[str, Any]:
        with self._state.lock:
            r = self._state.repo(repo)
            issue = self._state.create_pull(r, author or self.token_user, title, head,
                                            base or r.default_branch, body, draft)
            return self._render().pull(r, issue, single=True)

    # inspection -----------------------------------------------------------------------------

    def issue(self, repo: str, number: int) -> dict[str, Any]:
        with self._state.lock:
            r = self._state.repo(repo)
            return self._render().issue(r, self._state.issue(r, number), single=True)

    def labels_of(self, repo: str, number: int) -> list[str]:
        with self._state.lock:
            return [lab.name for lab in self._state.issue(self._state.repo(repo), number).labels]

    def comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        with self._state.lock:
            r = self._state.repo(repo)
            issue = self._state.issue(r, number)
            return [self._render().comment(r, r.comments[c]) for c in issue.comment_ids]

    def events(self, repo: str, number: int) -> list[dict[str, Any]]:
        with self._state.lock:
            r = self._state.repo(repo)
            return [self._render().event(r, e) for e in self._state.issue(r, number).events]

    def pulls(self, repo: str) -> list[dict[str, Any]]:
        """Every pull request in the repo, oldest first, any state."""
        with self._state.lock:
            r = self._state.repo(repo)
            return [self._render().pull(r, i, single=True) for i in r.issues.values() if i.pull]

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._pipeline.requests)

    @property
    def violations(self) -> list[str]:
        with self._state.lock:
            return list(self._pipeline.violations)

    # rate limits and faults -----------------------------------------------------------------

    @property
    def rate_limit(self) -> int:
        return self._pipeline.rate.limit

    @rate_limit.setter
    def rate_limit(self, limit: int) -> None:
        with self._state.lock:
            self._pipeline.rate.limit = self._pipeline.rate.remaining = limit

    @property
    def rate_remaining(self) -> int:
        with self._state.lock:
            self._pipeline.rate.refresh()
            return self._pipeline.rate.remaining

    def set_rate_remaining(self, n: int, reset_in: float = 3600) -> None:
        """At 0, requests answer 403 with ``x-ratelimit-remaining: 0`` until ``reset_in`` seconds pass."""
        with self._state.lock:
            self._pipeline.rate.remaining = n
            self._pipeline.rate.reset = time.time() + reset_in

    def fail_next(self, method: str, path_regex: str, status: int, *, times: int = 1,
                  headers: dict[str, str] | None = None, body: Any = None, after_effect: bool = False,
                  delay: float = 0.0) -> None:
        """The next ``times`` requests whose method matches (``*``: any) and whose path (no ``/api/v3``,
        no query) fully matches ``path_regex`` answer ``status``; status 0 drops the connection with
        no answer at all (a reset). ``after_effect``: the request is performed first, then answered
        with the error. ``body``: dict (JSON) or str (sent as HTML). ``delay``: seconds before answering."""
        with self._state.lock:
            self._pipeline.faults.append(Fault(method.upper(), re.compile(path_regex), status, times,
                                               dict(headers or {}), body, after_effect, delay))

    def slow_next(self, method: str, path_regex: str, seconds: float, *, times: int = 1) -> None:
        """The next ``times`` matching requests take effect, and their real answer is sent only after
        ``seconds`` (longer than the client's timeout: a timeout after the write landed)."""
        with self._state.lock:
            self._pipeline.faults.append(Fault(method.upper(), re.compile(path_regex), None, times,
                                               after_effect=True, delay=seconds))

    @property
    def pending_faults(self) -> int:
        """Injected faults not yet consumed (a test can assert its fault actually fired)."""
        with self._state.lock:
            return sum(f.times for f in self._pipeline.faults)

    def on_request(self, callback: Callable[[RecordedRequest], None]) -> None:
        """``callback(request)`` runs before each request is handled (status still None)."""
        self._pipeline.before.append(callback)

    def after_request(self, callback: Callable[[RecordedRequest], None]) -> None:
        """``callback(request)`` runs after each response has been sent."""
        self._pipeline.after.append(callback)

    def _render(self) -> Renderer:
        self._ensure_port()  # urls in returned dicts must name the real port
        return Renderer(self._pipeline.web + self._pipeline.prefix, self._pipeline.web, self._state.users)
