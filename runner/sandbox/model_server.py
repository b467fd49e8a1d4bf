"""A scripted OpenAI-compatible Chat Completions server (stdlib only) for tests and ``demo``.

The runner reaches it through LiteLLM's real HTTP path: set ``AGENT_MODEL=openai/<any name>`` and
``AGENT_LLM_API_BASE`` to ``server.url``. Each request to ``POST /v1/chat/completions`` takes the next
``Step`` of the script (or asks the script function for one): a reply, an HTTP error, or a delay.
Every JSON body received is kept in ``server.requests`` so a test can assert what reached the model.

    with ScriptedModelServer([error(429, headers={"retry-after": "1"}), reply("done")]) as server:
        ...  # settings.llm_api_base = server.url
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_COMPLETION_PATHS = ("/v1/chat/completions", "/chat/completions")
_MODELS_PATHS = ("/v1/models", "/models")


@dataclass(frozen=True)
class Step:
    """One scripted answer. Build with ``reply``, ``error`` or ``delay``, or pass a callable
    ``(request_body) -> Step`` anywhere a Step is expected."""

    text: str | None = None  # reply content (None with status 200: content null)
    status: int = 200
    body: Any = None  # error body (JSON-serializable); default: an OpenAI-style error
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # sleep this long before answering
    then: Step | None = None  # what a delay answers with
    usage: tuple[int, int] | None = None  # (prompt_tokens, completion_tokens); default: rough


ScriptItem = Step | Callable[[dict[str, Any]], Step]
Script = Iterable[ScriptItem] | Callable[[dict[str, Any]], Step]


def reply(text: str | None, *, usage: tuple[int, int] | None = None) -> Step:
    """A 200 answer whose assistant message is ``text``."""
    return Step(text=text, usage=usage)


def error(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Step:
    """An HTTP error, e.g. ``error(429, headers={"retry-after": "2"})`` or ``error(401)``."""
    return Step(status=status, body=body, headers=dict(headers or {}))


def delay(seconds: float, then: Step | None = None) -> Step:
    """Sleep before answering (longer than the client's timeout: a timeout)."""
    return Step(delay_s=seconds, then=then or reply("(late reply)"))


def context_window_exceeded() -> Step:
    """What OpenAI answers when the prompt does not fit the model's window."""
    return error(400, {"error": {
        "message": "This model's maximum context length is 8192 tokens. However, your messages "
                   "resulted in 12000 tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}})


def _error_body(status: int) -> dict[str, Any]:
    kinds = {401: ("Incorrect API key provided: sk-test. You can find your API key at "
                   "https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key"),
             404: ("The model does not exist or you do not have access to it.", "invalid_request_error",
                   "model_not_found"),
             429: ("Rate limit reached for requests. Please try again later.", "requests", "rate_limit_exceeded")}
    message, kind, code = kinds.get(status, (f"scripted error {status}", "server_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _rough_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _prompt_text(body: dict[str, Any]) -> str:
    parts = []
    for message in body.get("messages") or []:
        content = message.get("content")
        parts.append(content if isinstance(content, str) else json.dumps(content))
    return "\n".join(parts)


def completion_body(request: dict[str, Any], step: Step) -> dict[str, Any]:
    """The Chat Completions JSON for a reply step."""
    text = step.text
    prompt, completion = step.usage or (_rough_tokens(_prompt_text(request)), _rough_tokens(text or ""))
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex[:24],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "scripted"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


class ScriptedModelServer:
    """An OpenAI-compatible server answering from a script. ``url`` ends in ``/v1``."""

    def __init__(self, script: Script, host: str = "127.0.0.1", port: int = 0):
        self._function = script if callable(script) else None
        self._steps: list[ScriptItem] = [] if callable(script) else list(script)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.requests: list[dict[str, Any]] = []
        self._connections: set[Any] = set()
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> ScriptedModelServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),  # fast stop()
                                            name="model-server", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # cuts scripted delays short
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self._httpd.server_close()
        with self._lock:  # keep-alive connections would otherwise hold handler threads forever
            for connection in list(self._connections):
                _close_quietly(connection)
            self._connections.clear()

    def track(self, connection: Any, alive: bool) -> None:
        with self._lock:
            (self._connections.add if alive else self._connections.discard)(connection)

    def __enter__(self) -> ScriptedModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def next_step(self, body: dict[str, Any]) -> Step | None:
        """Record ``body`` and choose its answer; None when the script has run out."""
        with self._lock:
            self.requests.append(body)
            if self._function is not None:
                item: ScriptItem | None = self._function
            else:
                item = self._steps.pop(0) if self._steps else None
        return item(body) if callable(item) else item

    def sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)


def _close_quietly(connection: Any) -> None:
    with contextlib.suppress(OSError):  # already closed by the client
        connection.shutdown(socket.SHUT_RDWR)


def _handler_for(server: ScriptedModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        owner = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    owner: ScriptedModelServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.owner.track(self.connection, True)

    def finish(self) -> None:
        self.owner.track(self.connection, False)
        with contextlib.suppress(OSError):  # the client (or stop()) already closed the socket
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read server.requests; stderr noise helps nobody

    def do_GET(self) -> None:
        if self.path.rstrip("/") in _MODELS_PATHS:
            self._send(200, {"object": "list", "data": [{"id": "scripted", "object": "model", "owned_by": "test"}]})
        else:
            self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.split("?")[0].rstrip("/") not in _COMPLETION_PATHS:
            self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            return
        self._answer(body, self.owner.next_step(body))

    def _answer(self, body: dict[str, Any], step: Step | None) -> None:
        if step is None:
            message = f"scripted model server: the script has run out (request #{len(self.owner.requests)})"
            self._send(500, {"error": {"message": message, "type": "script_exhausted"}})
            return
        while step.delay_s:
            self.owner.sleep(step.delay_s)
            step = step.then or reply("")
        if step.status != 200:
            self._send(step.status, step.body if step.body is not None else _error_body(step.status), step.headers)
        else:
            self._send(200, completion_body(body, step), step.headers)

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a scripted timeout): nothing to answer


def demo_script() -> Callable[[dict[str, Any]], Step]:
    """Answers any task with one SEARCH/REPLACE block for the demo repo's ``app.py``."""

    def answer(body: dict[str, Any]) -> Step:
        return reply(
            "Made the greeting friendlier.\n\n"
            "app.py\n```python\n<<<<<<< SEARCH\n    return \"hello\"\n=======\n"
            "    return \"hello, world\"\n>>>>>>> REPLACE\n```\n"
        )

    return answer
