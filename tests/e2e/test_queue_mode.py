"""Queue mode end to end: real `run` pollers and `worker` processes, a real redis-server, FakeGitHub.

Every task must end with exactly one PR and one status comment, whatever happens to the processes:
several pollers at once, a worker SIGKILLed in the middle of a task, Redis restarted with its contents
lost. GitHub's labels are the source of truth; Redis only carries jobs and leases.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from runner.queue.local_redis import LocalRedis, find_redis_server
from runner.status import parse_marker
from tests.e2e.conftest import DISPATCH, TARGET, kill_group
from tests.e2e.test_flow import BACKEND, PLAIN

pytestmark = pytest.mark.skipif(find_redis_server() is None, reason="redis-server not found on PATH "
                                "(Debian: apt-get install redis-server; .ci/run installs it)")

LEASE_TTL = "2"  # seconds: a killed worker's task moves on quickly
WRITE_INTERVAL = 0.25  # seconds between GitHub writes, for the whole fleet (GitHub asks 1 s of a real token)
BACKEND_TASK = "550e8400-e29b-41d4-a716-446655440000"


class Fleet:
    """Pollers and workers as subprocesses, each in its own process group, logging to a file."""

    def __init__(self, world, redis: LocalRedis):
        self.world, self.redis = world, redis
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.killed: set[int] = set()  # pids a test killed on purpose

    def start(self, name: str, command: str) -> subprocess.Popen[bytes]:
        env = self.world.base_env(AGENT_QUEUE_URL=self.redis.url, AGENT_QUEUE_LEASE_TTL=LEASE_TTL,
                                  AGENT_WRITE_INTERVAL=str(WRITE_INTERVAL), AGENT_POLL_INTERVAL="0.5",
                                  LOG_LEVEL="INFO")
        with self.log_path(name).open("wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "runner", command], cwd=self.world.tmp, env=env,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def log_path(self, name: str) -> Path:
        return self.world.tmp / f"{name}.log"

    def log(self, name: str) -> str:
        return self.log_path(name).read_text(errors="replace")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                kill_group(proc)
                proc.wait(timeout=5)

    def crashed(self) -> list[str]:
        return [name for name, p in self.procs.items() if p.poll() is not None and p.pid not in self.killed]

    def enqueued(self) -> Counter[int]:
        """How often each issue was put on the queue, over every poller's log."""
        found: Counter[int] = Counter()
        for name in self.procs:
            if name.startswith("poller"):
                found.update(int(n) for n in re.findall(r"(?:re)?queued issue #(\d+)", self.log(name)))
        return found


@pytest.fixture
def fleet(world, tmp_path):
    with LocalRedis(tmp_path / "redis") as redis:
        fleet = Fleet(world, redis)
        try:
            yield fleet
        finally:
            fleet.stop()
            for proc in fleet.procs.values():
                kill_group(proc)


def _wait_until(predicate, timeout: float, fleet: Fleet) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not fleet.crashed():
        if predicate():
            return
        time.sleep(0.2)
    logs = "\n".join(f"--- {name}\n{fleet.log(name)[-3000:]}" for name in fleet.procs)
    raise AssertionError(f"exited: {fleet.crashed()}, or timed out after {timeout} s\n{logs}")


def _all_done(world, numbers) -> bool:
    return all("agent-done" in world.gh.labels_of(DISPATCH, n) for n in numbers)


def _finisher(world, number: int) -> str:
    (comment,) = world.runner_comments(number)
    marker = parse_marker(comment["body"])
    assert marker is not None and marker.state == "pr_opened"
    return marker.runner_id


def _assert_one_pr_and_one_comment_each(world, numbers, branches) -> None:
    assert _all_done(world, numbers)
    for n in numbers:
        labels = set(world.gh.labels_of(DISPATCH, n))
        assert not labels & {"agent-processing", "agent-failed"}, (n, labels)
        assert len(world.runner_comments(n)) == 1, n
    prs = world.prs()
    assert sorted(p["head"]["ref"] for p in prs) == sorted(branches)


def test_queue_mode_three_workers_two_pollers_thirty_tasks_one_pr_each(world, fleet):
    numbers = [world.file_issue(PLAIN, title=f"Change greeting {i}") for i in range(30)]
    fleet.start("poller-1", "run")
    fleet.start("poller-2", "run")
    for i in range(3):
        fleet.start(f"worker-{i}", "worker")

    _wait_until(lambda: _all_done(world, numbers), 150, fleet)
    fleet.stop()

    _assert_one_pr_and_one_comment_each(world, numbers, [f"agent-task-acme-tasks-{n}" for n in numbers])
    assert fleet.enqueued() == Counter({n: 1 for n in numbers})  # two pollers, never twice
    workers = {_finisher(world, n) for n in numbers}
    assert len(workers) == 3, workers  # each worker process took tasks, under its own runner id
    writes = sorted(r.time for r in world.api_writes())
    gaps = [later - earlier for earlier, later in itertools.pairwise(writes)]
    # spaced across all three workers: the fleet's pace holds on average, and no two writes bunch up
    # (arrival times at the server carry some scheduling jitter, hence the margin on single gaps)
    assert len(writes) >= 150 and (writes[-1] - writes[0]) / len(gaps) >= 0.95 * WRITE_INTERVAL
    assert min(gaps) >= 0.5 * WRITE_INTERVAL
    assert all(fleet.procs[f"worker-{i}"].returncode == 0 for i in range(3))  # SIGTERM: clean stop


def test_queue_mode_worker_killed_mid_task_another_worker_finishes_it(world, fleet):
    from redis import Redis

    number = world.file_issue(BACKEND)
    redis = Redis.from_url(fleet.redis.url)
    killed: dict[str, int] = {}

    def kill_lease_holder(req) -> None:
        # The status comment is up: the task is claimed and under way. Kill whoever holds its lease.
        if killed or req.method != "POST" or req.path.split("?")[0] != f"/repos/{DISPATCH}/issues/{number}/comments":
            return
        token = redis.get(f"agent-runner:{DISPATCH}:lease:{BACKEND_TASK}").decode()
        killed["pid"] = int(token.rsplit(":", 1)[0].rsplit("-", 1)[1])
        fleet.killed.add(killed["pid"])
        os.killpg(killed["pid"], signal.SIGKILL)

    world.gh.after_request(kill_lease_holder)
    fleet.start("poller-1", "run")
    fleet.start("worker-a", "worker")
    fleet.start("worker-b", "worker")

    _wait_until(lambda: _all_done(world, [number]), 60, fleet)
    fleet.stop()
    redis.close()

    assert killed, "the task never reached its status comment"
    _assert_one_pr_and_one_comment_each(world, [number], [f"agent-task-{BACKEND_TASK}"])
    survivor = {p.pid for p in fleet.procs.values()} - {killed["pid"], fleet.procs["poller-1"].pid}
    assert _finisher(world, number).endswith(f"-{survivor.pop()}")  # the other worker finished it
    assert len(world.git.commits(TARGET, f"agent-task-{BACKEND_TASK}")) == 2  # base + exactly one of ours


def test_queue_mode_redis_restarted_mid_run_loses_no_task(world, fleet):
    numbers = [world.file_issue(PLAIN, title=f"Change greeting {i}") for i in range(6)]
    restarted = threading.Event()

    def restart_when_the_third_task_is_claimed(req) -> None:
        if restarted.is_set() or req.method != "POST" or not re.fullmatch(rf"/repos/{DISPATCH}/issues/\d+/comments",
                                                                          req.path.split("?")[0]):
            return
        if sum(len(world.runner_comments(n)) for n in numbers) >= 3:
            restarted.set()  # tasks running (their leases vanish) and tasks queued (their jobs vanish)
            threading.Thread(target=fleet.redis.restart, kwargs={"down_for": 0.5}).start()

    world.gh.after_request(restart_when_the_third_task_is_claimed)
    fleet.start("poller-1", "run")
    fleet.start("worker-a", "worker")
    fleet.start("worker-b", "worker")

    _wait_until(lambda: _all_done(world, numbers), 90, fleet)
    fleet.stop()

    assert restarted.is_set()
    _assert_one_pr_and_one_comment_each(world, numbers, [f"agent-task-acme-tasks-{n}" for n in numbers])
    assert max(fleet.enqueued().values()) >= 2  # jobs lost with Redis were enqueued again from GitHub's labels
    assert any("taken back" in fleet.log(name) for name in ("worker-a", "worker-b"))  # a running task kept its lease
