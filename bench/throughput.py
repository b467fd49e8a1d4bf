"""Throughput bench: tasks per hour one runner finishes, by ``AGENT_WORKERS``, against its ceilings.

    python bench/throughput.py [--tasks 40] [--workers 1,2,4,8] [--kinds diff,model] [--jobs 2] [--smoke]
    python bench/throughput.py --queue [...]     queue mode: 1, 2, 4 worker processes (bench/throughput_queue.py)

For each kind and worker count: ``--tasks`` dispatch issues are filed, then one
``python -m runner run`` (``AGENT_POLL_INTERVAL=2``) works through them; the clock runs from its
first poll to the last issue's final label. ``diff`` tasks carry their edit (no model); ``model``
tasks go through LiteLLM to the scripted model server, which answers each call after 2 s.

- ideal: ``W x 3600 / 2`` for model tasks (workers busy only with the model); for diff tasks, the
  write ceiling below (there is no model time).
- write ceiling: the runner spaces its GitHub writes >= 1 s apart (GitHub's rule for integrations),
  and a task makes 5 of them (claim label, status comment, PR, status edit, label swap), so a token
  finishes at most 3600 / 5 = 720 tasks an hour; one task alone needs >= 4 s of spacing plus its model
  time, so one worker manages at most 3600 / (4 + max(1, model s)).
- bound = min(ideal, ceiling); target: >= 90 % of it.

``--jobs`` runs that many configurations at once (each its own servers and runner process).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from common import (DIFF_TASK, DONE, FAILED, MODEL_REPLY, MODEL_TASK, WRITE_METHODS, bench_line, charged,
                    cleanup_on_signals, from_runner, header, is_issue_poll, rss_mb, stop, table, wait_until,
                    world)

from runner.sandbox.model_server import ScriptedModelServer, delay, reply

MODEL_S = 2.0
WRITES_PER_TASK = 5
WRITE_SPACING_S = 1.0
PRIMARY_LIMIT = 5000  # units an hour for a user token
CONTENT_PER_HOUR, CONTENT_PER_TASK = 500, 2  # GitHub's secondary limit; status comment + PR
_CONTENT = re.compile(r"/repos/[^/]+/[^/]+/(issues/\d+/comments|pulls|issues)")


@dataclass
class Result:
    kind: str
    workers: int
    tasks: int
    done: int
    seconds: float
    writes: int
    content_peak_per_min: int
    writes_peak_per_min: int
    units: int  # primary rate-limit units the whole run cost, polls included
    peak_rss_mb: float  # the runner process's high-water mark (VmHWM)

    @property
    def units_per_task(self) -> float:
        return self.units / max(1, self.done)

    @property
    def primary_ceiling(self) -> float:
        """Tasks an hour before 5,000 units/hour run out, at this run's units per task."""
        return PRIMARY_LIMIT / self.units_per_task

    @property
    def per_hour(self) -> float:
        return self.done * 3600.0 / self.seconds

    @property
    def model_s(self) -> float:
        return MODEL_S if self.kind == "model" else 0.0

    @property
    def ceiling(self) -> float:
        serial = 3600.0 / (4 * WRITE_SPACING_S + max(WRITE_SPACING_S, self.model_s))
        return min(self.workers * serial, 3600.0 / (WRITES_PER_TASK * WRITE_SPACING_S))

    @property
    def ideal(self) -> float:
        return self.workers * 3600.0 / MODEL_S if self.kind == "model" else self.ceiling

    @property
    def bound(self) -> float:
        return min(self.ideal, self.ceiling)


def run_config(kind: str, workers: int, tasks: int) -> Result:
    with world() as w:
        numbers = [w.file_issue(body=MODEL_TASK if kind == "model" else DIFF_TASK, title=f"Task {i + 1}")
                   for i in range(tasks)]
        server = ScriptedModelServer(lambda _body: delay(MODEL_S, then=reply(MODEL_REPLY))).start()
        try:
            extra = {"AGENT_MODEL": "openai/gpt-4o-mini", "AGENT_LLM_API_BASE": server.url,
                     "OPENAI_API_KEY": "bench-openai-key", "LITELLM_LOCAL_MODEL_COST_MAP": "True"} if kind == "model" else {}
            proc = w.spawn("run", AGENT_WORKERS=str(workers), AGENT_POLL_INTERVAL="2", **extra)
            wait_until(lambda: any(is_issue_poll(r) for r in w.gh.requests), 60, what="the first poll")
            wait_until(lambda: w.finished(numbers) == tasks or proc.poll() is not None, 600 + tasks * 30, 0.2,
                       f"{tasks} {kind} tasks")
            peak = rss_mb(proc.pid, "VmHWM")
            code = stop(proc)
            if code != 0:
                sys.exit(f"runner exited {code}:\n{w.log_of(proc)[-3000:]}")
        finally:
            server.stop()
        requests = [r for r in w.gh.requests if from_runner(r)]
        first = min(r.time for r in requests if is_issue_poll(r))
        swaps = [r.time for r in requests if r.method == "PUT" and r.path.endswith("/labels")]
        done = sum(1 for n in numbers if DONE in w.labels(n))
        failed = sum(1 for n in numbers if FAILED in w.labels(n))
        if failed:
            print(f"warning: {failed} {kind} task(s) failed at {workers} workers", file=sys.stderr)
        writes = [r.time for r in requests if r.method in WRITE_METHODS]
        content = [r.time for r in requests if r.method == "POST" and _CONTENT.fullmatch(r.path)]
        units = sum(charged(r) for r in requests)
        return Result(kind, workers, tasks, done, max(swaps) - first, len(writes), _peak(content), _peak(writes),
                      units, peak)


def _peak(times: list[float], window: float = 60.0) -> int:
    """Most events inside any ``window`` seconds."""
    times, best, start = sorted(times), 0, 0
    for end, t in enumerate(times):
        while t - times[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best


def main() -> int:
    if "--queue" in sys.argv[1:]:  # worker processes on Redis instead of AGENT_WORKERS threads
        from throughput_queue import main as queue_main

        return queue_main([a for a in sys.argv[1:] if a != "--queue"])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=40)
    p.add_argument("--workers", default="1,2,4,8", help="comma list of AGENT_WORKERS values")
    p.add_argument("--kinds", default="diff,model", help="diff, model or both")
    p.add_argument("--jobs", type=int, default=2, help="configurations measured at the same time")
    p.add_argument("--smoke", action="store_true", help="CI: 2 tasks of each kind at 2 workers")
    args = p.parse_args()
    cleanup_on_signals()
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    workers = [int(n) for n in args.workers.split(",")]
    tasks, jobs = args.tasks, max(1, args.jobs)
    if args.smoke:
        kinds, workers, tasks, jobs = ["diff", "model"], [2], 2, 2
    header("throughput", "python bench/throughput.py" + (" --smoke" if args.smoke else ""))

    configs = [(k, n) for n in workers for k in kinds]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(lambda c: run_config(c[0], c[1], tasks), configs))

    rows = [[r.kind, r.workers, f"{r.done}/{r.tasks}", r.seconds, r.per_hour, r.ideal, r.ceiling,
             100.0 * r.per_hour / r.ideal, 100.0 * r.per_hour / r.bound, r.writes_peak_per_min,
             r.content_peak_per_min, r.units_per_task, r.primary_ceiling, r.peak_rss_mb] for r in results]
    print(f"{tasks} tasks per configuration, {jobs} configuration(s) at a time, model answers after {MODEL_S:g} s\n")
    print(table(["kind", "workers", "done", "seconds", "tasks/h", "ideal/h", "write ceiling/h", "% of ideal",
                 "% of min(ideal, ceiling)", "writes/min (peak)", "content-creating/min (peak)",
                 "units/task (polls incl.)", "primary-limit ceiling/h", "runner peak RSS (MB)"], rows))
    short = [r for r in results if r.per_hour < 0.9 * r.bound]
    print("\ntarget >= 90 % of min(ideal, write ceiling): "
          + ("met by every configuration" if not short else
             "NOT met by " + ", ".join(f"{r.kind} at {r.workers} workers ({100 * r.per_hour / r.bound:.0f} %)"
                                       for r in short)))
    print("Other ceilings, for a run longer than the bench: GitHub's secondary limits allow 80 content-creating "
          "requests a minute (peak above; the 1 s write spacing keeps any mix under 60) and "
          f"{CONTENT_PER_HOUR} an hour, which at {CONTENT_PER_TASK} per task (status comment, PR) caps a token "
          f"at {CONTENT_PER_HOUR // CONTENT_PER_TASK} tasks an hour on github.com; the primary limit "
          f"({PRIMARY_LIMIT} units/h) caps it at the 'primary-limit ceiling/h' column.")
    for r in results:
        print(bench_line("throughput", kind=r.kind, workers=r.workers, tasks_per_hour=r.per_hour,
                         ideal_per_hour=r.ideal, ceiling_per_hour=r.ceiling, pct_of_bound=100.0 * r.per_hour / r.bound,
                         units_per_task=r.units_per_task, peak_rss_mb=r.peak_rss_mb, tasks=r.tasks, done=r.done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
