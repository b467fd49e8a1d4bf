"""``python -m runner worker``: take tasks from the queue and run them, one at a time, until stopped.

RQ's ``SimpleWorker`` runs each job in this process (no fork: the heartbeat thread and the open
connections stay valid), so one worker process holds at most one task; run more processes, on any
machines, to go faster. Signals follow the contract: the first SIGTERM/SIGINT lets the running task
reach its next safe point (its lease is released, so another worker continues it at once) and exits;
a second one exits at once (the lease then expires within one ttl).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from redis.exceptions import RedisError

from runner.config import Settings
from runner.queue.jobs import QUEUE_NAME, JobQueue, connect
from runner.queue.task import TaskRunner

log = logging.getLogger("runner.queue.worker")

_runner: TaskRunner | None = None  # set by run_worker; RQ calls run_task by its import path


def run_task(number: int, task_id: str) -> str:
    """The job function every queued task names (``runner.queue.jobs.JOB_FUNCTION``)."""
    from rq import get_current_job

    if _runner is None:
        raise RuntimeError("run_task runs inside `python -m runner worker` only")
    job = get_current_job()
    return _runner.run(int(number), str(task_id), job.id if job is not None else "")


def worker_id(base: str, *, host: str | None = None, pid: int | None = None) -> str:
    """Each worker process's own runner id: the status comment's marker must never let two replicas
    believe they are the same runner."""
    return f"{base}-{host or socket.gethostname()}-{pid or os.getpid()}"


def run_worker(settings: Settings) -> int:
    """The ``worker`` command. Returns the exit code."""
    from runner.app import build

    global _runner
    settings = replace(settings, runner_id=worker_id(settings.runner_id))
    task_stop, shutdown = threading.Event(), threading.Event()
    app = build(settings, task_stop)
    queue = JobQueue(connect(settings.queue_url or ""), settings)
    _runner = TaskRunner(settings, app.hub, app.pipeline, queue, app.journal, task_stop=task_stop,
                         shutdown=shutdown)

    def stop() -> None:
        shutdown.set()
        task_stop.set()

    log.info("worker %s taking tasks from queue %r", settings.runner_id, QUEUE_NAME)
    while not shutdown.is_set():
        _work(settings, shutdown, on_stop=stop)
        shutdown.wait(1.0)  # RQ gave up (Redis went away): start over after a pause
    if app.notifier is not None:  # deliver what finished tasks queued before the process exits
        app.notifier.close()
    log.info("worker %s stopped", settings.runner_id)
    return 0


def _work(settings: Settings, shutdown: threading.Event, *, on_stop: Callable[[], None]) -> None:
    """One RQ worker's life. RQ installs its own signal handlers inside ``work``; outside it, ours."""
    from rq.exceptions import StopRequested

    _on_signals(shutdown, on_stop)
    try:
        worker = _worker_class()([QUEUE_NAME], connection=connect(settings.queue_url or ""),
                                 name=f"{settings.runner_id}.{os.urandom(3).hex()}")
        worker.on_stop = on_stop
        worker.work(logging_level=None, with_scheduler=False)
    except RedisError as fault:
        log.warning("Redis unreachable: %s; trying again", fault)
    except StopRequested:
        on_stop()
    finally:
        _on_signals(shutdown, on_stop)


def _on_signals(shutdown: threading.Event, on_stop: Callable[[], None]) -> None:
    def handle(signum: int, _frame: Any) -> None:
        if shutdown.is_set():
            os._exit(128 + signum)
        on_stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def _worker_class() -> Any:
    from rq import SimpleWorker

    class Worker(SimpleWorker):
        """RQ's in-process worker with the runner's shutdown: the first signal also tells the running
        task to stop at its next safe point; the second exits at once, like ``run``."""

        on_stop: Callable[[], None] = staticmethod(lambda: None)

        def request_stop(self, signum: int, frame: Any) -> None:
            self.on_stop()
            super().request_stop(signum, frame)

        def request_force_stop(self, signum: int, frame: Any) -> None:
            os._exit(128 + signum)

    return Worker
