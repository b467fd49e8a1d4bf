"""Checks requests against GitHub's own OpenAPI description (octokit/openapi, MIT).

``make_validator()`` gives the ``validator`` hook of ``FakeGitHub``: for each request it answers
a list of violations (path unknown, method not allowed, query parameter invalid or undeclared, JSON
body not matching the schema). The spec is decompressed and loaded once per test session (~0.8 s);
after the first request (~50 ms warm-up) a check takes 2-6 ms.
"""

from __future__ import annotations

import functools
import json
import lzma
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPEC_PATH = Path(__file__).resolve().parents[1] / "data" / "github-openapi" / "api.github.com.json.xz"
HOST = "https://api.github.com"  # the spec's only server
Validator = Callable[[str, str, dict, dict, bytes], list]


@dataclass(frozen=True)
class Allowance:
    """A known gap between GitHub's description and GitHub itself, and how to bridge it:
    ``rewrite(path, body) -> (path, body)`` turns the request into the form the spec describes."""

    methods: frozenset[str]
    path: re.Pattern[str]
    why: str
    rewrite: Callable[[str, Any], tuple[str, Any]]


def _repositories_twin(path: str, body: Any) -> tuple[str, Any]:
    return re.sub(r"^/repositories/\d+", "/repos/owner/repo", path), body


def _labels_object(path: str, body: Any) -> tuple[str, Any]:
    if isinstance(body, str):  # "you can pass a single label as a string"
        body = [body]
    return path, {"labels": body} if isinstance(body, list) else body


def _no_labels(path: str, body: Any) -> tuple[str, Any]:
    return path, None if body in ([], {"labels": []}) else body


_ISSUE_LABELS = re.compile(r"/repos/[^/]+/[^/]+/issues/\d+/labels")
ALLOW_LIST: tuple[Allowance, ...] = (
    Allowance(
        frozenset({"GET"}),
        re.compile(r"/repositories/\d+/.+"),
        # GitHub's Link headers point at /repositories/{id}/issues?page=N, which the description
        # does not list; the query is still checked against the /repos/{owner}/{repo} twin.
        "pagination links use the numeric repository id",
        _repositories_twin,
    ),
    Allowance(
        frozenset({"PUT"}),
        _ISSUE_LABELS,
        # "You can pass an empty array to remove all labels" says the text; the schema has minItems 1.
        "an empty label list clears the labels",
        _no_labels,
    ),
    Allowance(
        frozenset({"POST", "PUT"}),
        _ISSUE_LABELS,
        # Real GitHub accepts a bare JSON array (PyGithub sends one); the schema allows only {"labels": [...]}.
        "bare array of label names",
        _labels_object,
    ),
)

_lock = threading.Lock()  # openapi-core's lazy caches are not documented as thread-safe; the server is threaded


@functools.cache
def load_spec() -> OpenAPI:
    """GitHub's description, loaded once. Skipping the spec self-check makes this ~50x faster."""
    spec = json.loads(lzma.decompress(SPEC_PATH.read_bytes()))
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


class _Request:
    """The request shape openapi-core reads (its ``Request`` protocol)."""

    def __init__(self, method: str, path: str, query: dict, headers: dict, body: bytes, content_type: str):
        self.host_url, self.path, self.method = HOST, path, method.lower()
        self.body, self.content_type = body, content_type
        self.full_url_pattern = HOST + path
        self.parameters = RequestParameters(query=ImmutableMultiDict(query), header=Headers(headers))


def make_validator(api_prefix: str = "/api/v3") -> Validator:
    """``validator(method, path, query, headers, body) -> list[str]``; ``path`` with or without the prefix."""

    def validate(method: str, path: str, query: dict, headers: dict, body: bytes) -> list[str]:
        spec_path = path[len(api_prefix) :] if api_prefix and path.startswith(api_prefix + "/") else path
        return check_request(method.upper(), spec_path, dict(query), dict(headers), body or b"")

    return validate


def check_request(method: str, path: str, query: dict, headers: dict, body: bytes) -> list[str]:
    try:
        parsed = json.loads(body) if body.strip() else None
    except ValueError:
        return [f"{method} {path}: body is not JSON"]
    spec_path = path
    for allowance in ALLOW_LIST:
        if method in allowance.methods and allowance.path.fullmatch(spec_path):
            spec_path, parsed = allowance.rewrite(spec_path, parsed)
    raw = json.dumps(parsed).encode() if parsed is not None else b""
    content_type = _media_type(headers) if raw else "application/json"
    request = _Request(method, spec_path, query, headers, raw, content_type)
    with _lock:
        result = load_spec().unmarshal_request(request)
    found = [f"{method} {path}: {_describe(err)}" for err in result.errors]
    if not result.errors:
        declared = set(result.parameters.query or {})
        found += [
            f"{method} {path}: query parameter {name!r} is not in GitHub's description"
            for name in sorted(set(query) - declared)
        ]
    return found


def _media_type(headers: dict) -> str:
    for key, value in headers.items():
        if key.lower() == "content-type":
            return str(value).split(";")[0].strip().lower()
    return "application/json"  # GitHub reads a body without Content-Type as JSON


def _describe(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}"
    cause = err.__cause__
    return text if cause is None or str(cause) in text else f"{text} ({cause})"
