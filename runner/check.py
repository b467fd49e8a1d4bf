"""``python -m runner check``: one line per check, exit 0 when all pass, 2 otherwise."""

from __future__ import annotations

from collections.abc import Callable

from runner.config import Settings
from runner.errors import RunnerError


def run_checks(settings: Settings, out: Callable[[str], None] = print) -> int:
    from runner.app import build

    app = build(settings)
    hub = app.hub
    ok = True

    def check(name: str, fn: Callable[[], str]) -> None:
        nonlocal ok
        try:
            out(f"ok    {name}: {fn()}")
        except (RunnerError, OSError) as problem:
            ok = False
            out(f"FAIL  {name}: {problem}")

    check("token", lambda: f"authenticated as {hub.whoami()} at {settings.github_api_url}")
    for repo in dict.fromkeys((settings.dispatch_repo, *settings.allowed_target_repos)):
        role = "dispatch repository" if repo == settings.dispatch_repo else "target repository"
        check(f"{role} {repo}", lambda repo=repo: _repo_access(hub, repo, settings.uses_app))
    for label in (settings.label, settings.processed_label, settings.done_label, settings.failed_label):
        check(f"label {label}", lambda label=label: _label(hub, settings.dispatch_repo, label))
    if settings.model:
        check(f"model {settings.model}", lambda: _model(settings))
    else:
        out("skip  model: AGENT_MODEL is not set (only tasks that carry their own diff can run)")
    return 0 if ok else 2


def _repo_access(hub, repo: str, app: bool = False) -> str:
    info = hub.get_repo(repo)
    permissions = hub.repo_permissions(repo)
    if app and not permissions:  # installation tokens may get no `permissions` block: the install decides
        return (f"readable, default branch {info.default_branch} "
                "(the app needs Contents, Issues and Pull requests: write)")
    if not permissions.get("push"):
        raise RunnerError(f"the token can read {repo} but not write to it (needs push access)")
    return f"readable and writable, default branch {info.default_branch}"


def _label(hub, repo: str, name: str) -> str:
    if hub.get_label(repo, name) is not None:
        return "exists"
    return "missing; it will be created on first use (the token can write to the repository)"


def _model(settings: Settings) -> str:
    from runner.agent.model import LiteLLMModel

    reply = LiteLLMModel(settings, timeout=settings.model_timeout).complete([{"role": "user", "content": "Reply with the word ok."}])
    cost = "cost unknown" if reply.usage.cost_usd is None else f"${reply.usage.cost_usd:.5f}"
    return f"answered ({reply.usage.tokens_in} tokens in, {reply.usage.tokens_out} out, {cost})"
