"""Value types of the REST layer: responses, pages, counters, GitHub's refusals, ``Link`` parsing.

Callers import them from ``runner.github.rest``; they live here to keep that module about its loop.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from runner.errors import RunnerError

_LINK_RE = re.compile(r"<([^>]*)>([^<]*)")
_REL_RE = re.compile(r'rel\s*=\s*"?([^";]+)"?')


class GitHubError(RunnerError):
    """GitHub refused a request for a reason retrying will not fix (403, 404, 409, 422, ...)."""

    def __init__(self, status: int, message: str, *, errors: list[Any] | None = None,
                 method: str = "", url: str = ""):
        self.status = status
        self.message = message
        self.errors = list(errors or [])
        where = f" to {method} {urlsplit(url).path}" if method else ""
        details = "; ".join(_error_text(e) for e in self.errors)
        super().__init__(f"GitHub answered {status}{where}: {message}" + (f" ({details})" if details else ""))

    def mentions(self, text: str) -> bool:
        """True when the message or any listed error contains ``text`` (case-insensitive)."""
        low = text.lower()
        return low in self.message.lower() or any(low in _error_text(e).lower() for e in self.errors)

    def has_code(self, code: str) -> bool:
        """True when an entry of ``errors`` carries this ``code`` (e.g. ``already_exists``)."""
        return any(isinstance(e, dict) and e.get("code") == code for e in self.errors)


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return " ".join(str(error[k]) for k in ("resource", "field", "code", "message") if error.get(k))
    return str(error)


@dataclass(frozen=True)
class Response:
    """A finished exchange: status, parsed JSON body (None when empty) and lower-cased headers."""

    status: int
    json: Any
    headers: dict[str, str]


@dataclass(frozen=True)
class Page:
    """One page of a conditional GET. ``changed`` is False when it matches what was cached."""

    body: Any
    status: int  # 200, or 304 when the body was replayed from the cache
    etag: str | None
    next_url: str | None
    changed: bool


@dataclass
class RestStats:
    """Counters for benchmarks and metrics. ``requests`` counts HTTP exchanges, retries included."""

    requests: int = 0
    conditional_requests: int = 0
    not_modified: int = 0
    writes: int = 0
    retries: int = 0
    rate_limit_remaining: int | None = None
    rate_limit_reset: float | None = None
    last_request_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_link_header(value: str | None) -> dict[str, str]:
    """``Link: <url>; rel="next", ...`` as {rel: url}. URLs are kept exactly as given."""
    links: dict[str, str] = {}
    for url, params in _LINK_RE.findall(value or ""):
        match = _REL_RE.search(params)
        for rel in match.group(1).split() if match else ():
            links.setdefault(rel, url)
    return links
