"""Command line: ``run [--once]``, ``check``, ``status [--json]``, ``demo``, ``worker``. Exit codes: the contract."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence

from runner import config, logs
from runner.errors import ConfigError

log = logging.getLogger("runner")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m runner", description="Turn labelled GitHub issues into PRs.")
    sub = p.add_subparsers(dest="command")
    run = sub.add_parser("run", help="poll forever (default), or once with --once")
    run.add_argument("--once", action="store_true", help="one poll, process what it found, exit")
    sub.add_parser("check", help="validate configuration and reach GitHub and the model")
    status = sub.add_parser("status", help="what the local journal knows about recent tasks")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    demo = sub.add_parser("demo", help="the whole flow against local stand-ins; no credentials needed")
    demo.add_argument("--keep", action="store_true", help="keep the demo's temporary directory")
    sub.add_parser("worker", help="queue mode (AGENT_QUEUE_URL): run tasks from the queue; start any number")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    command = args.command or "run"
    if command == "demo":
        from runner.sandbox.demo import run_demo

        return run_demo(keep=args.keep)
    try:
        settings = config.load()
    except ConfigError as bad:
        print(f"agent-runner: {bad}", file=sys.stderr)
        return 2
    secrets = [settings.github_token, settings.github_app_private_key or ""]
    logs.setup(settings.log_level, settings.log_format, secrets=secrets)
    if command == "check":
        from runner.check import run_checks

        return run_checks(settings)
    if command == "status":
        return show_status(settings, as_json=args.json)
    if command == "worker":
        return worker(settings)
    return run(settings, once=getattr(args, "once", False))


def worker(settings: config.Settings) -> int:
    if not settings.queue_url:
        print("agent-runner: bad configuration:\n  - AGENT_QUEUE_URL: required by `worker` "
              "(example: AGENT_QUEUE_URL=redis://localhost:6379/0)", file=sys.stderr)
        return 2
    from runner.queue.worker import run_worker

    return run_worker(settings)


def run(settings: config.Settings, *, once: bool) -> int:
    from runner.app import build

    stop = threading.Event()
    app = build(settings, stop)
    if once:
        try:
            return app.service.run_once()
        finally:
            close_notifier(app)
    install_signals(app.service.request_stop)
    try:
        listener = start_listener(settings, app)
    except OSError as fault:
        print(f"agent-runner: AGENT_HTTP_PORT: cannot listen on {settings.http_host}:{settings.http_port}: "
              f"{fault.strerror or fault} (example: AGENT_HTTP_PORT=8080)", file=sys.stderr)
        return 2
    try:
        return app.service.run_forever()
    finally:
        if listener is not None:
            listener.stop()
        close_notifier(app)


def close_notifier(app) -> None:
    """Queued completion notifications get a few seconds to go out; a dead endpoint never holds the exit."""
    if getattr(app, "notifier", None) is not None:
        app.notifier.close(timeout=5.0)


def start_listener(settings: config.Settings, app):
    """The HTTP listener (docs/http.md) when AGENT_HTTP_PORT is set, else None. OSError: port taken."""
    if app.http is None:
        if settings.webhook_secret:
            log.warning("AGENT_WEBHOOK_SECRET is set but AGENT_HTTP_PORT is not: no listener, webhooks go nowhere")
        return None
    return app.http.listen(app.service).start()


def install_signals(request_stop) -> None:
    """First SIGTERM/SIGINT: stop taking work, let tasks reach a safe point. Second: exit at once."""
    seen = {"count": 0}

    def handle(signum, _frame):
        seen["count"] += 1
        if seen["count"] > 1:
            os._exit(128 + signum)
        request_stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def show_status(settings: config.Settings, *, as_json: bool) -> int:
    from runner.state import Journal

    if not settings.db_path.exists():
        print("[]" if as_json else f"no journal yet at {settings.db_path}")
        return 0
    journal = Journal(settings.db_path)
    if as_json:  # exactly what GET /tasks answers
        from runner.http.tasks import task_views

        print(json.dumps(task_views(journal), indent=2))
        return 0
    records = journal.tasks()
    if not records:
        print("no tasks yet")
    for r in records:
        cost = "unknown" if not r.cost_known else f"${r.cost_usd or 0:.4f}"
        print(f"{r.dispatch_repo}#{r.issue_number}  {r.state:<9} {r.task_id}  {r.pr_url or '-'}  "
              f"cost {cost}  attempts {r.attempts}" + (f"  error: {r.error}" if r.error else ""))
    return 0
