"""Wiring: build the real parts from Settings. No logic lives here."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from runner import __version__
from runner.config import Settings
from runner.github.hub import GitHubHub
from runner.github.poller import Poller
from runner.github.rest import RestClient
from runner.pipeline import Pipeline
from runner.service import Service
from runner.state import Journal
from runner.workspace import GitWorkspace


@dataclass
class App:
    settings: Settings
    journal: Journal
    rest: RestClient
    hub: GitHubHub
    service: Service


def model_factory(settings: Settings):
    """A factory, not a model: LiteLLM is imported only when a task needs it (start-up stays fast)."""
    if not settings.model:
        return None

    def make():
        from runner.agent.model import LiteLLMModel

        return LiteLLMModel(settings, timeout=settings.model_timeout)

    return make


def build(settings: Settings, stop: threading.Event | None = None) -> App:
    from runner.agent.plan import Planner

    stop = stop or threading.Event()
    journal = Journal(settings.db_path)
    token = lambda: settings.github_token  # noqa: E731 - a provider, so app tokens can rotate later
    rest = RestClient(settings.github_api_url, token, cache=journal, stop_event=stop,
                      user_agent=f"{settings.name} (agent-runner/{__version__})")
    hub = GitHubHub(rest, kv=journal.kv)
    workspace = GitWorkspace(settings.state_dir, token, author_name=settings.name)
    # Checkouts left by a crashed process; recent ones may belong to a replica sharing the state dir.
    workspace.prune_checkouts(older_than=2 * settings.task_timeout)
    planner = Planner(settings, model_factory(settings))
    pipeline = Pipeline(settings, hub, workspace, planner, journal, should_stop=stop.is_set)
    poller = Poller(rest, settings.dispatch_repo, settings.label)
    service = Service(settings, poller, pipeline, hub, journal, stop=stop)
    return App(settings, journal, rest, hub, service)
