"""Start-up bench: process start to the first poll request, and resident memory when idle.

    python bench/startup.py [--runs 5] [--polls 10] [--smoke]

Starts the real ``python -m runner run`` against the local GitHub-like server, times fork to the
server seeing the first ``GET /repos/{dispatch}/issues`` (the first run with an empty state
directory, the others re-using it, as a restarted service does), and reads ``VmRSS`` once the
runner has idled through ``--polls`` polls. For comparison, the same for a process that imports
LiteLLM eagerly, which is what the runner would cost if it imported LiteLLM at start.
Targets: first poll <= 1 s, idle RSS <= 80 MB.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from common import (DISPATCH, bench_line, cleanup_on_signals, header, is_issue_poll, percentile, rss_mb, stop, table,
                    wait_until, world)

FIRST_POLL_TARGET_S, IDLE_RSS_TARGET_MB = 1.0, 80.0
INTERVAL = 1.0

EAGER = ("import os, time; t = time.perf_counter(); os.environ['LITELLM_LOCAL_MODEL_COST_MAP'] = 'True'; "
         "import litellm; took = time.perf_counter() - t; "
         "rss = [l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1]; "
         "print(took, int(rss) / 1024)")


def first_polls(runs: int, polls: int) -> tuple[list[float], float, int]:
    """Seconds from spawn to the first poll for each run; idle RSS (MB) of the last; its poll count."""
    times, rss, seen = [], float("nan"), 0
    with world() as w:
        w.gh.create_issue(DISPATCH, title="Old task", body="done long ago", author="alice",
                          labels=["copilot-agent", "agent-done"])  # the list is not empty, nothing eligible
        for i in range(runs):
            before = len(w.gh.requests)
            started = time.monotonic()
            proc = w.spawn("run", AGENT_POLL_INTERVAL=str(INTERVAL))
            poll_times = lambda: [r.time for r in w.gh.requests[before:] if is_issue_poll(r)]  # noqa: E731
            first = wait_until(poll_times, 30, 0.005, "the first poll")[0]
            times.append(first - started)
            if i == runs - 1:
                seen = len(wait_until(lambda: (p := poll_times()) and len(p) >= polls and p, polls * INTERVAL + 30,
                                      0.1, f"{polls} polls"))
                time.sleep(INTERVAL / 2)  # between polls: idle
                rss = rss_mb(proc.pid)
            stop(proc)
            if proc.returncode != 0:
                sys.exit(f"runner exited {proc.returncode}:\n{w.log_of(proc)[-3000:]}")
    return times, rss, seen


def eager_litellm() -> tuple[float, float]:
    """(import seconds, RSS MB) of a bare interpreter that imports LiteLLM."""
    out = subprocess.run([sys.executable, "-c", EAGER], capture_output=True, text=True, timeout=120, check=True)
    took, rss = out.stdout.split()
    return float(took), float(rss)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="starts to time (the first with an empty state dir)")
    p.add_argument("--polls", type=int, default=10, help="polls before reading the idle RSS")
    p.add_argument("--smoke", action="store_true", help="CI: 2 starts, 3 polls, no LiteLLM baseline")
    args = p.parse_args()
    cleanup_on_signals()
    runs, polls = (2, 3) if args.smoke else (args.runs, args.polls)
    header("startup", "python bench/startup.py" + (" --smoke" if args.smoke else ""))

    times, rss, seen = first_polls(runs, polls)
    rows = [[f"run {i + 1}" + (" (empty state dir)" if i == 0 else ""), t, ""] for i, t in enumerate(times)]
    rows.append([f"idle after {seen} polls at {INTERVAL:g} s", "", rss])
    if not args.smoke:
        took, eager_rss = eager_litellm()
        rows.append(["baseline: a process that imports LiteLLM at start (import only)", took, eager_rss])
    print(table(["what", "first poll (s)", "RSS (MB)"], rows))
    p50 = percentile(times, 50)
    print(f"\nfirst poll p50 {p50:.3f} s (target <= {FIRST_POLL_TARGET_S:g} s: "
          f"{'met' if max(times) <= FIRST_POLL_TARGET_S else 'NOT met'} by every run); "
          f"idle RSS {rss:.1f} MB (target <= {IDLE_RSS_TARGET_MB:g} MB: "
          f"{'met' if rss <= IDLE_RSS_TARGET_MB else 'NOT met'})")
    print(bench_line("startup", first_poll_s=p50, first_poll_max_s=max(times), idle_rss_mb=rss, runs=runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
