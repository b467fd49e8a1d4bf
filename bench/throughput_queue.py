"""Queue-mode throughput: tasks per hour with 1, 2, 4 ``worker`` processes on this machine.

    python bench/throughput_queue.py [--tasks 12] [--workers 1,2,4] [--kinds diff,verify,cpu] [--smoke]
    python bench/throughput.py --queue ...      (the same, from the throughput bench)

For each kind and worker count: a throwaway ``redis-server``, ``--tasks`` dispatch issues, one
``python -m runner run`` (the poller) and W ``python -m runner worker`` processes, all with
``AGENT_QUEUE_URL``; the clock runs from the poller's first poll to the last issue's final label.
GitHub's write spacing is the real one (1 s), shared by the whole fleet through Redis.

- ``diff``: the change is in the issue, nothing to verify: the task is its GitHub writes.
- ``verify``: the same, plus ``AGENT_VERIFY_COMMAND`` that waits 8 s (a test suite waiting on I/O, or
  one whose load is elsewhere).
- ``cpu``: a verify command that keeps one core busy for about 4 s (a CPU-bound suite).

Bound per configuration: min(W x 3600 / (verify s + 4 s of write spacing + 1 s), the fleet's write
ceiling 3600 / 5 = 720 an hour); for ``cpu`` also at most this machine's cores busy at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

from common import DIFF_TASK, DONE, FAILED, bench_line, from_runner, header, is_poll, stop, table, wait_until, world

from runner.queue.local_redis import LocalRedis, find_redis_server

WRITES_PER_TASK, WRITE_SPACING_S = 5, 1.0
CPU_S = 4.0
KINDS = {  # kind -> (verify command, seconds of verification per task)
    "diff": (None, 0.0),
    "verify": ("sleep 8", 8.0),
    "cpu": ("python3 -c 'import time\nend = time.process_time() + 4\nwhile time.process_time() < end: pass'", CPU_S),
}


@dataclass
class Result:
    kind: str
    workers: int
    tasks: int
    done: int
    seconds: float

    @property
    def per_hour(self) -> float:
        return self.done * 3600.0 / self.seconds

    @property
    def ceiling(self) -> float:
        return 3600.0 / (WRITES_PER_TASK * WRITE_SPACING_S)

    @property
    def bound(self) -> float:
        verify_s = KINDS[self.kind][1]
        parallel = min(self.workers, os.cpu_count() or 1) if self.kind == "cpu" else self.workers
        serial = 3600.0 / (verify_s + (WRITES_PER_TASK - 1) * WRITE_SPACING_S + 1.0)
        return min(parallel * serial, self.ceiling)


def run_config(kind: str, workers: int, tasks: int) -> Result:
    command, _ = KINDS[kind]
    with world() as w, LocalRedis(w.tmp / "redis") as redis:
        numbers = [w.file_issue(body=DIFF_TASK, title=f"Task {i + 1}") for i in range(tasks)]
        extra = {"AGENT_QUEUE_URL": redis.url, "AGENT_POLL_INTERVAL": "2", "AGENT_WRITE_INTERVAL": "1"}
        if command:
            extra["AGENT_VERIFY_COMMAND"] = command
        fleet = [w.spawn("worker", **extra) for _ in range(workers)]
        fleet.append(w.spawn("run", **extra))
        wait_until(lambda: w.finished(numbers) == tasks or any(p.poll() is not None for p in fleet),
                   120 + tasks * 60, 0.2, f"{tasks} {kind} tasks on {workers} worker(s)")
        codes = [stop(p) for p in fleet]
        if any(codes):
            sys.exit(f"a process exited {codes}:\n" + "\n".join(w.log_of(p)[-2000:] for p in fleet))
        requests = [r for r in w.gh.requests if from_runner(r)]
        first = min(r.time for r in requests if is_poll(r))
        swaps = [r.time for r in requests if r.method == "PUT" and r.path.endswith("/labels")]
        done = sum(1 for n in numbers if DONE in w.labels(n))
        if any(FAILED in w.labels(n) for n in numbers):
            print(f"warning: {kind} tasks failed at {workers} worker(s)", file=sys.stderr)
        return Result(kind, workers, tasks, done, max(swaps) - first)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=12)
    p.add_argument("--workers", default="1,2,4", help="comma list of worker process counts")
    p.add_argument("--kinds", default="diff,verify,cpu", help="any of " + ", ".join(KINDS))
    p.add_argument("--smoke", action="store_true", help="2 verify tasks on 2 workers")
    args = p.parse_args(argv)
    if find_redis_server() is None:
        sys.exit("redis-server not found (Debian: apt-get install redis-server)")
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    workers, tasks = [int(n) for n in args.workers.split(",")], args.tasks
    if args.smoke:
        kinds, workers, tasks = ["verify"], [2], 2
    header("throughput, queue mode", "python bench/throughput_queue.py" + (" --smoke" if args.smoke else ""))
    results = [run_config(k, n, tasks) for k in kinds for n in workers]  # one at a time: they share the CPUs
    rows = [[r.kind, r.workers, f"{r.done}/{r.tasks}", r.seconds, r.per_hour, r.bound, r.ceiling,
             100.0 * r.per_hour / r.bound] for r in results]
    print(f"{tasks} tasks per configuration; one poller; GitHub writes 1 s apart across the whole fleet\n")
    print(table(["kind", "worker processes", "done", "seconds", "tasks/h", "bound/h", "write ceiling/h",
                 "% of bound"], rows))
    for r in results:
        print(bench_line("throughput_queue", kind=r.kind, workers=r.workers, tasks_per_hour=r.per_hour,
                         bound_per_hour=r.bound, pct_of_bound=100.0 * r.per_hour / r.bound, tasks=r.tasks,
                         done=r.done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
