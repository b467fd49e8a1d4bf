"""Task-cost bench: GitHub requests and writes one task sends, polls excluded, listed one by one.

    python bench/task_cost.py [--tasks 3] [--smoke]

One ``python -m runner run`` process (AGENT_POLL_INTERVAL=1) against the local servers; dispatch
issues (diff tasks: success path, no model) are filed one at a time and each is waited for. The
first task finds every cache cold (the naive baseline: no journal); later ones find permissions and
repository metadata in the journal (kept 10 min and 1 h). Git-over-HTTP requests (ls-remote, fetch,
push) are listed too; they do not count against the REST rate limit.
Target for a warm task: at most 8 requests, at most 5 of them writes.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from common import (DONE, WRITE_METHODS, World, bench_line, charged, cleanup_on_signals, describe, from_runner,
                    header, is_poll, stop, table, wait_until, world)

MAX_REQUESTS, MAX_WRITES = 8, 5


@dataclass
class TaskTraffic:
    number: int
    api: list  # RecordedRequest, polls excluded
    git: list  # GitRequest

    @property
    def writes(self) -> int:
        return sum(r.method in WRITE_METHODS for r in self.api)

    @property
    def units(self) -> int:
        return sum(charged(r) for r in self.api)


def run_task(w: World, title: str) -> TaskTraffic:
    api_from, git_from = len(w.gh.requests), len(w.git.requests)
    number = w.file_issue(title=title)
    wait_until(lambda: DONE in w.labels(number), 120, what=f"issue #{number} to be done")
    api = [r for r in w.gh.requests[api_from:] if from_runner(r) and not is_poll(r)]
    return TaskTraffic(number, api, w.git.requests[git_from:])


def git_call(path: str) -> str:
    path = path.split("?")[0]
    if path.endswith("/info/refs"):
        return "ref advertisement (ls-remote, or the start of a fetch or push)"
    if path.endswith("/git-upload-pack"):
        return "fetch: pack download"
    if path.endswith("/git-receive-pack"):
        return "push: pack upload"
    return path


def show(label: str, t: TaskTraffic) -> None:
    print(f"\n### {label}: issue #{t.number}, {len(t.api)} requests, {t.writes} writes, {t.units} units\n")
    print(table(["#", "GitHub REST request", "kind"],
                [[i + 1, describe(r), "write" if r.method in WRITE_METHODS else "read"] for i, r in enumerate(t.api)]))
    print()
    print(table(["#", "git over HTTP", "what"],
                [[i + 1, f"{g.method} {g.path.split('.git/', 1)[-1]}", git_call(g.path)] for i, g in enumerate(t.git)]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=3, help="tasks in a row (the first is the cold one)")
    p.add_argument("--smoke", action="store_true", help="CI: two tasks")
    args = p.parse_args()
    cleanup_on_signals()
    count = 2 if args.smoke else max(2, args.tasks)
    header("task_cost", "python bench/task_cost.py" + (" --smoke" if args.smoke else ""))

    with world() as w:
        proc = w.spawn("run", AGENT_POLL_INTERVAL="1")
        tasks = [run_task(w, f"Friendlier greeting {i + 1}") for i in range(count)]
        code = stop(proc)
        if code != 0:
            sys.exit(f"runner exited {code}:\n{w.log_of(proc)[-3000:]}")

    rows = [[f"task {i + 1}" + (" (cold: empty journal)" if i == 0 else " (warm)"), len(t.api), t.writes,
             len(t.api) - t.writes, t.units, len(t.git)] for i, t in enumerate(tasks)]
    print(table(["task", "REST requests", "writes", "reads", "rate-limit units", "git HTTP requests"], rows))
    for i, t in enumerate(tasks[:2]):
        show("cold task" if i == 0 else "warm task", t)
    warm = tasks[-1]
    met = len(warm.api) <= MAX_REQUESTS and warm.writes <= MAX_WRITES
    print(f"\nwarm task: {len(warm.api)} requests, {warm.writes} writes (target <= {MAX_REQUESTS} and "
          f"<= {MAX_WRITES}: {'met' if met else 'NOT met'})")
    cold = tasks[0]
    print(bench_line("task_cost", requests=len(warm.api), writes=warm.writes, units=warm.units,
                     cold_requests=len(cold.api), cold_writes=cold.writes, git_requests=len(warm.git)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
