"""What happens to one request before and after its route: recording, OpenAPI checks, auth, rate
limits, injected faults, pagination with ``Link``, ETags and ``304 Not Modified``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from runner.sandbox.gh_apps import FakeApps
from runner.sandbox.gh_render import Renderer
from runner.sandbox.gh_router import dispatch
from runner.sandbox.gh_routes import Ctx, Reply
from runner.sandbox.gh_state import ApiError, GitHubState
from runner.sandbox.gh_traffic import Fault, Headers, RateLimit, RecordedRequest

Validator = Callable[[str, str, dict, dict, bytes], list]
DOCS = "https://docs.github.com/rest"
_INVALID_JSON = object()
_REPOSITORIES = re.compile(r"/repositories/(\d+)(/.*)?")
_DEFAULT_FAULT_MESSAGES = {401: "Bad credentials", 404: "Not Found", 422: "Validation Failed",
                           500: "Server Error", 502: "Server Error", 503: "Service Unavailable"}
_SECONDARY = ("You have exceeded a secondary rate limit. Please wait a few minutes before you try "
              "again. If you reach out to GitHub Support for help, please include the request ID.")


Answer = tuple[int, dict[str, str], bytes]
_ATTACHMENTS = "/user-attachments/assets/"


class ApiPipeline:
    """Turns (method, target, headers, body) into (status, headers, payload) over a ``GitHubState``."""

    def __init__(self, state: GitHubState, token: str, validator: Validator | None, prefix: str = "/api/v3"):
        self.state, self.token, self.validator, self.prefix = state, token, validator, prefix
        self.revoked = False
        self.apps: FakeApps | None = None  # GitHub Apps, once FakeGitHub.register_app made one
        self.rate = RateLimit()
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        self.before: list[Callable[[RecordedRequest], None]] = []
        self.after: list[Callable[[RecordedRequest], None]] = []
        self.web = "http://127.0.0.1"
        self.attachments: dict[str, tuple[bytes, str]] = {}  # user-attachment id -> (bytes, content type)
        self._ids = itertools.count(1)

    def handle(self, method: str, target: str, headers: Headers, raw: bytes) -> tuple[RecordedRequest, Answer]:
        split = urlsplit(target)
        prefixed = split.path.startswith(self.prefix + "/")
        parsed = _parse_json(raw)
        rec = RecordedRequest(method, split.path[len(self.prefix):] if prefixed else split.path,
                              dict(parse_qsl(split.query, keep_blank_values=True)), headers, None,
                              time.monotonic(), None if parsed is _INVALID_JSON else parsed, raw)
        with self.state.lock:
            self.requests.append(rec)
        for callback in list(self.before):
            callback(rec)
        if not prefixed and rec.path.startswith(_ATTACHMENTS):
            rec.status = (answer := self._attachment(rec))[0]
            return rec, answer
        self._validate(rec)
        with self.state.lock:
            answer = self._answer(rec) if prefixed else self._error(ApiError(404, "Not Found"))
        if rec.held:
            time.sleep(rec.held)  # outside the lock: other requests go on while this one hangs
        rec.status = answer[0]
        return rec, answer

    def _attachment(self, rec: RecordedRequest) -> Answer:
        """A file uploaded to an issue (web host, not the API): private repos need the token."""
        found = self.attachments.get(rec.path[len(_ATTACHMENTS):])
        if found is None or not self._authorized(rec.headers.get("authorization", "")):
            return 404, {"Content-Type": "text/plain"}, b"Not Found"
        return 200, {"Content-Type": found[1]}, found[0]

    def finished(self, rec: RecordedRequest) -> None:
        for callback in list(self.after):
            callback(rec)

    def _validate(self, rec: RecordedRequest) -> None:
        if self.validator is None:
            return
        try:
            found = self.validator(rec.method, rec.path, dict(rec.query), dict(rec.headers), rec.raw_body)
        except Exception as exc:  # noqa: BLE001 - a broken validator must show up in the test, not kill the server
            found = [f"{rec.method} {rec.path}: validator crashed: {exc!r}"]
        with self.state.lock:
            self.violations.extend(found)

    def _answer(self, rec: RecordedRequest) -> Answer:
        if self.apps is not None and self.apps.handles(rec.path):
            return self._app_answer(rec)
        if not self._authorized(rec.headers.get("authorization", "")):
            return self._error(ApiError(401, "Bad credentials"))
        self.rate.refresh()
        if self.rate.remaining <= 0 and rec.path != "/rate_limit":
            user_id = self.state.add_user(self.state.token_user).id
            return self._error(ApiError(403, f"API rate limit exceeded for user ID {user_id}."))
        fault = self._take_fault(rec)
        rec.held = fault.delay if fault else 0.0
        if fault and not fault.after_effect:
            return self._fault_answer(fault)
        answer = self._run(rec)
        if fault and fault.status is not None:  # the write landed; the client is told it failed
            return self._fault_answer(fault)
        return answer if answer[0] == 304 or rec.path == "/rate_limit" else self._counted(answer)

    def _authorized(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        valid = value.strip() == self.token or (self.apps is not None and self.apps.valid(value.strip()))
        return not self.revoked and scheme.lower() in ("token", "bearer") and valid

    def _app_answer(self, rec: RecordedRequest) -> Answer:
        """The JWT-authenticated app routes (see gh_apps); they cost no rate limit here."""
        assert self.apps is not None
        try:
            status, body = self.apps.answer(rec.method, rec.path, rec.headers.get("authorization", ""))
        except ApiError as err:
            return self._error(err)
        return self._ok(rec, Reply(status=status, body=body), single=True)

    def _counted(self, answer: Answer) -> Answer:
        self.rate.remaining = max(0, self.rate.remaining - 1)
        answer[1].update(self.rate.headers())
        return answer

    def _take_fault(self, rec: RecordedRequest) -> Fault | None:
        for fault in self.faults:
            if fault.method in ("*", rec.method) and fault.pattern.fullmatch(rec.path):
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _fault_answer(self, fault: Fault) -> Answer:
        self.rate.remaining = max(0, self.rate.remaining - 1)  # before the headers: a fault's own win
        if not fault.status:
            return 0, {}, b""  # the HTTP side drops the connection without answering
        body = fault.body
        if body is None:
            retry = any(k.lower() == "retry-after" for k in fault.headers)
            message = _SECONDARY if fault.status == 429 or (fault.status == 403 and retry) else \
                _DEFAULT_FAULT_MESSAGES.get(fault.status, "Error")
            body = {"message": message, "documentation_url": DOCS}
        if isinstance(body, (str, bytes)):
            payload = body.encode() if isinstance(body, str) else body
            headers = self._headers("text/html; charset=utf-8")
        else:
            payload, headers = _dump(body), self._headers()
        headers.update(fault.headers)
        return fault.status, headers, payload

    def _error(self, err: ApiError) -> Answer:
        body: dict[str, Any] = {"message": err.message}
        if err.errors:
            body["errors"] = err.errors
        body.update({"documentation_url": DOCS, "status": str(err.status)})
        return err.status, self._headers(), _dump(body)

    def _headers(self, content_type: str = "application/json; charset=utf-8") -> dict[str, str]:
        return {"content-type": content_type, "date": formatdate(usegmt=True),
                "x-github-media-type": "github.v3; format=json",
                "x-github-request-id": f"C0DE:{next(self._ids):05X}:0000000:0000000:00000000",
                "x-oauth-scopes": "repo, workflow", "x-accepted-oauth-scopes": "repo",
                **self.rate.headers()}

    def _run(self, rec: RecordedRequest) -> Answer:
        if rec.body is None and _parse_json(rec.raw_body) is _INVALID_JSON:
            return self._error(ApiError(400, "Problems parsing JSON"))
        if rec.path == "/rate_limit" and rec.method == "GET":
            core = {"limit": self.rate.limit, "used": self.rate.limit - self.rate.remaining,
                    "remaining": self.rate.remaining, "reset": math.ceil(self.rate.reset)}
            return self._ok(rec, Reply(body={"resources": {"core": core}, "rate": core}), single=True)
        render = Renderer(self.web + self.prefix, self.web, self.state.users)
        ctx = Ctx(self.state, render, rec.method, rec.query, rec.body, self.state.token_user)
        try:
            path = self._canonical(rec.path)
            reply = dispatch(ctx, path)
        except ApiError as err:
            return self._error(err)
        if reply.items is not None:
            return self._page(rec, reply, path)
        return self._ok(rec, reply, single=True)

    def _canonical(self, path: str) -> str:
        """``/repositories/{id}/...`` (where GitHub's Link headers point) -> ``/repos/{o}/{r}/...``."""
        match = _REPOSITORIES.fullmatch(path)
        if not match:
            return path
        repo = self.state.repos_by_id.get(int(match.group(1)))
        if repo is None:
            raise ApiError(404, "Not Found")
        return f"/repos/{repo.full_name}{match.group(2) or ''}"

    def _page(self, rec: RecordedRequest, reply: Reply, path: str) -> Answer:
        per_page = min(max(_int(rec.query.get("per_page"), 30), 1), 100)
        page = max(_int(rec.query.get("page"), 1), 1)
        items = reply.items or []
        chunk = items[(page - 1) * per_page: page * per_page]
        reply.body = [reply.render(i) for i in chunk] if reply.render else chunk
        last = max(1, math.ceil(len(items) / per_page))
        link = self._link(rec, path, page, last)
        if link:
            reply.headers["Link"] = link
        return self._ok(rec, reply, single=False)

    def _link(self, rec: RecordedRequest, path: str, page: int, last: int) -> str:
        repo_path = re.match(r"/repos/([^/]+/[^/]+)(/.*)?", path)
        if repo_path:  # like GitHub, page links use the numeric repository id
            repo = self.state.repo(repo_path.group(1))
            path = f"/repositories/{repo.id}{repo_path.group(2) or ''}"
        query = {k: v for k, v in rec.query.items() if k != "page"}
        url = lambda n: f"<{self.web}{self.prefix}{path}?{urlencode({**query, 'page': n}, safe=',:')}>"
        rels = []
        if page > 1:
            rels.append(f'{url(min(page - 1, last))}; rel="prev"')
        if page < last:
            rels += [f'{url(page + 1)}; rel="next"', f'{url(last)}; rel="last"']
        if page > 1:
            rels.append(f'{url(1)}; rel="first"')
        return ", ".join(rels)

    def _ok(self, rec: RecordedRequest, reply: Reply, single: bool) -> Answer:
        headers = self._headers()
        headers.update(reply.headers)
        if reply.body is None:
            headers.pop("content-type")
            return reply.status, headers, b""
        payload = _dump(reply.body)
        if rec.method == "GET" and reply.status == 200:
            # With apps registered, ETags are per token as on GitHub: a new token revalidates nothing.
            salt = rec.headers.get("authorization", "").encode() if self.apps is not None else b""
            digest = hashlib.sha256(payload + salt).hexdigest()[:32]
            etag = f'"{digest}"' if single else f'W/"{digest}"'
            headers.update({"ETag": etag, "cache-control": "private, max-age=60, s-maxage=60"})
            if _etag_matches(rec.headers.get("if-none-match"), etag):
                headers.pop("Link", None)  # GitHub's 304s carry no Link header
                headers.pop("content-type")
                return 304, headers, b""
        return reply.status, headers, payload


def _etag_matches(sent: str | None, etag: str) -> bool:
    if not sent:
        return False
    tags = {t.strip() for t in sent.split(",")}
    return etag in tags or f"W/{etag}" in tags or "*" in tags


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return _INVALID_JSON


def _dump(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _int(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw is not None else default
    except ValueError:
        return default
