"""The performance benches keep working: each runs in its ``--smoke`` mode (tiny sizes, seconds) and
ends with its ``BENCH`` line. Timing targets live in the benches, not here; what is asserted here are
counts, which do not depend on the machine: an idle runner's polls are all 304s, a warm task sends at
most 8 requests of which 5 writes.

The six benches run at the same time (they mostly wait on poll intervals and write spacing), so the
module costs about as long as the slowest one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
# Each bench with the keys its summary line must carry (issue 5).
KEYS = {
    "poll_cost": ("idle_units_per_hour", "naive_units_per_hour"),
    "pickup": ("p50_s", "p95_s", "interval_s"),
    "task_cost": ("requests", "writes"),
    "startup": ("first_poll_s", "idle_rss_mb"),
    "git_cost": ("full_clone_s", "cold_s", "warm_s"),
    "throughput": ("workers", "tasks_per_hour", "ideal_per_hour"),
}
_PAIR = re.compile(r"(\w+)=(\S+)")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    tmp = tmp_path_factory.mktemp("bench")
    env = {**os.environ, "TMPDIR": str(tmp)}  # the benches' own temporary directories land in tmp_path
    procs = {}
    for name in KEYS:
        extra = ["--cache", str(tmp / "cache")] if name == "git_cost" else []
        procs[name] = subprocess.Popen([sys.executable, str(PROJECT / "bench" / f"{name}.py"), "--smoke", *extra],
                                       cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True, start_new_session=True)
    done, deadline = {}, time.monotonic() + 240
    for name, proc in procs.items():
        try:
            out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            out, err = proc.communicate()
        done[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return done


def bench_lines(output: str, name: str) -> list[dict[str, str]]:
    return [dict(_PAIR.findall(line)) for line in output.splitlines() if line.startswith(f"BENCH {name} ")]


@pytest.mark.parametrize("name", sorted(KEYS))
def test_bench_smoke_prints_a_table_and_ends_with_its_bench_line(outputs, name):
    result = outputs[name]
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-2000:]
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith(f"BENCH {name} ")
    assert re.search(r"^\| .+ \|$", result.stdout, re.MULTILINE)  # the table
    for values in bench_lines(result.stdout, name):
        for key in KEYS[name]:
            assert re.fullmatch(r"-?\d+(\.\d+)?", values.get(key, "")), f"{key} in {values}"


def test_bench_smoke_idle_polling_is_free_and_a_warm_task_is_cheap(outputs):
    [poll] = bench_lines(outputs["poll_cost"].stdout, "poll_cost")
    [task] = bench_lines(outputs["task_cost"].stdout, "task_cost")

    assert float(poll["idle_poll_units_per_hour"]) == 0
    assert float(poll["naive_units_per_hour"]) > 1000
    assert int(task["requests"]) <= 8 and int(task["writes"]) <= 5


def test_bench_smoke_throughput_has_a_line_per_kind_and_worker_count(outputs):
    lines = bench_lines(outputs["throughput"].stdout, "throughput")

    assert {(v["kind"], v["workers"]) for v in lines} == {("diff", "2"), ("model", "2")}
    assert all(v["done"] == v["tasks"] for v in lines)
