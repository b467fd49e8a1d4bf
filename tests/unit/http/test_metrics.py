"""/metrics: the documented series, with values from the REST counters, the journal and the loop."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runner.errors import TransientError
from runner.github.values import RestStats
from runner.http.metrics import CountedFollowups, Metrics, TimedPipeline
from runner.state import Journal, TaskRecord


def samples(metrics: Metrics) -> dict[tuple[str, tuple], float]:
    text, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=")
    found = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "state.db")
    j.upsert(TaskRecord("t-1", "acme/tasks", 1, "done", tokens_in=1200, tokens_out=300, cost_usd=0.25))
    j.upsert(TaskRecord("t-2", "acme/tasks", 2, "working", tokens_in=800, tokens_out=100, cost_usd=0.05))
    j.upsert(TaskRecord("t-3", "acme/tasks", 3, "failed", cost_usd=None, cost_known=False))
    return j


def test_metrics_show_github_journal_and_loop_values(journal):
    stats = RestStats(requests=40, conditional_requests=30, not_modified=27, writes=6, retries=1,
                      rate_limit_remaining=4987, rate_limit_reset=1_750_003_600.0)
    m = Metrics(stats=stats, journal=journal, last_tick=lambda: 1_750_000_000.0, spend=lambda: (0.3, 5.0))
    m.polls.labels("unchanged").inc(3)
    m.webhooks.labels("accepted").inc()
    got = samples(m)
    assert got[("agent_runner_github_requests_total", ())] == 40
    assert got[("agent_runner_github_not_modified_total", ())] == 27
    assert got[("agent_runner_github_not_modified_ratio", ())] == pytest.approx(0.9)
    assert got[("agent_runner_github_rate_limit_remaining", ())] == 4987
    assert got[("agent_runner_polls_total", (("result", "unchanged"),))] == 3
    assert got[("agent_runner_webhook_deliveries_total", (("result", "accepted"),))] == 1
    assert got[("agent_runner_tasks", (("state", "done"),))] == 1
    assert got[("agent_runner_tasks", (("state", "working"),))] == 1
    assert got[("agent_runner_tasks", (("state", "waiting"),))] == 0  # every known state has a series
    assert got[("agent_runner_model_tokens_total", (("direction", "in"),))] == 2000
    assert got[("agent_runner_model_cost_usd_total", ())] == pytest.approx(0.30)
    assert got[("agent_runner_spend_today_usd", ())] == pytest.approx(0.3)
    assert got[("agent_runner_daily_budget_usd", ())] == 5.0
    assert got[("agent_runner_last_tick_timestamp_seconds", ())] == 1_750_000_000.0


def test_metrics_leave_out_what_is_not_known_yet(tmp_path):
    m = Metrics(stats=RestStats(), journal=Journal(tmp_path / "state.db"), last_tick=lambda: None)
    names = {name for name, _ in samples(m)}
    assert "agent_runner_github_rate_limit_remaining" not in names
    assert "agent_runner_last_tick_timestamp_seconds" not in names
    assert "agent_runner_daily_budget_usd" not in names
    assert not any(name.endswith("_created") for name in names)


class Outcomes:
    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.note = "passes through"

    def run(self, issue):
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def test_timed_pipeline_observes_durations_by_outcome(tmp_path):
    m = Metrics(stats=RestStats(), journal=Journal(tmp_path / "state.db"), last_tick=lambda: None)
    ticks = iter([0.0, 42.0, 100.0, 107.0, 200.0, 200.0])
    timed = TimedPipeline(Outcomes("done", TransientError("GitHub answered 502"), "waiting"), m,
                          clock=lambda: next(ticks))
    assert timed.run({}) == "done"
    with pytest.raises(TransientError):
        timed.run({})
    assert timed.run({}) == "waiting"
    assert timed.note == "passes through"
    got = samples(m)
    assert got[("agent_runner_task_duration_seconds_count", (("outcome", "done"),))] == 1
    assert got[("agent_runner_task_duration_seconds_sum", (("outcome", "done"),))] == 42.0
    assert got[("agent_runner_task_duration_seconds_bucket", (("le", "60.0"), ("outcome", "done")))] == 1
    assert got[("agent_runner_task_duration_seconds_count", (("outcome", "deferred"),))] == 1
    assert ("agent_runner_task_duration_seconds_count", (("outcome", "waiting"),)) not in got


def test_counted_followups_count_rounds_by_outcome(tmp_path):
    m = Metrics(stats=RestStats(), journal=Journal(tmp_path / "state.db"), last_tick=lambda: None)
    counted = CountedFollowups(Outcomes("done", "done", "failed", TransientError("GitHub answered 503")), m)
    for _ in range(3):
        counted.run(object())
    with pytest.raises(TransientError):
        counted.run(object())
    got = samples(m)
    assert got[("agent_runner_followups_total", (("outcome", "done"),))] == 2
    assert got[("agent_runner_followups_total", (("outcome", "failed"),))] == 1
    assert got[("agent_runner_followups_total", (("outcome", "deferred"),))] == 1
    assert counted.note == "passes through"
