"""The scripted OpenAI-compatible server, spoken to with plain HTTP."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from runner.agent.edits import apply_reply, parse_reply
from runner.sandbox.model_server import ScriptedModelServer, context_window_exceeded, delay, demo_script, error, reply

REQUEST = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello to the team."}]}


def post(url: str, body: dict[str, Any] = REQUEST, timeout: float = 5) -> tuple[int, Any, dict[str, Any]]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, json.load(response)
    except urllib.error.HTTPError as failed:
        with failed:
            return failed.code, failed.headers, json.load(failed)


def test_model_server_answers_chat_completion() -> None:
    with ScriptedModelServer([reply("Hello, team!", usage=(12, 4))]) as server:
        status, _, body = post(server.url + "/chat/completions")

    assert status == 200
    assert body["object"] == "chat.completion"
    assert body["model"] == "gpt-4o-mini"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hello, team!"}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}
    assert server.requests == [REQUEST]


def test_model_server_estimates_usage_from_lengths() -> None:
    with ScriptedModelServer([reply("x" * 400)]) as server:
        _, _, body = post(server.url + "/chat/completions")

    assert body["usage"]["completion_tokens"] == 100
    assert body["usage"]["prompt_tokens"] >= 1


def test_model_server_accepts_path_without_v1_and_lists_models() -> None:
    with ScriptedModelServer([reply("ok")]) as server:
        root = server.url.removesuffix("/v1")
        status, _, _ = post(root + "/chat/completions")
        with urllib.request.urlopen(server.url + "/models", timeout=5) as response:
            models = json.load(response)

    assert status == 200
    assert models["object"] == "list" and models["data"]


@pytest.mark.parametrize(("step", "status", "header", "code"), [
    (error(429, headers={"retry-after": "7"}), 429, ("retry-after", "7"), "rate_limit_exceeded"),
    (error(401), 401, None, "invalid_api_key"),
    (error(500), 500, None, None),
    (context_window_exceeded(), 400, None, "context_length_exceeded"),
])
def test_model_server_scripted_errors(step: Any, status: int, header: tuple[str, str] | None, code: str | None) -> None:
    with ScriptedModelServer([step]) as server:
        got, headers, body = post(server.url + "/chat/completions")

    assert got == status
    assert body["error"]["code"] == code
    if header:
        assert headers.get(header[0]) == header[1]


def test_model_server_delay_causes_client_timeout_and_keeps_serving() -> None:
    with ScriptedModelServer([delay(2, then=reply("late")), reply("on time")]) as server:
        with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
            post(server.url + "/chat/completions", timeout=0.2)
        _, _, body = post(server.url + "/chat/completions")

    assert body["choices"][0]["message"]["content"] == "on time"
    assert len(server.requests) == 2


def test_model_server_stop_cuts_a_pending_delay_short() -> None:
    server = ScriptedModelServer([delay(60)]).start()
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        post(server.url + "/chat/completions", timeout=0.2)
    started = time.monotonic()

    server.stop()

    assert time.monotonic() - started < 3


def test_model_server_script_running_out_answers_500() -> None:
    with ScriptedModelServer([]) as server:
        status, _, body = post(server.url + "/chat/completions")

    assert status == 500
    assert "script has run out" in body["error"]["message"]


def test_model_server_callable_script_sees_the_request() -> None:
    def echo(body: dict[str, Any]) -> Any:
        return reply("You said: " + body["messages"][-1]["content"])

    with ScriptedModelServer(echo) as server:
        _, _, first = post(server.url + "/chat/completions")
        _, _, second = post(server.url + "/chat/completions")

    assert first["choices"][0]["message"]["content"] == "You said: Say hello to the team."
    assert second["choices"][0]["message"]["content"] == "You said: Say hello to the team."
    assert len(server.requests) == 2


def test_model_server_demo_script_edits_the_demo_app(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text('def greeting():\n    return "hello"\n')

    with ScriptedModelServer(demo_script()) as server:
        _, _, body = post(server.url + "/chat/completions")
    result = apply_reply(tmp_path, parse_reply(body["choices"][0]["message"]["content"]))

    assert result.ok
    assert (tmp_path / "app.py").read_text() == 'def greeting():\n    return "hello, world"\n'
