"""The spend cap across tasks (``AGENT_DAILY_BUDGET_USD``), read from the journal per UTC day.

The day's spend is the model cost of the tasks the journal updated since 00:00 UTC. It is checked
before a new task is claimed, so tasks already running finish (each within ``AGENT_MAX_COST_USD``) and
the day can end a little over the cap; no new task starts until the next UTC day.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol


class SpendJournal(Protocol):
    """What the budget needs from the journal (``runner.state.Journal`` has it)."""

    def cost_since(self, since: float) -> float: ...


@dataclass(frozen=True)
class BudgetState:
    """Today's spend against the cap, and when the next UTC day (and so new spending) starts."""

    limit_usd: float
    spent_usd: float
    resets_at: float  # epoch seconds of the next 00:00 UTC

    @property
    def reached(self) -> bool:
        return self.spent_usd >= self.limit_usd

    def wait_message(self) -> str:
        """What the status comment of a task that waits for the budget says."""
        reset = datetime.fromtimestamp(self.resets_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        return (f"The daily budget of ${self.limit_usd:.2f} is reached (${self.spent_usd:.2f} spent today, "
                f"UTC). This task will start after 00:00 UTC, at {reset}.")


def day_start(now: float) -> float:
    """Epoch seconds of 00:00 UTC on the day ``now`` falls in."""
    moment = datetime.fromtimestamp(now, UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def next_day_start(now: float) -> float:
    """Epoch seconds of the next 00:00 UTC after ``now``."""
    return (datetime.fromtimestamp(day_start(now), UTC) + timedelta(days=1)).timestamp()


class DailyBudget:
    """``AGENT_DAILY_BUDGET_USD`` as a question the pipeline can ask: may a new task start now?"""

    def __init__(self, limit_usd: float | None, journal: SpendJournal, clock: Callable[[], float] = time.time):
        self.limit_usd = limit_usd
        self.journal = journal
        self.clock = clock

    def state(self) -> BudgetState | None:
        """Today's standing, or None when no daily budget is configured."""
        if self.limit_usd is None:
            return None
        now = self.clock()
        return BudgetState(self.limit_usd, self.journal.cost_since(day_start(now)), next_day_start(now))

    def blocking(self) -> BudgetState | None:
        """The standing when the cap is reached (new tasks must wait), else None."""
        state = self.state()
        return state if state is not None and state.reached else None

    def spent_today(self) -> float:
        return self.journal.cost_since(day_start(self.clock()))
