"""The HTTP side of the fake GitHub: a stdlib threading server that hands each request to an
``ApiPipeline`` and can drop every open keep-alive connection when it stops."""

from __future__ import annotations

import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from runner.sandbox.gh_pipeline import ApiPipeline
from runner.sandbox.gh_traffic import Headers


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the clients' connection pools expect
    timeout = 30  # an idle client connection does not pin a thread forever
    server: GitHubHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        rec, (status, headers, payload) = self.server.pipeline.handle(
            self.command, self.path, Headers(self.headers.items()), raw)
        if status == 0:  # an injected reset: close with RST, no answer at all
            self._reset()
            self.server.pipeline.finished(rec)
            return
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if status not in (204, 304):
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError:  # the client went away (tests SIGKILL it mid-request on purpose)
            self.close_connection = True
        self.server.pipeline.finished(rec)

    def _reset(self) -> None:
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests inspect ``FakeGitHub.requests`` instead."""


class GitHubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, pipeline: ApiPipeline, host: str = "127.0.0.1", port: int = 0):
        super().__init__((host, port), _Handler)
        self.pipeline = pipeline
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._open_lock:
            (self._open.add if alive else self._open.discard)(conn)

    def drop_connections(self) -> None:
        """After stop, pooled client connections must fail instead of being served by old threads."""
        with self._open_lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
