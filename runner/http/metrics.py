"""``GET /metrics``: Prometheus text from one private registry.

Counted here as they happen: polls (by result), task durations (by outcome), webhook deliveries (by
result) and follow-ups (by outcome). Read at scrape time: the REST client's counters
(``RestClient.stats``), the journal (tasks by state, tokens, cost, today's spend) and the loop's last
tick. Every name starts with ``agent_runner_``; docs/http.md lists them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from runner.errors import TransientError
from runner.github.values import RestStats
from runner.state import TERMINAL, UNFINISHED

DURATION_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
KNOWN_STATES = ("new", "waiting", *UNFINISHED, *TERMINAL)


class JournalSummary(Protocol):
    """What the collector reads from the journal (``runner.state.Journal`` has it)."""

    def summary(self) -> dict[str, Any]: ...


class Metrics:
    """The registry and the live counters. ``stats``, ``journal``, ``last_tick`` and ``spend`` are
    read at every scrape; ``spend`` returns (spent today, daily limit or None), or is None."""

    def __init__(self, *, stats: RestStats, journal: JournalSummary, last_tick: Callable[[], float | None],
                 spend: Callable[[], tuple[float, float | None]] | None = None):
        prometheus_client.disable_created_metrics()  # no *_created series: they only add noise here
        self.registry = CollectorRegistry()
        self.polls = Counter("agent_runner_polls", "Poll sweeps of the dispatch repository, by result "
                             "(changed, unchanged, failed).", ["result"], registry=self.registry)
        self.task_duration = Histogram("agent_runner_task_duration_seconds", "Wall time of one task attempt, "
                                       "by outcome.", ["outcome"], buckets=DURATION_BUCKETS, registry=self.registry)
        self.webhooks = Counter("agent_runner_webhook_deliveries", "Webhook deliveries, by result (accepted, "
                                "ignored, duplicate, unauthorized, bad_request).", ["result"], registry=self.registry)
        self.followups = Counter("agent_runner_followups", "Follow-up rounds (/agent comments), by outcome.",
                                 ["outcome"], registry=self.registry)
        self.registry.register(_ScrapeTime(stats, journal, last_tick, spend))

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return prometheus_client.generate_latest(self.registry), prometheus_client.CONTENT_TYPE_LATEST


class _ScrapeTime(Collector):
    """Values that live elsewhere, read when Prometheus scrapes."""

    def __init__(self, stats: RestStats, journal: JournalSummary, last_tick: Callable[[], float | None],
                 spend: Callable[[], tuple[float, float | None]] | None):
        self.stats, self.journal, self.last_tick, self.spend = stats, journal, last_tick, spend

    def collect(self) -> Iterator[Metric]:
        yield from self._github()
        yield from self._tasks()
        tick = self.last_tick()
        if tick is not None:
            yield GaugeMetricFamily("agent_runner_last_tick_timestamp_seconds",
                                    "When the poll loop last started a round (epoch seconds).", value=tick)

    def _github(self) -> Iterator[Metric]:
        s = self.stats
        for name, value, text in (
            ("requests", s.requests, "HTTP exchanges with GitHub's REST API, retries included."),
            ("conditional_requests", s.conditional_requests, "Requests sent with If-None-Match."),
            ("not_modified", s.not_modified, "304 answers (free of primary rate limit)."),
            ("writes", s.writes, "POST, PATCH, PUT and DELETE requests."),
            ("retries", s.retries, "Requests sent again after a fault or a rate limit."),
        ):
            yield CounterMetricFamily(f"agent_runner_github_{name}", text, value=value)
        share = s.not_modified / s.conditional_requests if s.conditional_requests else 0.0
        yield GaugeMetricFamily("agent_runner_github_not_modified_ratio",
                                "Share of conditional requests that GitHub answered 304.", value=share)
        if s.rate_limit_remaining is not None:
            yield GaugeMetricFamily("agent_runner_github_rate_limit_remaining",
                                    "x-ratelimit-remaining of the last answer (core resource).",
                                    value=s.rate_limit_remaining)
        if s.rate_limit_reset is not None:
            yield GaugeMetricFamily("agent_runner_github_rate_limit_reset_timestamp_seconds",
                                    "x-ratelimit-reset of the last answer (epoch seconds).", value=s.rate_limit_reset)

    def _tasks(self) -> Iterator[Metric]:
        summary = self.journal.summary()
        states = GaugeMetricFamily("agent_runner_tasks", "Tasks in the journal, by state.", labels=["state"])
        counts = {state: 0 for state in KNOWN_STATES} | summary["states"]
        for state, count in sorted(counts.items()):
            states.add_metric([state], count)
        yield states
        tokens = CounterMetricFamily("agent_runner_model_tokens", "Model tokens of the tasks in the journal.",
                                     labels=["direction"])
        tokens.add_metric(["in"], summary["tokens_in"])
        tokens.add_metric(["out"], summary["tokens_out"])
        yield tokens
        yield CounterMetricFamily("agent_runner_model_cost_usd", "Model cost (USD) of the tasks in the journal; "
                                  "unknown prices count 0.", value=summary["cost_usd"])
        if self.spend is not None:
            spent, limit = self.spend()
            yield GaugeMetricFamily("agent_runner_spend_today_usd", "Model cost of tasks updated since 00:00 UTC.",
                                    value=spent)
            if limit is not None:
                yield GaugeMetricFamily("agent_runner_daily_budget_usd", "AGENT_DAILY_BUDGET_USD.", value=limit)


class TimedPipeline:
    """Wraps the pipeline: observes each task's duration and outcome; everything else passes through."""

    def __init__(self, pipeline: Any, metrics: Metrics, clock: Callable[[], float] = time.monotonic):
        self._inner, self._metrics, self._clock = pipeline, metrics, clock

    def run(self, issue: dict[str, Any]) -> str:
        started, outcome = self._clock(), "error"
        try:
            outcome = self._inner.run(issue)
            return outcome
        except Exception as fault:  # the service decides what a fault means; this only labels it
            outcome = "deferred" if isinstance(fault, TransientError) else "error"
            raise
        finally:
            if outcome != "waiting":  # a task waiting for the budget is looked at every poll, in no time
                self._metrics.task_duration.labels(outcome).observe(self._clock() - started)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)



class CountedFollowups:
    """Wraps the follow-ups (``runner.followup.Followups``): counts each round's outcome."""

    def __init__(self, followups: Any, metrics: Metrics):
        self._inner, self._metrics = followups, metrics

    def run(self, row: Any) -> str:
        outcome = "error"
        try:
            outcome = self._inner.run(row)
            return outcome
        except TransientError:
            outcome = "deferred"
            raise
        finally:
            self._metrics.followups.labels(outcome).inc()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
