"""Builds the listener's parts around the running service (only when ``AGENT_HTTP_PORT`` is set).

``observe`` wraps the poller and the pipeline before the service is built, so polls and task
durations are counted without the service knowing; ``listen`` then serves the endpoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner.budget import DailyBudget
from runner.config import Settings
from runner.github.rest import RestClient
from runner.http.api import Api
from runner.http.health import PollWatch
from runner.http.metrics import CountedFollowups, Metrics, TimedPipeline
from runner.http.server import HttpListener
from runner.http.webhook import Look, Router, WebhookReceiver
from runner.state import Journal


@dataclass
class Observed:
    """The wrapped poller and pipeline to hand to the service, and the metrics they feed."""

    settings: Settings
    journal: Journal
    rest: RestClient
    metrics: Metrics
    poller: PollWatch
    pipeline: TimedPipeline
    service: Any = None  # set by ``listen``

    def listen(self, service: Any) -> HttpListener:
        """The listener for ``service`` (not started). Webhooks only with ``AGENT_WEBHOOK_SECRET``."""
        self.service = service
        s = self.settings
        receiver = None
        if s.webhook_secret:
            router = Router(s.dispatch_repo, s.label, (s.target_repo, *s.allowed_target_repos))
            receiver = WebhookReceiver(s.webhook_secret, self.journal, router, self._look)
        api = Api(tasks=self.journal, metrics=self.metrics, watch=self.poller, stats=self.rest.stats,
                  last_tick=lambda: getattr(service, "last_tick", None), poll_interval=s.poll_interval,
                  webhook=receiver)
        return HttpListener(api, s.http_host, s.http_port or 0)

    def followups(self, followups: Any) -> Any:
        """The follow-ups to hand to the service, counted by outcome (None stays None)."""
        return CountedFollowups(followups, self.metrics) if followups is not None else None

    def _look(self, look: Look) -> None:
        self.service.poke(look.number)


def observe(settings: Settings, journal: Journal, rest: RestClient, poller: Any, pipeline: Any) -> Observed:
    budget = DailyBudget(settings.daily_budget_usd, journal)
    metrics = Metrics(stats=rest.stats, journal=journal, last_tick=lambda: getattr(observed.service, "last_tick", None),
                      spend=lambda: (budget.spent_today(), settings.daily_budget_usd))
    observed = Observed(settings, journal, rest, metrics, PollWatch(poller, lambda r: metrics.polls.labels(r).inc()),
                        TimedPipeline(pipeline, metrics))
    return observed
