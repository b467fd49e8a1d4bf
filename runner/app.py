"""Wiring: build the real parts from Settings. No logic lives here."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from runner import __version__
from runner.config import Settings
from runner.followup import build as build_followups
from runner.followup_cancel import CancelRegistry
from runner.github.hub import GitHubHub
from runner.github.poller import Poller
from runner.github.rest import RestClient
from runner.pipeline import Pipeline
from runner.service import Service
from runner.steps import StepRunner
from runner.state import Journal
from runner.workspace import GitWorkspace


@dataclass
class App:
    settings: Settings
    journal: Journal
    rest: RestClient
    hub: GitHubHub
    service: Service
    pipeline: Pipeline | None = None  # queue workers run it themselves
    http: Any = None  # runner.http.wiring.Observed when AGENT_HTTP_PORT is set: `run` starts the listener
    notifier: Any = None  # runner.notify.Notifier when AGENT_NOTIFY_URL is set: close it before exiting


def model_factory(settings: Settings):
    """A factory, not a model: LiteLLM is imported only when a task needs it (start-up stays fast)."""
    if not settings.model:
        return None

    def make():
        from runner.agent.model import LiteLLMModel

        return LiteLLMModel(settings, timeout=settings.model_timeout)

    return make


def _write_pacer(settings: Settings):
    """Queue mode: GitHub's write spacing holds across every worker process on the token."""
    if not settings.queue_url:
        return None
    from runner.queue.pacing import fleet_pacer

    return fleet_pacer(settings)


def _token_provider(settings: Settings):
    """(token provider, bot login or None): a GitHub App's rotating installation token, or GITHUB_TOKEN."""
    if not settings.uses_app:
        return (lambda: settings.github_token), None
    from runner import logs
    from runner.github.app_auth import AppTokenProvider

    provider = AppTokenProvider(settings, on_token=logs.add_secret)
    return provider, lambda: provider.bot_login


def _notifier(settings: Settings):
    """Completion notifications (docs/notifications.md), or None without AGENT_NOTIFY_URL."""
    if not settings.notify_url:
        return None
    from runner.notify import Notifier

    return Notifier(settings)


def build(settings: Settings, stop: threading.Event | None = None) -> App:
    from runner.agent.images import ImageFetcher
    from runner.agent.plan import Planner

    stop = stop or threading.Event()
    journal = Journal(settings.db_path)
    token, login = _token_provider(settings)
    rest = RestClient(settings.github_api_url, token, cache=journal, stop_event=stop,
                      timeout=settings.github_timeout, secondary_wait=settings.secondary_wait,
                      min_write_interval=settings.write_interval, write_pacer=_write_pacer(settings),
                      user_agent=f"{settings.name} (agent-runner/{__version__})")
    hub = GitHubHub(rest, kv=journal.kv, login=login)
    workspace = GitWorkspace(settings.state_dir, token, author_name=settings.name)
    # Checkouts left by a crashed process; recent ones may belong to a replica sharing the state dir.
    workspace.prune_checkouts(older_than=2 * settings.task_timeout)
    planner = Planner(settings, model_factory(settings), images=ImageFetcher(settings.github_api_url, token))
    cancels = CancelRegistry()  # `/agent cancel`: the service notes what runs, the pipeline asks
    steps = StepRunner(should_stop=stop.is_set, wait=stop.wait)  # a shutdown cuts retry waits short
    notifier = _notifier(settings)
    pipeline = Pipeline(settings, hub, workspace, planner, journal, should_stop=stop.is_set,
                        cancelled=cancels.requested, steps=steps, notifier=notifier)
    poller = Poller(rest, settings.dispatch_repo, settings.label)
    observed = None
    if settings.http_port is not None:  # the listener's metrics count polls and task durations
        from runner.http.wiring import observe

        observed = observe(settings, journal, rest, poller, pipeline)
        poller, pipeline = observed.poller, observed.pipeline
        if notifier is not None:
            from runner.notify import collector

            observed.metrics.registry.register(collector(notifier))
    if settings.queue_url:  # queue mode: this process polls and enqueues; `worker` processes run tasks
        from runner.queue.dispatcher import QueueService
        from runner.queue.jobs import JobQueue, connect

        queue = JobQueue(connect(settings.queue_url), settings)
        service: Service = QueueService(settings, poller, pipeline, hub, journal, queue=queue, stop=stop)
    else:
        followups = build_followups(settings, hub, workspace, planner, journal, cancels, stop.is_set)
        if observed is not None:
            followups = observed.followups(followups)
        service = Service(settings, poller, pipeline, hub, journal, stop=stop, followups=followups, cancels=cancels)
    return App(settings, journal, rest, hub, service, pipeline, http=observed, notifier=notifier)
