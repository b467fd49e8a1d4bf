"""The optional listener (``AGENT_HTTP_PORT``): a stdlib threading HTTP server that hands each
request to ``Api.handle`` and writes the reply. Bound to ``AGENT_HTTP_HOST`` (127.0.0.1 unless
configured); every connection has a read timeout so a slow client cannot hold a thread."""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from runner.http.api import Api, Reply, json_reply
from runner.http.webhook import MAX_BODY

log = logging.getLogger("runner.http")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 15  # seconds a client may take to send its request
    protocol_version = "HTTP/1.1"
    server_version = "agent-runner"
    sys_version = ""

    def do_GET(self) -> None:
        self._answer(self._handle("GET"))

    def do_HEAD(self) -> None:
        self._answer(self._handle("HEAD"), with_body=False)

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length")
        if length is None or not length.strip().isdigit():
            self._answer(json_reply(411, {"error": "Content-Length is required"}), close=True)
            return
        if int(length) > MAX_BODY:
            self._answer(json_reply(413, {"error": f"the body is larger than {MAX_BODY} bytes"}), close=True)
            return
        self._answer(self._handle("POST", self.rfile.read(int(length))))

    def do_PUT(self) -> None:
        self._answer(json_reply(405, {"error": "not allowed"}), close=True)

    do_DELETE = do_PATCH = do_PUT

    def _handle(self, method: str, body: bytes = b"") -> Reply:
        try:
            return self.server.api.handle(method, self.path, self.headers, body)
        except Exception:  # noqa: BLE001 - a bug answers 500 and is logged; the listener stays up
            log.exception("http %s %s failed", method, self.path.split("?")[0])
            return json_reply(500, {"error": "internal error; see the runner's log"})

    def _answer(self, reply: Reply, *, with_body: bool = True, close: bool = False) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Cache-Control", "no-store")
        if close:  # the unread body would be taken for the next request
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if with_body:
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("http %s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hanging client must not keep the process alive at shutdown
    api: Api

    def handle_error(self, request: object, client_address: tuple) -> None:
        # Only connection trouble gets here (the handler answers every other error with 500).
        log.debug("http client %s went away", client_address[0], exc_info=True)


class _Server6(_Server):
    address_family = socket.AF_INET6


class HttpListener:
    """Serves ``api`` on (host, port) in a background thread. Port 0 picks a free port."""

    def __init__(self, api: Api, host: str = "127.0.0.1", port: int = 0):
        self._server = (_Server6 if ":" in host else _Server)((host, port), _Handler)
        self._server.api = api
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="http-listener", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> HttpListener:
        self._thread.start()
        log.info("listening on http://%s:%d", *self.address)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
