"""Linked images: which URLs are found, where the token may go, and the fetch limits."""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from runner.agent import images
from runner.agent.images import ImageFetcher, find_images, token_allowed

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIA"
                       "X8jx0gAAAABJRU5ErkJggg==")  # a 1x1 PNG
TOKEN = "ghs_imageTestToken0123456789"


@pytest.mark.parametrize("text,expected", [
    ("Broken layout: ![screenshot](https://github.com/user-attachments/assets/0b3c-77de)",
     ["https://github.com/user-attachments/assets/0b3c-77de"]),
    ('<img width="640" alt="x" src="https://github.com/user-attachments/assets/aa11-bb22" />',
     ["https://github.com/user-attachments/assets/aa11-bb22"]),
    ("Compare https://example.com/before.png and https://example.com/after.JPG.",
     ["https://example.com/before.png", "https://example.com/after.JPG"]),
    ("Old upload: https://user-images.githubusercontent.com/123/456-789",
     ["https://user-images.githubusercontent.com/123/456-789"]),
    ("Docs at https://example.com/guide and `ftp://example.com/x.png`", []),
    ("![a](https://example.com/a.png) again https://example.com/a.png", ["https://example.com/a.png"]),
], ids=["markdown-attachment", "img-tag", "bare-links", "legacy-host", "no-images", "once-each"])
def test_images_find_lists_linked_images(text, expected):
    assert find_images(text) == expected


@pytest.mark.parametrize("url,api,allowed", [
    ("https://github.com/user-attachments/assets/0b3c", "https://api.github.com", True),
    ("https://private-user-images.githubusercontent.com/1/a.png", "https://api.github.com", True),
    ("https://github.com.evil.example/x.png", "https://api.github.com", False),
    ("https://example.com/x.png", "https://api.github.com", False),
    ("http://github.com/user-attachments/assets/0b3c", "https://api.github.com", False),
    ("https://ghe.acme.io/user-attachments/assets/9", "https://ghe.acme.io/api/v3", True),
    ("https://github.com/user-attachments/assets/9", "https://ghe.acme.io/api/v3", False),
    ("http://127.0.0.1:8081/x.png", "http://127.0.0.1:8080/api/v3", False),
], ids=["github", "githubusercontent", "lookalike", "third-party", "plain-http", "ghes", "github-from-ghes",
        "other-port"])
def test_images_token_goes_only_to_the_github_web_host(url, api, allowed):
    assert token_allowed(url, api) is allowed


class Recorder(ThreadingHTTPServer):
    """Serves ``routes`` (path -> (status, headers, body)) and records each request's headers."""

    def __init__(self, routes):
        self.routes, self.seen = routes, []
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        self.server.seen.append((self.path, self.headers.get("Authorization")))
        status, headers, body = self.server.routes.get(self.path, (404, {}, b""))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value.replace("OTHER", getattr(self.server, "other", "")))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def hosts():
    github = Recorder({"/user-attachments/assets/a1": (200, {"Content-Type": "image/png"}, PNG),
                       "/user-attachments/assets/moved": (302, {"Location": "OTHER/cdn/a1.png"}, b""),
                       "/page.png": (200, {"Content-Type": "text/html"}, b"<html>")})
    other = Recorder({"/cdn/a1.png": (200, {"Content-Type": "image/png"}, PNG),
                      "/huge.png": (200, {"Content-Type": "image/png"}, b"\0" * (images.MAX_BYTES + 1))})
    github.other = other.base
    yield github, other
    for server in (github, other):
        server.shutdown()
        server.server_close()


def test_images_fetch_sends_the_token_only_to_the_github_host(hosts):
    github, other = hosts
    fetcher = ImageFetcher(github.base + "/api/v3", lambda: TOKEN)
    got, ignored = fetcher.fetch([github.base + "/user-attachments/assets/a1",
                                  github.base + "/user-attachments/assets/moved", other.base + "/cdn/a1.png"])
    assert ignored == []
    assert [g.data_url for g in got] == ["data:image/png;base64," + base64.b64encode(PNG).decode()] * 3
    assert github.seen == [("/user-attachments/assets/a1", f"token {TOKEN}"),
                           ("/user-attachments/assets/moved", f"token {TOKEN}")]
    assert other.seen == [("/cdn/a1.png", None), ("/cdn/a1.png", None)]  # the redirect dropped the token


def test_images_fetch_ignores_what_breaks_the_limits(hosts):
    github, other = hosts
    urls = [github.base + "/page.png", other.base + "/huge.png", github.base + "/user-attachments/assets/nope",
            "http://169.254.169.254/latest/meta-data/x.png", github.base + "/user-attachments/assets/a1"]
    got, ignored = ImageFetcher(github.base + "/api/v3", lambda: TOKEN).fetch(urls)
    assert got == []
    assert ignored == [(urls[4], "more than 4 images"), (urls[0], "not an image (text/html)"),
                       (urls[1], "larger than 5 MB"), (urls[2], "HTTP 404"), (urls[3], "link-local address refused")]
