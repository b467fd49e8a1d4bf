"""The SQLite journal under ``AGENT_STATE_DIR``: ETags, small caches, and what each task did.

GitHub stays the source of truth: losing this file costs requests, never correctness, because every
step that writes to GitHub looks for its own earlier effect first.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from runner.ports import CachedResponse

UNFINISHED = ("claimed", "working", "pushed", "pr_opened")
TERMINAL = ("done", "failed", "refused")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS http_cache (
    key TEXT PRIMARY KEY, etag TEXT NOT NULL, body TEXT NOT NULL, next_url TEXT, fetched_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY, dispatch_repo TEXT NOT NULL, issue_number INTEGER NOT NULL,
    target_repo TEXT, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, runner_id TEXT,
    claimed_at REAL, status_comment_id INTEGER, branch TEXT, pr_number INTEGER, pr_url TEXT,
    model TEXT, tokens_in INTEGER NOT NULL DEFAULT 0, tokens_out INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL, cost_known INTEGER NOT NULL DEFAULT 1, turns INTEGER NOT NULL DEFAULT 0,
    error TEXT, next_attempt_at REAL NOT NULL DEFAULT 0, created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS tasks_issue ON tasks (dispatch_repo, issue_number);
"""


@dataclass(frozen=True)
class TaskRecord:
    """One row of the journal: the runner's memory of a task."""

    task_id: str
    dispatch_repo: str
    issue_number: int
    state: str
    target_repo: str | None = None
    attempts: int = 0
    runner_id: str | None = None
    claimed_at: float | None = None
    status_comment_id: int | None = None
    branch: str | None = None
    pr_number: int | None = None
    pr_url: str | None = None
    model: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = 0.0
    cost_known: bool = True
    turns: int = 0
    error: str | None = None
    next_attempt_at: float = 0.0
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def unfinished(self) -> bool:
        return self.state in UNFINISHED

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_COLUMNS = tuple(f.name for f in fields(TaskRecord))


class Journal:
    """Thread-safe access to ``state.db``. One connection, one lock: writes are tiny."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- for modules that keep tables of their own (followup_state.py) ---------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``), committed on success, rolled back on error."""
        with self._tx() as db:
            yield db

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- tasks ---------------------------------------------------------------------------------

    def task(self, task_id: str) -> TaskRecord | None:
        with self._lock:
            row = self._db.execute(f"SELECT {','.join(_COLUMNS)} FROM tasks WHERE task_id=?", (task_id,)).fetchone()
        return _record(row) if row else None

    def task_for_issue(self, repo: str, number: int) -> TaskRecord | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {','.join(_COLUMNS)} FROM tasks WHERE dispatch_repo=? AND issue_number=? "
                "ORDER BY updated_at DESC LIMIT 1", (repo, number)).fetchone()
        return _record(row) if row else None

    def tasks(self, limit: int = 50) -> list[TaskRecord]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {','.join(_COLUMNS)} FROM tasks ORDER BY updated_at DESC LIMIT ?", (limit,)).fetchall()
        return [_record(r) for r in rows]

    def unfinished(self, runner_id: str) -> list[TaskRecord]:
        marks = ",".join("?" * len(UNFINISHED))
        with self._lock:
            rows = self._db.execute(
                f"SELECT {','.join(_COLUMNS)} FROM tasks WHERE runner_id=? AND state IN ({marks})",
                (runner_id, *UNFINISHED)).fetchall()
        return [_record(r) for r in rows]

    def cost_since(self, since: float) -> float:
        """Model spend (USD) of the tasks updated at or after ``since`` (epoch seconds); an unknown
        cost counts as 0. The daily budget reads it."""
        with self._lock:
            row = self._db.execute("SELECT COALESCE(SUM(cost_usd), 0) FROM tasks WHERE updated_at >= ? "
                                   "AND cost_usd IS NOT NULL", (since,)).fetchone()
        return float(row[0])

    def summary(self) -> dict[str, Any]:
        """Tasks per state and the model usage of every task in the journal (for metrics)."""
        with self._lock:
            states = dict(self._db.execute("SELECT state, COUNT(*) FROM tasks GROUP BY state").fetchall())
            tokens_in, tokens_out, cost = self._db.execute(
                "SELECT COALESCE(SUM(tokens_in), 0), COALESCE(SUM(tokens_out), 0), "
                "COALESCE(SUM(cost_usd), 0) FROM tasks").fetchone()
        return {"states": states, "tokens_in": int(tokens_in), "tokens_out": int(tokens_out),
                "cost_usd": float(cost)}

    def remember_once(self, key: str, ttl: float) -> bool:
        """True the first time ``key`` is seen within ``ttl`` seconds, atomically (webhook deliveries).
        Expired keys of the expiring cache are dropped on the way, so the table stays small."""
        now = self._clock()
        with self._tx() as db:
            db.execute("DELETE FROM kv WHERE expires_at < ?", (now,))
            inserted = db.execute("INSERT OR IGNORE INTO kv VALUES (?,?,?)", (key, json.dumps(now), now + ttl))
            return inserted.rowcount == 1

    def upsert(self, record: TaskRecord) -> TaskRecord:
        now = self._clock()
        record = replace(record, updated_at=now, created_at=record.created_at or now)
        values = record.as_dict()
        values["cost_known"] = int(record.cost_known)
        with self._tx() as db:
            db.execute(
                f"INSERT OR REPLACE INTO tasks ({','.join(_COLUMNS)}) VALUES ({','.join('?' * len(_COLUMNS))})",
                tuple(values[c] for c in _COLUMNS))
        return record

    def update(self, task_id: str, **changes: Any) -> TaskRecord | None:
        with self._lock:
            current = self.task(task_id)
            if current is None:
                return None
            return self.upsert(replace(current, **changes))

    # -- HTTP cache (runner.ports.ResponseCache) -----------------------------------------------

    def get(self, key: str) -> CachedResponse | None:
        with self._lock:
            row = self._db.execute(
                "SELECT etag, body, next_url, fetched_at FROM http_cache WHERE key=?", (key,)).fetchone()
        if row is None:
            return None
        return CachedResponse(etag=row[0], body=json.loads(row[1]), next_url=row[2], fetched_at=row[3])

    def put(self, key: str, value: CachedResponse) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO http_cache VALUES (?,?,?,?,?)",
                       (key, value.etag, json.dumps(value.body), value.next_url, value.fetched_at))

    def forget(self, key: str) -> None:
        """Drop a cached page no request will ask for again (a listing whose ``since`` moved on)."""
        with self._tx() as db:
            db.execute("DELETE FROM http_cache WHERE key=?", (key,))

    # -- expiring key/value (runner.ports.KeyValueCache) ----------------------------------------

    @property
    def kv(self) -> _KeyValue:
        return _KeyValue(self)


class _KeyValue:
    """The KeyValueCache view of the journal (a separate object: ``get``/``put`` differ in shape)."""

    def __init__(self, journal: Journal):
        self._j = journal

    def get(self, key: str) -> Any | None:
        with self._j._lock:
            row = self._j._db.execute("SELECT value, expires_at FROM kv WHERE key=?", (key,)).fetchone()
        if row is None or row[1] < self._j._clock():
            return None
        return json.loads(row[0])

    def put(self, key: str, value: Any, ttl: float) -> None:
        with self._j._tx() as db:
            db.execute("INSERT OR REPLACE INTO kv VALUES (?,?,?)",
                       (key, json.dumps(value), self._j._clock() + ttl))


def _record(row: tuple[Any, ...]) -> TaskRecord:
    values = dict(zip(_COLUMNS, row))
    values["cost_known"] = bool(values["cost_known"])
    return TaskRecord(**values)
