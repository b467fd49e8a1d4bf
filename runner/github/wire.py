"""What goes over the wire for RestClient: the auth header, request URLs, decoded responses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import requests

from runner.github.values import GitHubError, Response
from runner.ports import CachedResponse

_DEFAULT_PORTS = {"http": 80, "https": 443}


class BearerAuth(requests.auth.AuthBase):
    """Sets the token per request (so tokens can rotate) and keeps it out of reprs.

    Passing an auth object also stops requests from replacing the header with ``~/.netrc`` entries.
    ``last_token`` is kept only so error texts can be scrubbed of it.
    """

    def __init__(self, token_provider: Callable[[], str]):
        self._provider = token_provider
        self.last_token = ""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        self.last_token = self._provider()
        request.headers["Authorization"] = f"Bearer {self.last_token}"
        return request

    def __repr__(self) -> str:
        return "<bearer token>"

    def scrub(self, text: str) -> str:
        return text.replace(self.last_token, "***") if self.last_token else text


class MemoryCache:
    """ETag cache used when no persistent one is given: cheap polling, forgotten at restart."""

    def __init__(self) -> None:
        self._items: dict[str, CachedResponse] = {}

    def get(self, key: str) -> CachedResponse | None:
        return self._items.get(key)

    def put(self, key: str, value: CachedResponse) -> None:
        self._items[key] = value


def build_url(base_url: str, path_or_url: str, params: dict[str, Any] | None = None) -> str:
    """Absolute URL with ``params`` merged into a sorted query (so it can key the ETag cache).

    Absolute URLs (next links) are kept as given, but only on the API's own host: the token goes
    with every request.
    """
    if path_or_url.startswith(("http://", "https://")):
        url = path_or_url
        if origin(url) != origin(base_url):
            raise GitHubError(0, f"refusing to send the token to {origin(url)[1]}, not the API host")
    else:
        url = f"{base_url.rstrip('/')}/{path_or_url.lstrip('/')}"
    if not params:
        return url
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, _param(v)) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(sorted(query), quote_via=quote)))


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def decode(raw: requests.Response) -> Response:
    """The library's response as the runner's own value: JSON body (None when empty or not JSON)."""
    data: Any = None
    if raw.content:
        try:
            data = raw.json()
        except ValueError:
            data = None
    return Response(raw.status_code, data, {k.lower(): v for k, v in raw.headers.items()})


def error_message(resp: Response) -> str:
    if isinstance(resp.json, dict) and resp.json.get("message"):
        return str(resp.json["message"])
    return f"HTTP {resp.status}"


def _param(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
