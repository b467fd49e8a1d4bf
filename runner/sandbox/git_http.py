"""The HTTP side of the sandbox git server: per request, auth and fault injection (asked of the
``Host``), then ``git http-backend`` run as a CGI program with the body streamed in and out.

Standard library only (it ships for the ``demo`` command).
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from pathlib import Path
from typing import IO, NamedTuple, Protocol
from urllib.parse import unquote

USER = "x-access-token"
CHUNK = 64 * 1024
PIPE_TIMEOUT = 60.0


class GitRequest(NamedTuple):
    """One request as the server saw it, recorded before it was answered."""

    method: str
    path: str  # with the query string
    auth_ok: bool
    headers: dict[str, str]


class Host(Protocol):
    """What the handler needs from the server that owns the repositories."""

    root: Path

    def authorize(self, header: str | None) -> bool: ...
    def observe(self, request: GitRequest) -> int | None:
        """Record ``request``; a status to answer with instead of serving it, or None."""
    def base_env(self) -> dict[str, str]: ...
    def spawn_backend(self, env: dict[str, str]) -> subprocess.Popen[bytes]: ...
    def reap(self, proc: subprocess.Popen[bytes]) -> None: ...


def make_server(host: Host) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.host = host  # type: ignore[attr-defined]
    return server


class _Handler(BaseHTTPRequestHandler):
    """Serves one request: auth, fault injection, then ``git http-backend`` as a CGI program."""

    # HTTP/1.0: each response ends when the connection closes, so CGI output can be relayed as it comes.
    protocol_version = "HTTP/1.0"

    @property
    def host(self) -> Host:
        return self.server.host  # type: ignore[attr-defined,no-any-return]

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def _serve(self) -> None:
        auth_ok = self.host.authorize(self.headers.get("Authorization"))
        injected = self.host.observe(GitRequest(self.command, self.path, auth_ok, dict(self.headers)))
        if injected is not None:
            self._drain()
            self._plain(injected, f"injected failure {injected}\n")
        elif not auth_ok:
            self._drain()
            self._plain(401, "authentication required\n", {"WWW-Authenticate": 'Basic realm="git"'})
        else:
            self._relay_backend()

    def _plain(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        body = text.encode()
        self.send_response(status)
        for name, value in {**(headers or {}), "Content-Type": "text/plain",
                            "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _chunked(self) -> bool:
        return self.headers.get("Transfer-Encoding", "").lower() == "chunked"

    def _body(self) -> Iterator[bytes]:
        """The request body as sent (still gzip-encoded if it was), chunked transfer decoded."""
        if self._chunked():
            yield from read_chunked(self.rfile)
            return
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining > 0:
            piece = self.rfile.read(min(CHUNK, remaining))
            if not piece:
                return
            remaining -= len(piece)
            yield piece

    def _drain(self) -> None:
        for _ in self._body():
            pass

    def _cgi_env(self) -> dict[str, str]:
        path, _, query = self.path.partition("?")
        env = {**self.host.base_env(), "GIT_PROJECT_ROOT": str(self.host.root), "GIT_HTTP_EXPORT_ALL": "1",
               "PATH_INFO": unquote(path), "QUERY_STRING": query, "REQUEST_METHOD": self.command,
               "REMOTE_USER": USER,  # authenticated: http-backend then allows receive-pack (pushes)
               "REMOTE_ADDR": self.client_address[0], "CONTENT_TYPE": self.headers.get("Content-Type", "")}
        optional = {"HTTP_CONTENT_ENCODING": "Content-Encoding", "GIT_PROTOCOL": "Git-Protocol"}
        if not self._chunked():  # without CONTENT_LENGTH http-backend reads the body to EOF
            optional["CONTENT_LENGTH"] = "Content-Length"
        for name, header in optional.items():
            if self.headers.get(header):
                env[name] = self.headers[header]
        return env

    def _relay_backend(self) -> None:
        proc = self.host.spawn_backend(self._cgi_env())
        feeder = threading.Thread(target=self._feed, args=(proc,), daemon=True)
        drainer = threading.Thread(target=proc.stderr.read, daemon=True)  # type: ignore[union-attr]
        feeder.start()
        drainer.start()
        try:
            self._relay_response(proc.stdout)  # type: ignore[arg-type]
        except ConnectionError:  # the client went away (or was killed mid-push): stop the backend
            proc.kill()
        finally:
            proc.stdout.close()  # type: ignore[union-attr]
            feeder.join(timeout=PIPE_TIMEOUT)
            drainer.join(timeout=PIPE_TIMEOUT)
            proc.stderr.close()  # type: ignore[union-attr]
            self.host.reap(proc)

    def _feed(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None
        with suppress(OSError):  # the backend stopped reading, or the client went away
            for piece in self._body():
                proc.stdin.write(piece)
        with suppress(OSError):
            proc.stdin.close()

    def _relay_response(self, out: IO[bytes]) -> None:
        status, headers = 200, []
        for raw in iter(out.readline, b""):
            line = raw.decode("latin-1").rstrip("\r\n")
            if not line:
                break
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            else:
                headers.append((name.strip(), value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        for piece in iter(lambda: out.read1(CHUNK), b""):  # type: ignore[attr-defined]
            self.wfile.write(piece)


def read_chunked(rfile: BufferedIOBase) -> Iterator[bytes]:
    """Decode an HTTP/1.1 chunked body (git sends big pushes this way)."""
    while True:
        size_line = rfile.readline()
        if not size_line:
            return
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return
        yield rfile.read(size)
        rfile.readline()  # CRLF after each chunk
