"""Images linked in a task's instruction, fetched for a model that can look at them.

Only the sanitized instruction is searched (an image in a hidden HTML comment is never fetched). The
GitHub token goes only to GitHub's own web host (the one GITHUB_API_URL belongs to) and, for
github.com, to ``*.githubusercontent.com``; a redirect to any other host is followed without it.
Other hosts are fetched without credentials, except link-local addresses (cloud metadata services).
Fixed limits keep a hostile issue from filling memory or the prompt.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

MAX_IMAGES = 4
MAX_BYTES = 5 * 1024 * 1024
TIMEOUT = 10.0
MAX_REDIRECTS = 3

_URL = r"https?://[^\s<>\"'()\[\]]+"
_MARKDOWN = re.compile(r"!\[[^\]]*\]\(\s*<?(" + _URL + r")>?(?:\s+\"[^\"]*\")?\s*\)")
_IMG_TAG = re.compile(r"<img\b[^>]*?\bsrc\s*=\s*[\"']?(" + _URL + r")", re.IGNORECASE)
_BARE = re.compile(_URL)
_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp")
_GITHUB_IMAGE_HOSTS = ("user-images.githubusercontent.com", "private-user-images.githubusercontent.com")


@dataclass(frozen=True)
class ImagePart:
    """One fetched image: where it came from and a ``data:`` URL for the model."""

    url: str
    data_url: str


def find_images(markdown: str) -> list[str]:
    """Image URLs in the text, first mention first, each once."""
    found = [m.group(1) for m in _MARKDOWN.finditer(markdown)]
    found += [m.group(1) for m in _IMG_TAG.finditer(markdown)]
    found += [url for url in (m.group(0).rstrip(".,;:!?") for m in _BARE.finditer(markdown)) if _looks_like_image(url)]
    order = {url: markdown.find(url) for url in found}
    return sorted(dict.fromkeys(found), key=lambda url: order[url])


def _looks_like_image(url: str) -> bool:
    parts = urlsplit(url)
    return (parts.path.lower().endswith(_EXTENSIONS) or "/user-attachments/assets/" in parts.path
            or (parts.hostname or "") in _GITHUB_IMAGE_HOSTS)


def token_allowed(url: str, api_url: str) -> bool:
    """Whether ``url`` is on GitHub's web host for this API (never a third party's)."""
    api, target = urlsplit(api_url), urlsplit(url)
    if target.scheme != api.scheme or target.username or target.password:
        return False
    if (api.hostname or "").lower() == "api.github.com":
        host = (target.hostname or "").lower()
        return target.port is None and (host == "github.com" or host.endswith(".githubusercontent.com"))
    return target.netloc.lower() == api.netloc.lower()  # GHES (and the local fake): the API's own host


class ImageFetcher:
    """Fetches image links within the limits; the token only where ``token_allowed`` says."""

    def __init__(self, api_url: str, token_provider: Callable[[], str], *, session: Any = None):
        self.api_url, self.token_provider = api_url, token_provider
        self.session = session or requests.Session()

    def fetch(self, urls: list[str]) -> tuple[list[ImagePart], list[tuple[str, str]]]:
        """(images, [(url, why it was ignored)])."""
        images: list[ImagePart] = []
        ignored = [(url, f"more than {MAX_IMAGES} images") for url in urls[MAX_IMAGES:]]
        for url in urls[:MAX_IMAGES]:
            try:
                images.append(ImagePart(url, self._one(url)))
            except _Refused as why:
                ignored.append((url, str(why)))
            except requests.RequestException as exc:
                ignored.append((url, f"could not be fetched ({type(exc).__name__})"))
        return images, ignored

    def _one(self, url: str) -> str:
        for _ in range(MAX_REDIRECTS + 1):
            _check_target(url)
            headers = {"Accept": "image/*"}
            if token_allowed(url, self.api_url):
                headers["Authorization"] = f"token {self.token_provider()}"
            with self.session.get(url, headers=headers, timeout=TIMEOUT, allow_redirects=False, stream=True) as r:
                if r.is_redirect and r.headers.get("location"):
                    url = urljoin(url, r.headers["location"])
                    continue
                return _data_url(r)
        raise _Refused("too many redirects")


class _Refused(Exception):
    """An image that is not fetched or not passed on; the message says why."""


def _check_target(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Refused("not an http(s) link")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 443)}
    except OSError:
        raise _Refused("host not found") from None
    if any(ipaddress.ip_address(a.split("%")[0]).is_link_local for a in addresses):
        raise _Refused("link-local address refused")


def _data_url(response: Any) -> str:
    if response.status_code != 200:
        raise _Refused(f"HTTP {response.status_code}")
    kind = (response.headers.get("content-type") or "").split(";")[0].strip().lower()
    if not kind.startswith("image/"):
        raise _Refused(f"not an image ({kind or 'no content type'})")
    if int(response.headers.get("content-length") or 0) > MAX_BYTES:
        raise _Refused(f"larger than {MAX_BYTES // (1024 * 1024)} MB")
    body = b""
    for chunk in response.iter_content(64 * 1024):
        body += chunk
        if len(body) > MAX_BYTES:
            raise _Refused(f"larger than {MAX_BYTES // (1024 * 1024)} MB")
    return f"data:{kind};base64,{base64.b64encode(body).decode('ascii')}"


def model_sees_images(model: str | None) -> bool:
    """LiteLLM's word on vision support; an unknown model is taken not to."""
    if not model:
        return False
    from runner.agent.model import litellm

    try:
        return bool(litellm().supports_vision(model=model))
    except Exception:  # an unknown model, or a LiteLLM without the map entry
        return False
