"""LiteLLMModel against the scripted OpenAI-compatible server, through LiteLLM's real HTTP path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from runner.agent.model import Budget, LiteLLMModel
from runner.config import Settings
from runner.errors import TaskFailed
from runner.sandbox.model_server import ScriptedModelServer, Step, context_window_exceeded, delay, error, reply

MESSAGES = [
    {"role": "system", "content": "You edit code with SEARCH/REPLACE blocks."},
    {"role": "user", "content": "Rename the `greet` function in app.py to `hello`."},
]


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-openai-key")


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ScriptedModelServer] = []

    def start(*steps: Step) -> ScriptedModelServer:
        servers.append(ScriptedModelServer(list(steps)).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def make_model(server: ScriptedModelServer, model: str = "openai/gpt-4o-mini", *, fallbacks: tuple[str, ...] = (),
               timeout: float = 5.0, budget: Budget | None = None) -> tuple[LiteLLMModel, list[float]]:
    sleeps: list[float] = []
    settings = Settings(github_token="test-token", dispatch_repo="acme/agent-tasks", model=model,
                        llm_api_base=server.url, fallback_models=fallbacks)
    return LiteLLMModel(settings, sleep=sleeps.append, budget=budget, timeout=timeout), sleeps


def test_model_reply_reports_text_tokens_and_cost(serve: Any) -> None:
    server = serve(reply("Renamed greet to hello.", usage=(1000, 200)))
    model, _ = make_model(server)

    answer = model.complete(MESSAGES)

    assert answer.text == "Renamed greet to hello."
    assert answer.model == "openai/gpt-4o-mini"
    assert (answer.usage.tokens_in, answer.usage.tokens_out, answer.usage.calls) == (1000, 200, 1)
    assert answer.usage.cost_usd == pytest.approx(1000 * 0.15e-6 + 200 * 0.6e-6)  # LiteLLM's gpt-4o-mini price
    assert server.requests[0]["messages"] == MESSAGES
    assert server.requests[0]["model"] == "gpt-4o-mini"
    assert model.budget.spent_usd == pytest.approx(answer.usage.cost_usd)


def test_model_unpriced_model_has_unknown_cost_but_counts_tokens(serve: Any) -> None:
    server = serve(reply("ok", usage=(321, 12)))
    model, _ = make_model(server, "openai/test-model")

    answer = model.complete(MESSAGES)

    assert answer.usage.cost_usd is None
    assert (answer.usage.tokens_in, answer.usage.tokens_out) == (321, 12)


def test_model_empty_content_becomes_empty_text(serve: Any) -> None:
    model, _ = make_model(serve(reply(None)))

    assert model.complete(MESSAGES).text == ""


@pytest.mark.parametrize(
    ("first", "expected_sleeps"),
    [
        (error(429, headers={"retry-after": "2"}), [2.0]),
        (error(429, headers={"retry-after-ms": "1500"}), [1.5]),
        (error(429), [1.0]),
        (error(500), [1.0]),
        (error(503, headers={"retry-after": "3"}), [3.0]),
        (delay(3, then=reply("too late")), [1.0]),
    ],
    ids=["429-retry-after", "429-retry-after-ms", "429-bare", "500", "503-retry-after", "timeout"],
)
def test_model_transient_error_is_retried(serve: Any, first: Step, expected_sleeps: list[float]) -> None:
    server = serve(first, reply("Done."))
    model, sleeps = make_model(server, timeout=0.5)

    answer = model.complete(MESSAGES)

    assert answer.text == "Done."
    assert len(server.requests) == 2
    assert sleeps == expected_sleeps


def test_model_gives_up_after_three_attempts(serve: Any) -> None:
    server = serve(error(500), error(502), error(500), reply("never reached"))
    model, sleeps = make_model(server)

    with pytest.raises(TaskFailed, match="model unavailable: openai/gpt-4o-mini did not answer"):
        model.complete(MESSAGES)

    assert len(server.requests) == 3
    assert sleeps == [1.0, 2.0]


def test_model_long_retry_after_is_not_waited_for(serve: Any) -> None:
    server = serve(error(429, headers={"retry-after": "3600"}), reply("never reached"))
    model, sleeps = make_model(server)

    with pytest.raises(TaskFailed, match="rate limited"):
        model.complete(MESSAGES)

    assert len(server.requests) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (error(401), "rejected the API key \\(check OPENAI_API_KEY"),
        (context_window_exceeded(), "context window is too small for this task"),
        (error(429, {"error": {"message": "You exceeded your current quota, please check your plan and billing "
                                          "details.", "type": "insufficient_quota", "code": "insufficient_quota"}}),
         "quota or credit is used up"),
        (error(404), "does not know this model \\(check AGENT_MODEL\\)"),
        (error(400, {"error": {"message": "Invalid value for 'temperature'.", "type": "invalid_request_error"}}),
         "Invalid value for 'temperature'"),
    ],
    ids=["401", "context-window", "no-quota", "404", "400"],
)
def test_model_permanent_error_fails_task_after_one_request(serve: Any, step: Step, message: str) -> None:
    server = serve(step, reply("never reached"))
    model, sleeps = make_model(server)

    with pytest.raises(TaskFailed, match=message):
        model.complete(MESSAGES)

    assert len(server.requests) == 1
    assert sleeps == []


def test_model_error_message_never_carries_a_key(serve: Any) -> None:
    body = {"error": {"message": "Incorrect API key provided: sk-proj-abcdEFGH12345678.",
                      "type": "invalid_request_error"}}
    model, _ = make_model(serve(error(400, body)))

    with pytest.raises(TaskFailed) as failed:
        model.complete(MESSAGES)

    assert "abcdEFGH12345678" not in str(failed.value)


def test_model_falls_back_to_next_model(serve: Any) -> None:
    server = serve(error(500), error(500), error(500), reply("Answered by the fallback."))
    model, _ = make_model(server, fallbacks=("openai/gpt-4o",))

    answer = model.complete(MESSAGES)

    assert answer.model == "openai/gpt-4o"
    assert [r["model"] for r in server.requests] == ["gpt-4o-mini"] * 3 + ["gpt-4o"]


def test_model_falls_back_after_permanent_error_and_reports_both(serve: Any) -> None:
    server = serve(context_window_exceeded(), error(500), error(500), error(500))
    model, _ = make_model(server, fallbacks=("openai/gpt-4o",))

    with pytest.raises(TaskFailed) as failed:
        model.complete(MESSAGES)

    assert "openai/gpt-4o-mini: the model's context window is too small" in str(failed.value)
    assert "openai/gpt-4o did not answer (server error 500)" in str(failed.value)
    assert len(server.requests) == 4


def test_model_spent_budget_sends_no_request(serve: Any) -> None:
    server = serve(reply("never reached"))
    model, _ = make_model(server, budget=Budget(2.0, spent_usd=2.0))

    with pytest.raises(TaskFailed, match=r"spend cap of \$2.00 reached \(\$2.0000 spent\)"):
        model.complete(MESSAGES)

    assert server.requests == []


def test_model_call_that_could_pass_the_cap_is_not_started(serve: Any) -> None:
    server = serve(reply("never reached"))
    model, _ = make_model(server, "openai/gpt-4o", budget=Budget(0.05, spent_usd=0.04))  # reply allowance ~$0.04

    with pytest.raises(TaskFailed, match=r"spend cap of \$0\.05 would be passed by the next model call"):
        model.complete(MESSAGES)

    assert server.requests == []


def test_model_budget_is_not_checked_for_unpriced_model(serve: Any) -> None:
    server = serve(reply("ok"))
    model, _ = make_model(server, "openai/test-model", budget=Budget(0.01, spent_usd=0.0))

    assert model.complete(MESSAGES).text == "ok"
