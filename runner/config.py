"""Settings: one frozen object built from the environment (and ``.env``), validated all at once.

This is the only module that reads ``os.environ`` for the runner's own settings. ``load`` collects
every problem before raising, so a user fixes a bad configuration in one go.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.errors import ConfigError

REPO_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
PERMISSIONS = ("read", "triage", "write", "maintain", "admin")
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    """Everything the runner is told. Field docs are the contract's table, in short."""

    github_token: str = field(repr=False)  # REST API and git over HTTPS; never logged
    dispatch_repo: str  # owner/name polled for dispatch issues
    github_api_url: str = "https://api.github.com"
    target_repo: str = ""  # default target; the dispatch repo when unset
    allowed_target_repos: tuple[str, ...] = ()  # the target repo when unset
    label: str = "copilot-agent"
    processed_label: str = "agent-processing"
    done_label: str = "agent-done"
    failed_label: str = "agent-failed"
    poll_interval: float = 60.0
    workers: int = 2
    model: str | None = None  # LiteLLM model string
    llm_api_base: str | None = None
    fallback_models: tuple[str, ...] = ()
    max_cost_usd: float = 2.0
    max_turns: int = 6
    model_timeout: float = 600.0  # seconds one model call may take (local models can be slow)
    verify_command: str | None = None
    verify_timeout: float = 600.0
    min_permission: str = "write"
    allow_external_authors: bool = False
    state_dir: Path = Path(".agent-runner")
    name: str = "agent-runner"
    runner_id: str = "agent-runner"
    task_timeout: float = 3600.0
    branch_prefix: str = "agent-task-"
    github_timeout: float = 30.0  # seconds one GitHub REST request may take before it counts as failed
    secondary_wait: float = 60.0  # seconds to wait after a secondary rate limit that gave no retry-after
    log_level: str = "INFO"
    log_format: str = "text"
    context_tokens: int = 24000  # prompt budget for code context (fits a 32k-token window)
    command: str = "/agent"
    http_port: int | None = None
    http_host: str = "127.0.0.1"
    webhook_secret: str | None = field(default=None, repr=False)
    daily_budget_usd: float | None = None
    queue_url: str | None = None
    queue_lease_ttl: float = 30.0  # seconds a queue worker's claim lives without a heartbeat
    write_interval: float = 1.0  # seconds between GitHub writes per token (every queue worker together)
    notify_url: str | None = None
    notify_secret: str | None = field(default=None, repr=False)
    priority_label: str = "priority:high"
    github_app_id: int | None = None  # GitHub App auth instead of GITHUB_TOKEN (docs: README "GitHub App")
    github_app_private_key: str | None = field(default=None, repr=False)
    github_app_private_key_path: Path | None = None
    github_app_installation_id: int | None = None  # discovered from the dispatch repo when unset

    @property
    def uses_app(self) -> bool:
        return self.github_app_id is not None

    @property
    def terminal_labels(self) -> tuple[str, ...]:
        return (self.processed_label, self.done_label, self.failed_label)

    @property
    def db_path(self) -> Path:
        return self.state_dir / "state.db"


class _Reader:
    """Reads typed values from a mapping, remembering every problem instead of stopping."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env
        self.problems: list[str] = []

    def raw(self, name: str) -> str | None:
        value = self.env.get(name)
        return value.strip() if value is not None and value.strip() != "" else None

    def text(self, name: str, default: str | None = None) -> str | None:
        return self.raw(name) or default

    def required(self, name: str, example: str) -> str:
        value = self.raw(name)
        if value is None:
            self.problems.append(f"{name}: required but not set (example: {name}={example})")
            return ""
        return value

    def typed(self, name: str, default: Any, convert: Callable[[str], Any], example: str,
              check: Callable[[Any], bool] = lambda v: True, rule: str = "") -> Any:
        value = self.raw(name)
        if value is None:
            return default
        try:
            converted = convert(value)
        except ValueError:
            converted = None
        if converted is None or not check(converted):
            self.problems.append(f"{name}: {value!r} is not {rule or 'valid'} (example: {name}={example})")
            return default
        return converted

    def number(self, name: str, default: float | None, example: str, minimum: float = 0) -> Any:
        return self.typed(name, default, float, example, lambda v: v >= minimum and v == v,
                          f"a number >= {minimum:g}")

    def integer(self, name: str, default: int | None, example: str, minimum: int = 1) -> Any:
        return self.typed(name, default, int, example, lambda v: v >= minimum, f"a whole number >= {minimum}")

    def flag(self, name: str, default: bool) -> bool:
        def convert(v: str) -> bool | None:
            low = v.lower()
            return True if low in TRUE else False if low in FALSE else None
        return self.typed(name, default, convert, "true", rule="true or false")

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        return self.typed(name, default, lambda v: v.lower(), choices[0], lambda v: v in choices,
                          "one of " + ", ".join(choices))

    def repo(self, name: str, value: str | None, example: str = "acme/widgets") -> str | None:
        if value is not None and not REPO_RE.match(value):
            self.problems.append(f"{name}: {value!r} is not owner/name (example: {name}={example})")
        return value

    def repo_list(self, name: str) -> tuple[str, ...]:
        value = self.raw(name)
        if value is None:
            return ()
        items = tuple(part.strip() for part in value.split(",") if part.strip())
        for item in items:
            self.repo(name, item, "acme/widgets,acme/gadgets")
        return items

    def url(self, name: str, default: str | None, schemes: tuple[str, ...], example: str) -> str | None:
        value = self.raw(name)
        if value is None:
            return default
        if not value.startswith(tuple(s + "://" for s in schemes)):
            self.problems.append(f"{name}: {value!r} is not a {'/'.join(schemes)} URL (example: {name}={example})")
        return value.rstrip("/")


def _core(r: _Reader) -> dict[str, Any]:
    dispatch = r.repo("AGENT_DISPATCH_REPO", r.required("AGENT_DISPATCH_REPO", "acme/agent-tasks") or None) or ""
    target = r.repo("AGENT_TARGET_REPO", r.text("AGENT_TARGET_REPO")) or dispatch
    allowed = r.repo_list("AGENT_ALLOWED_TARGET_REPOS") or ((target,) if target else ())
    name = r.text("AGENT_NAME", "agent-runner")
    return dict(
        github_token=r.text("GITHUB_TOKEN", "") if r.raw("GITHUB_APP_ID") else
        r.required("GITHUB_TOKEN", "<a token with repo scope>"),
        github_api_url=r.url("GITHUB_API_URL", "https://api.github.com", ("http", "https"),
                             "https://github.example.com/api/v3"),
        dispatch_repo=dispatch,
        target_repo=target,
        allowed_target_repos=allowed,
        label=r.text("AGENT_LABEL", "copilot-agent"),
        processed_label=r.text("AGENT_PROCESSED_LABEL", "agent-processing"),
        done_label=r.text("AGENT_DONE_LABEL", "agent-done"),
        failed_label=r.text("AGENT_FAILED_LABEL", "agent-failed"),
        poll_interval=r.number("AGENT_POLL_INTERVAL", 60.0, "60", minimum=0.1),
        workers=r.integer("AGENT_WORKERS", 2, "2"),
        name=name,
        runner_id=r.text("AGENT_RUNNER_ID", name),
        state_dir=Path(r.text("AGENT_STATE_DIR", ".agent-runner")),
        task_timeout=r.number("AGENT_TASK_TIMEOUT", 3600.0, "3600", minimum=1),
        branch_prefix=r.text("AGENT_BRANCH_PREFIX", "agent-task-"),
        github_timeout=r.number("AGENT_GITHUB_TIMEOUT", 30.0, "30", minimum=1),
        secondary_wait=r.number("AGENT_SECONDARY_WAIT", 60.0, "60", minimum=1),  # GitHub asks for >= 60
        min_permission=r.choice("AGENT_MIN_PERMISSION", "write", PERMISSIONS),
        allow_external_authors=r.flag("AGENT_ALLOW_EXTERNAL_AUTHORS", False),
        log_level=r.typed("LOG_LEVEL", "INFO", str.upper, "INFO",
                          lambda v: v in ("DEBUG", "INFO", "WARNING", "ERROR"), "one of DEBUG, INFO, WARNING, ERROR"),
        log_format=r.choice("LOG_FORMAT", "text", ("text", "json")),
    )


def _agent(r: _Reader) -> dict[str, Any]:
    fallbacks = r.raw("AGENT_FALLBACK_MODELS")
    return dict(
        model=r.text("AGENT_MODEL"),
        llm_api_base=r.url("AGENT_LLM_API_BASE", None, ("http", "https"), "http://localhost:11434"),
        fallback_models=tuple(m.strip() for m in fallbacks.split(",") if m.strip()) if fallbacks else (),
        max_cost_usd=r.number("AGENT_MAX_COST_USD", 2.0, "2.00"),
        max_turns=r.integer("AGENT_MAX_TURNS", 6, "6"),
        model_timeout=r.number("AGENT_MODEL_TIMEOUT", 600.0, "600", minimum=1),
        verify_command=r.text("AGENT_VERIFY_COMMAND"),
        verify_timeout=r.number("AGENT_VERIFY_TIMEOUT", 600.0, "600", minimum=1),
        context_tokens=r.integer("AGENT_CONTEXT_TOKENS", 24000, "24000", minimum=1000),
    )


def _later(r: _Reader) -> dict[str, Any]:
    return dict(
        command=r.text("AGENT_COMMAND", "/agent"),
        http_port=r.typed("AGENT_HTTP_PORT", None, int, "8080", lambda v: 0 <= v <= 65535, "a port number"),
        http_host=r.text("AGENT_HTTP_HOST", "127.0.0.1"),
        webhook_secret=r.text("AGENT_WEBHOOK_SECRET"),
        daily_budget_usd=r.number("AGENT_DAILY_BUDGET_USD", None, "20"),
        queue_url=r.url("AGENT_QUEUE_URL", None, ("redis", "rediss"), "redis://localhost:6379/0"),
        queue_lease_ttl=r.number("AGENT_QUEUE_LEASE_TTL", 30.0, "30", minimum=1),
        write_interval=r.number("AGENT_WRITE_INTERVAL", 1.0, "1", minimum=0.05),  # GitHub asks for >= 1
        notify_url=r.url("AGENT_NOTIFY_URL", None, ("http", "https"), "https://backend.example.com/agent-hook"),
        notify_secret=r.text("AGENT_NOTIFY_SECRET"),
        priority_label=r.text("AGENT_PRIORITY_LABEL", "priority:high"),
    )


def _app(r: _Reader) -> dict[str, Any]:
    """GitHub App auth: an app id, its private key given exactly one way, optionally the installation."""
    app_id = r.integer("GITHUB_APP_ID", None, "123456")
    key, key_path = r.raw("GITHUB_APP_PRIVATE_KEY"), r.raw("GITHUB_APP_PRIVATE_KEY_PATH")
    path = Path(key_path) if key_path else None
    example = "GITHUB_APP_PRIVATE_KEY_PATH=/run/secrets/agent-runner-app.pem"
    if r.raw("GITHUB_APP_ID") is not None:
        if key and path:
            r.problems.append("GITHUB_APP_PRIVATE_KEY and GITHUB_APP_PRIVATE_KEY_PATH: set only one "
                              f"(example: {example})")
        elif not key and not path:
            r.problems.append(f"GITHUB_APP_PRIVATE_KEY_PATH: required with GITHUB_APP_ID (example: {example})")
        elif path and not path.is_file():
            r.problems.append(f"GITHUB_APP_PRIVATE_KEY_PATH: {key_path!r} is not a readable file (example: {example})")
        elif key and "PRIVATE KEY" not in key:
            r.problems.append("GITHUB_APP_PRIVATE_KEY: not a PEM private key (it starts with "
                              "-----BEGIN RSA PRIVATE KEY-----; or use GITHUB_APP_PRIVATE_KEY_PATH)")
    elif key or path or r.raw("GITHUB_APP_INSTALLATION_ID"):
        r.problems.append("GITHUB_APP_ID: required when a GitHub App key or installation is set "
                          "(example: GITHUB_APP_ID=123456)")
    return dict(
        github_app_id=app_id,
        github_app_private_key=key,
        github_app_private_key_path=path,
        github_app_installation_id=r.integer("GITHUB_APP_INSTALLATION_ID", None, "12345678"),
    )


def _cross_checks(values: dict[str, Any], r: _Reader) -> None:
    target = values["target_repo"]
    allowed = values["allowed_target_repos"]
    if target and allowed and target not in allowed and r.raw("AGENT_TARGET_REPO"):
        r.problems.append(f"AGENT_TARGET_REPO: {target!r} is not in AGENT_ALLOWED_TARGET_REPOS "
                          f"(example: AGENT_ALLOWED_TARGET_REPOS={','.join(allowed + (target,))})")
    labels = [values[k] for k in ("label", "processed_label", "done_label", "failed_label")]
    if len(set(labels)) != len(labels):
        r.problems.append("AGENT_LABEL, AGENT_PROCESSED_LABEL, AGENT_DONE_LABEL and AGENT_FAILED_LABEL "
                          f"must differ (now: {', '.join(labels)})")
    if not re.fullmatch(r"[A-Za-z0-9._/-]*", values["branch_prefix"]) or values["branch_prefix"].startswith("-"):
        r.problems.append(f"AGENT_BRANCH_PREFIX: {values['branch_prefix']!r} is not branch-safe "
                          "(example: AGENT_BRANCH_PREFIX=agent-task-)")


def from_mapping(env: Mapping[str, str]) -> Settings:
    """Build settings from a plain mapping; raises ConfigError listing every problem."""
    reader = _Reader(env)
    values = {**_core(reader), **_agent(reader), **_later(reader), **_app(reader)}
    _cross_checks(values, reader)
    if reader.problems:
        raise ConfigError(reader.problems)
    return Settings(**values)


def load(env_file: str | os.PathLike[str] | None = ".env", environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``.env`` (if present) overlaid by the real environment, which wins."""
    merged: dict[str, str] = {}
    if env_file and Path(env_file).is_file():
        from dotenv import dotenv_values

        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ if environ is None else environ)
    return from_mapping(merged)


DEMO_PASSTHROUGH = ("AGENT_MODEL", "AGENT_LLM_API_BASE", "AGENT_FALLBACK_MODELS", "AGENT_MAX_COST_USD",
                    "AGENT_VERIFY_COMMAND", "LOG_LEVEL", "LOG_FORMAT")


def demo_settings(overrides: Mapping[str, str]) -> Settings:
    """Settings for ``demo``: its own stand-ins, plus the user's model choice from the environment."""
    chosen = {k: v for k, v in os.environ.items() if k in DEMO_PASSTHROUGH and v}
    return from_mapping({**overrides, **chosen})
