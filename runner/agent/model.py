"""The model through LiteLLM: bounded retries, fallbacks, usage, cost and a per-task spend cap.

LiteLLM is imported on the first call, never at module import: it takes seconds and the runner must
start polling in about one. Its own retries are off (``num_retries=0``, ``max_retries=0``); ours are:

* timeouts, connection errors, 429 and 5xx: up to ``MAX_ATTEMPTS`` calls per model, waiting
  ``Retry-After`` when the provider sends one (at most ``MAX_WAIT_S``; a longer one is not waited
  for) or 1 s, 2 s, ... otherwise;
* authentication, permission, unknown model, bad request, context window, content policy: no retry.

When a model fails either way, the next of ``AGENT_FALLBACK_MODELS`` is tried (each with the same
policy; ``AGENT_LLM_API_BASE`` applies to all of them). When every model has failed the task ends
with ``TaskFailed``: a model that is still down after a minute of retries will not be back within
this run, and a failed task is retried on request (remove the failed label) instead of silently
holding its claim. Library exceptions never leave this module.
"""

from __future__ import annotations

import email.utils
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tenacity

from runner.config import Settings
from runner.errors import TaskFailed
from runner.ports import ModelReply, Usage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # calls per model
MAX_WAIT_S = 30.0  # longest single wait between calls
MAX_REPLY_TOKENS = 4096  # reply allowance per call (also what the spend check prices)
_IMAGE_TOKENS = 1500  # generous: a large image costs about 1,100 tokens at most providers
_CHARS_PER_TOKEN = 3.0  # deliberately low: the spend check should over- rather than under-estimate
_LITELLM_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")
_import_lock = threading.Lock()
_litellm_module: Any = None


def litellm() -> Any:
    """The LiteLLM module, imported and quietened on first use."""
    global _litellm_module
    with _import_lock:
        if _litellm_module is None:
            # Without this LiteLLM downloads its price map from GitHub while importing: a stall (or a
            # failure) on a machine without internet. The bundled copy is recent enough for pricing.
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            import litellm as module

            module.telemetry = False
            module.suppress_debug_info = True  # no "Give Feedback / Get Help" banners on errors
            for name in _LITELLM_LOGGERS:  # its own stderr handlers would bypass LOG_FORMAT=json
                logger = logging.getLogger(name)
                logger.handlers.clear()
                logger.setLevel(logging.WARNING)
            _litellm_module = module
    return _litellm_module


def estimate_tokens(messages: list[dict[str, Any]]) -> int:
    """A cheap, generous estimate of a prompt's tokens (no tokenizer download, no model lookup)."""
    chars, images = 0, 0
    for m in messages:
        content = m.get("content") or ""
        parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        chars += sum(len(str(p.get("text") or "")) for p in parts if p.get("type") == "text")
        images += sum(1 for p in parts if p.get("type") == "image_url")  # priced per image, not per byte
    return int(chars / _CHARS_PER_TOKEN) + 4 * len(messages) + _IMAGE_TOKENS * images


def reply_allowance(model: str) -> int:
    """``max_tokens`` for a call: MAX_REPLY_TOKENS, or less when the model cannot write that much."""
    info = litellm().model_cost.get(model) or litellm().model_cost.get(model.split("/", 1)[-1]) or {}
    limit = info.get("max_output_tokens")
    return min(MAX_REPLY_TOKENS, limit) if isinstance(limit, int) and limit > 0 else MAX_REPLY_TOKENS


def estimate_cost(model: str, prompt_tokens: int, reply_tokens: int) -> float | None:
    """USD for a call of that size from LiteLLM's price map; None when the model has no price."""
    try:
        prompt_cost, reply_cost = litellm().cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=reply_tokens)
    except Exception:  # LiteLLM raises a bare Exception for models it has no price for
        return None
    return float(prompt_cost) + float(reply_cost)


class Budget:
    """What one task has spent on the model, against its cap (``AGENT_MAX_COST_USD``).

    A task never starts a call it cannot afford: ``check_before_call`` prices the prompt plus the
    full reply allowance before each call. Calls to models without a known price are allowed (they
    cannot be estimated) and logged once per model; their cost counts as unknown. A cap of 0 allows
    only free (price 0) and unpriced models."""

    def __init__(self, max_cost_usd: float, spent_usd: float = 0.0):
        self.max_cost_usd = max_cost_usd
        self.spent_usd = spent_usd
        self._unpriced: set[str] = set()

    def record(self, usage: Usage) -> None:
        if usage.cost_usd is not None:
            self.spent_usd += usage.cost_usd

    def check_before_call(self, estimated_prompt_tokens: int, model: str | None = None,
                          reply_tokens: int = MAX_REPLY_TOKENS) -> None:
        """Raise TaskFailed when the cap is reached or the next call could pass it."""
        if self.spent_usd > 0 and self.spent_usd >= self.max_cost_usd:
            raise TaskFailed(self._message("reached"))
        if model is None:
            return
        estimate = estimate_cost(model, estimated_prompt_tokens, reply_tokens)
        if estimate is None:
            if model not in self._unpriced:
                self._unpriced.add(model)
                log.warning("model price unknown, spend cap cannot be checked before calls", extra={"model": model})
            return
        if estimate > self.max_cost_usd - self.spent_usd:
            raise TaskFailed(self._message(f"would be passed by the next model call (about ${estimate:.4f})"))

    def _message(self, what: str) -> str:
        return (f"spend cap of ${self.max_cost_usd:.2f} {what} (${self.spent_usd:.4f} spent). "
                "Raise AGENT_MAX_COST_USD, make the task smaller, or use a cheaper model.")


@dataclass(eq=False)  # exceptions stay hashable
class _ModelFailed(Exception):
    """One model gave up (after retries, or at once for errors a retry cannot fix)."""

    model: str
    message: str
    retryable: bool


class LiteLLMModel:
    """``runner.ports.Model`` through LiteLLM. One instance per task (it carries the task's Budget)."""

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep,
                 budget: Budget | None = None, timeout: float = 600.0):
        self.models = tuple(m for m in (settings.model, *settings.fallback_models) if m)
        if not self.models:
            raise ValueError("LiteLLMModel needs AGENT_MODEL")
        self.settings = settings
        self.budget = budget if budget is not None else Budget(settings.max_cost_usd)
        self.timeout = timeout
        self._sleep = sleep

    def complete(self, messages: list[dict[str, Any]]) -> ModelReply:
        failures: list[_ModelFailed] = []
        for model in self.models:
            try:
                return self._complete_with(model, messages)
            except _ModelFailed as failure:
                failures.append(failure)
                log.warning("model gave up: %s", failure.message, extra={"model": model})
        raise TaskFailed(_summary(failures))

    def _complete_with(self, model: str, messages: list[dict[str, Any]]) -> ModelReply:
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda exc: _classify(exc, self.settings)[0]),
            stop=_stop, wait=_wait, sleep=self._sleep, reraise=True, before_sleep=_log_retry)
        try:
            return retrying(self._call, model, messages)
        except TaskFailed:
            raise  # the spend cap: no fallback can help
        except Exception as exc:  # the boundary: LiteLLM, openai and httpx errors end here
            retryable, reason = _classify(exc, self.settings)
            raise _ModelFailed(model, f"did not answer ({reason})" if retryable else reason, retryable) from exc

    def _call(self, model: str, messages: list[dict[str, Any]]) -> ModelReply:
        module = litellm()
        allowance = reply_allowance(model)
        prompt_tokens = estimate_tokens(messages)
        self.budget.check_before_call(prompt_tokens, model, allowance)
        log.debug("model call", extra={"model": model, "messages": len(messages), "prompt_tokens_est": prompt_tokens})
        started = time.monotonic()
        response = module.completion(
            model=model, messages=messages, api_base=self.settings.llm_api_base, timeout=self.timeout,
            max_tokens=allowance, num_retries=0, max_retries=0, drop_params=True)
        reply = _reply(module, model, response)
        self.budget.record(reply.usage)
        log.info("model answered", extra={
            "model": model, "tokens_in": reply.usage.tokens_in, "tokens_out": reply.usage.tokens_out,
            "cost_usd": reply.usage.cost_usd, "duration_s": round(time.monotonic() - started, 2)})
        return reply


def _reply(module: Any, model: str, response: Any) -> ModelReply:
    choices = getattr(response, "choices", None) or []
    message = getattr(choices[0], "message", None) if choices else None
    text = getattr(message, "content", None) or ""
    usage = getattr(response, "usage", None)
    try:
        cost: float | None = float(module.completion_cost(completion_response=response))
    except Exception:  # no price for this model: cost unknown, tokens still counted
        cost = None
    return ModelReply(text=text, model=model, usage=Usage(
        tokens_in=int(getattr(usage, "prompt_tokens", 0) or 0),
        tokens_out=int(getattr(usage, "completion_tokens", 0) or 0), cost_usd=cost, calls=1))


def retry_after(exc: BaseException) -> float | None:
    """Seconds the provider asked us to wait (``retry-after-ms`` / ``retry-after``), if it said."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:  # LiteLLM keeps headers on itself or a cause
        seen.add(id(current))
        for headers in (getattr(current, "litellm_response_headers", None), getattr(current, "headers", None),
                        getattr(getattr(current, "response", None), "headers", None)):
            seconds = _parse_retry_after(headers)
            if seconds is not None:
                return seconds
        current = current.__cause__ or current.__context__
    return None


def _parse_retry_after(headers: Any) -> float | None:
    if not headers or not hasattr(headers, "get"):
        return None
    millis = headers.get("retry-after-ms")
    value = headers.get("retry-after")
    try:
        if millis is not None:
            return max(0.0, float(millis) / 1000)
        if value is not None:
            return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None  # an HTTP date
        if parsed is not None:
            return max(0.0, parsed.timestamp() - time.time())
    return None


def _stop(state: tenacity.RetryCallState) -> bool:
    if state.attempt_number >= MAX_ATTEMPTS:
        return True
    exc = state.outcome.exception() if state.outcome else None
    wanted = retry_after(exc) if exc is not None else None
    return wanted is not None and wanted > MAX_WAIT_S  # waiting less than asked would only be refused again


def _wait(state: tenacity.RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    wanted = retry_after(exc) if exc is not None else None
    if wanted is not None:
        return min(wanted, MAX_WAIT_S)
    return min(MAX_WAIT_S, 2.0 ** (state.attempt_number - 1))


def _log_retry(state: tenacity.RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else None
    log.warning("model call failed, retrying: %s", type(exc).__name__,
                extra={"attempt": state.attempt_number, "wait_s": wait})


def _classify(exc: BaseException, settings: Settings) -> tuple[bool, str]:
    """(worth retrying?, user-facing reason) for an error from a model call."""
    if isinstance(exc, TaskFailed):
        return False, str(exc)
    lib = litellm()
    status = getattr(exc, "status_code", None)
    text = _redact(str(exc))
    if isinstance(exc, lib.ContextWindowExceededError):
        return False, ("the model's context window is too small for this task; use a model with a larger "
                       f"window (AGENT_MODEL) or lower AGENT_CONTEXT_TOKENS (now {settings.context_tokens})")
    if isinstance(exc, lib.ContentPolicyViolationError):
        return False, "the model provider refused the request under its content policy"
    if isinstance(exc, lib.AuthenticationError):
        return False, (f"the model provider rejected the API key (check {_key_variable(settings.model)} or "
                       "the key variable LiteLLM documents for your provider)")
    if isinstance(exc, lib.PermissionDeniedError):
        return False, f"the model provider denied access: {text}"
    if isinstance(exc, lib.NotFoundError):
        return False, f"the model provider does not know this model (check AGENT_MODEL): {text}"
    if isinstance(exc, lib.RateLimitError):
        if "insufficient_quota" in text or ("quota" in text.lower() and "exceeded" in text.lower()):
            return False, "the model provider says the account's quota or credit is used up"
        return True, "rate limited"
    if isinstance(exc, lib.Timeout):
        return True, "timed out"
    if isinstance(exc, lib.APIConnectionError):
        return True, f"could not connect: {text}"
    if isinstance(status, int) and (status >= 500 or status == 408):
        return True, f"server error {status}"
    return False, f"the model call failed: {text}"


def _key_variable(model: str | None) -> str:
    provider = (model or "openai").split("/", 1)[0] if "/" in (model or "") else "openai"
    return re.sub(r"[^A-Z0-9]+", "_", provider.upper()) + "_API_KEY"


def _redact(text: str, limit: int = 300) -> str:
    """Provider messages sometimes echo part of a key; never pass one on to a comment or log."""
    text = re.sub(r"\b(sk|rk|pk|key|gsk|xai)[-_][A-Za-z0-9_*-]{6,}", "[redacted]", text)
    return text if len(text) <= limit else text[:limit] + "..."


def _summary(failures: list[_ModelFailed]) -> str:
    if len(failures) == 1 and not failures[0].retryable:
        return failures[0].message
    detail = "; ".join(f"{f.model} {f.message}" if f.retryable else f"{f.model}: {f.message}" for f in failures)
    hint = "" if not any(f.retryable for f in failures) else (
        ". Try again later (remove the failed label) or set AGENT_FALLBACK_MODELS")
    return f"model unavailable: {detail}{hint}"
