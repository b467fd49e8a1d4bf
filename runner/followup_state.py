"""The journal's memory of follow-up comments: each `/agent` comment once, and where each repo's
comment listing stands.

A comment is recorded here before anything is done about it (``record``), so a restart never handles
it twice; a recorded round that did not finish is resumed, and its earlier effects on GitHub (the
commit's ``Agent-Followup`` trailer, the reply's hidden marker) are looked for first. Losing this
table costs requests, never a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from runner.ports import Usage
from runner.state import Journal

_TABLES = (
    """CREATE TABLE IF NOT EXISTS followups (
        repo TEXT NOT NULL, comment_id INTEGER NOT NULL, number INTEGER NOT NULL, on_pr INTEGER NOT NULL,
        author TEXT NOT NULL, kind TEXT NOT NULL, instruction TEXT NOT NULL, created_at REAL NOT NULL,
        state TEXT NOT NULL, dispatch_number INTEGER, task_id TEXT, round INTEGER, reply_id INTEGER,
        cancelled_by TEXT, tokens_in INTEGER NOT NULL DEFAULT 0, tokens_out INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL, cost_known INTEGER NOT NULL DEFAULT 1, turns INTEGER NOT NULL DEFAULT 0,
        model TEXT, counted INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL DEFAULT 0,
        error TEXT, updated_at REAL NOT NULL DEFAULT 0, PRIMARY KEY (repo, comment_id))""",
    "CREATE TABLE IF NOT EXISTS followup_marks (repo TEXT PRIMARY KEY, since REAL NOT NULL, started REAL NOT NULL)",
)
WAITING = ("new", "queued")  # new: not looked at yet; queued: a round waiting for (or held by) a worker


@dataclass(frozen=True)
class FollowupRow:
    """One command comment (`/agent ...` or `/agent cancel`) and what became of it."""

    repo: str  # where the comment is (a target repo, or the dispatch repo)
    comment_id: int
    number: int  # the PR (or dispatch issue) the comment is on
    on_pr: bool
    author: str
    kind: str  # "round" or "cancel"
    instruction: str  # sanitized; empty for a cancel
    created_at: float  # the comment's, epoch seconds
    state: str = "new"  # new, queued, done, failed, ignored
    dispatch_number: int | None = None
    task_id: str | None = None
    round: int | None = None
    reply_id: int | None = None
    cancelled_by: str | None = None  # a cancel arrived before this round started
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = 0.0
    cost_known: bool = True
    turns: int = 0
    model: str | None = None
    counted: bool = False  # this round's usage was added to the task's journal row
    next_attempt_at: float = 0.0
    error: str | None = None
    updated_at: float = 0.0

    @property
    def key(self) -> tuple[str, int]:
        return (self.repo, self.comment_id)

    @property
    def usage(self) -> Usage:
        return Usage(self.tokens_in, self.tokens_out, self.cost_usd if self.cost_known else None)


_COLUMNS = tuple(f.name for f in fields(FollowupRow))
_BOOLS = ("on_pr", "cost_known", "counted")


@dataclass(frozen=True)
class Mark:
    """Where a repo's comment listing stands: ``since`` for the next request; comments created before
    ``started`` (when this journal began watching) are history, never commands."""

    since: float
    started: float


class FollowupLog:
    """The ``followups`` and ``followup_marks`` tables of the journal."""

    def __init__(self, journal: Journal, clock: Callable[[], float]):
        self.journal, self._clock = journal, clock
        with journal.transaction() as db:
            for statement in _TABLES:
                db.execute(statement)

    # -- rows ------------------------------------------------------------------------------------

    def get(self, key: tuple[str, int]) -> FollowupRow | None:
        rows = self.journal.query(f"SELECT {','.join(_COLUMNS)} FROM followups WHERE repo=? AND comment_id=?", key)
        return _row(rows[0]) if rows else None

    def record(self, row: FollowupRow) -> bool:
        """Insert ``row`` unless its comment is known already; True when it was new."""
        values = {**row.__dict__, "updated_at": self._clock()}
        values.update({name: int(values[name]) for name in _BOOLS})
        with self.journal.transaction() as db:
            cursor = db.execute(f"INSERT OR IGNORE INTO followups ({','.join(_COLUMNS)}) "
                                f"VALUES ({','.join('?' * len(_COLUMNS))})", tuple(values[c] for c in _COLUMNS))
            return cursor.rowcount == 1

    def update(self, key: tuple[str, int], **changes: Any) -> None:
        changes = {k: int(v) if k in _BOOLS else v for k, v in changes.items()}
        changes["updated_at"] = self._clock()
        assignments = ",".join(f"{name}=?" for name in changes)
        with self.journal.transaction() as db:
            db.execute(f"UPDATE followups SET {assignments} WHERE repo=? AND comment_id=?",
                       (*changes.values(), *key))

    def waiting(self, now: float) -> list[FollowupRow]:
        """Rows still to act on (oldest comment first), except those backing off after a fault."""
        rows = self.journal.query(
            f"SELECT {','.join(_COLUMNS)} FROM followups WHERE state IN ({','.join('?' * len(WAITING))}) "
            "AND next_attempt_at <= ? ORDER BY created_at, comment_id", (*WAITING, now))
        return [_row(r) for r in rows]

    def cancel_queued(self, dispatch_number: int, before: float, who: str) -> int:
        """Flag the queued rounds of a task asked for before ``before``; how many were flagged."""
        with self.journal.transaction() as db:
            cursor = db.execute(
                "UPDATE followups SET cancelled_by=?, updated_at=? WHERE state='queued' AND kind='round' "
                "AND dispatch_number=? AND created_at<=? AND cancelled_by IS NULL",
                (who, self._clock(), dispatch_number, before))
            return cursor.rowcount

    def count_usage(self, row: FollowupRow, *, dispatch_repo: str, target_repo: str) -> None:
        """Add the round's usage to its task's journal row, once (the flag and the sum change in one
        transaction). A task the journal does not know gets a row whose cost is unknown: the cost of
        the rounds before it was never seen here."""
        known = int(row.cost_known and row.cost_usd is not None)
        now = self._clock()
        with self.journal.transaction() as db:
            flagged = db.execute("UPDATE followups SET counted=1, updated_at=? WHERE repo=? AND comment_id=? "
                                 "AND counted=0", (now, *row.key)).rowcount
            if not flagged or row.task_id is None:
                return
            updated = db.execute(
                "UPDATE tasks SET tokens_in=tokens_in+?, tokens_out=tokens_out+?, turns=turns+?, "
                "cost_usd=CASE WHEN ?=1 AND cost_known=1 THEN COALESCE(cost_usd,0)+? ELSE cost_usd END, "
                "cost_known=CASE WHEN ?=1 THEN cost_known ELSE 0 END, model=COALESCE(?, model), updated_at=? "
                "WHERE task_id=?",
                (row.tokens_in, row.tokens_out, row.turns, known, row.cost_usd or 0.0, known, row.model, now,
                 row.task_id)).rowcount
            if not updated:
                db.execute(
                    "INSERT INTO tasks (task_id, dispatch_repo, issue_number, target_repo, state, tokens_in, "
                    "tokens_out, cost_usd, cost_known, turns, model, created_at, updated_at) "
                    "VALUES (?,?,?,?,'done',?,?,NULL,0,?,?,?,?)",
                    (row.task_id, dispatch_repo, row.dispatch_number or 0, target_repo, row.tokens_in,
                     row.tokens_out, row.turns, row.model, now, now))

    # -- listing marks ---------------------------------------------------------------------------

    def mark(self, repo: str) -> Mark | None:
        rows = self.journal.query("SELECT since, started FROM followup_marks WHERE repo=?", (repo,))
        return Mark(*rows[0]) if rows else None

    def set_mark(self, repo: str, mark: Mark) -> None:
        with self.journal.transaction() as db:
            db.execute("INSERT OR REPLACE INTO followup_marks VALUES (?,?,?)", (repo, mark.since, mark.started))


def _row(values: tuple[Any, ...]) -> FollowupRow:
    data = dict(zip(_COLUMNS, values))
    data.update({name: bool(data[name]) for name in _BOOLS})
    return FollowupRow(**data)
