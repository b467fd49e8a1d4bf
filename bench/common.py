"""What the performance benches share: the local servers, the real CLI as a child process, the
dispatch issues they file, percentiles, tables and the ``BENCH`` summary line.

Every bench runs the runner the way a user does (``python -m runner run ...`` in its own process,
no ``.env``, HOME in a temporary directory, no git configuration) against the counterparts in
``runner/sandbox``: FakeGitHub (no OpenAPI validator: it would slow the server, not the runner),
GitServer and, for model tasks, ScriptedModelServer.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/x.py` from a fresh clone, nothing installed

from runner.sandbox.git_server import GitServer  # noqa: E402
from runner.sandbox.github_server import FakeGitHub, RecordedRequest  # noqa: E402

TOKEN = "ghs_benchToken0123456789abcdefABCDEF"
DISPATCH, TARGET = "acme/tasks", "acme/widgets"
LABEL, PROCESSING, DONE, FAILED = "copilot-agent", "agent-processing", "agent-done", "agent-failed"
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")

APP_PY = '''def greet(name):
    return "hello " + name


def main():
    print(greet("world"))
'''

# A diff task: applied as given, no model. Every task branches from main, so the same edit always applies.
DIFF_TASK = '''Make the greeting friendlier.

app.py
```python
<<<<<<< SEARCH
    return "hello " + name
=======
    return "Hello, " + name + "!"
>>>>>>> REPLACE
```
'''

MODEL_TASK = "Rename the function greet to welcome and update its callers."
MODEL_REPLY = '''I renamed `greet` to `welcome` and updated its caller.

app.py
```python
<<<<<<< SEARCH
def greet(name):
=======
def welcome(name):
>>>>>>> REPLACE
```

app.py
```python
<<<<<<< SEARCH
    print(greet("world"))
=======
    print(welcome("world"))
>>>>>>> REPLACE
```
'''


# -- the world: servers, repositories, the CLI ----------------------------------------------------

@dataclass
class World:
    """A temporary directory, FakeGitHub with both repos, GitServer, and the CLI's environment."""

    tmp: Path
    gh: FakeGitHub
    git: GitServer
    env: dict[str, str] = field(default_factory=dict)
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def state_dir(self) -> Path:
        return self.tmp / "state"

    def base_env(self, **extra: str) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.tmp / "home"),  # no git identity, no config: like a fresh container
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(ROOT),
            "GITHUB_TOKEN": TOKEN,
            "GITHUB_API_URL": self.gh.url,
            "AGENT_DISPATCH_REPO": DISPATCH,
            "AGENT_TARGET_REPO": TARGET,
            "AGENT_ALLOWED_TARGET_REPOS": f"{TARGET},{DISPATCH}",
            "AGENT_STATE_DIR": str(self.state_dir),
            "AGENT_POLL_INTERVAL": "2",
            "LOG_LEVEL": "WARNING",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_CONFIG_NOSYSTEM": "1",
        }
        env.update(self.env)
        env.update(extra)
        return env

    def spawn(self, *args: str, **extra: str) -> subprocess.Popen[str]:
        """``python -m runner ARGS`` in its own process group; its output goes to a log file."""
        log = open(self.tmp / f"runner-{len(self.procs)}.log", "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([sys.executable, "-m", "runner", *args], cwd=self.tmp, env=self.base_env(**extra),
                                stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        log.close()  # the child holds its own copy
        self.procs.append(proc)
        _LIVE_PROCS.add(proc)
        return proc

    def cli(self, *args: str, timeout: float = 300, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "runner", *args], cwd=self.tmp, env=self.base_env(**extra),
                              capture_output=True, text=True, timeout=timeout, check=False)

    def log_of(self, proc: subprocess.Popen[str]) -> str:
        return (self.tmp / f"runner-{self.procs.index(proc)}.log").read_text(errors="replace")

    def file_issue(self, body: str = DIFF_TASK, *, title: str = "Friendlier greeting", author: str = "alice",
                   labels: Sequence[str] = (LABEL,)) -> int:
        issue = self.gh.create_issue(DISPATCH, title=title, body=body, author=author, labels=list(labels),
                                     labeled_by=author)
        return int(issue["number"])

    def labels(self, number: int) -> list[str]:
        return self.gh.labels_of(DISPATCH, number)

    def finished(self, numbers: Sequence[int]) -> int:
        """How many of these issues carry a terminal label."""
        return sum(1 for n in numbers if {DONE, FAILED} & set(self.labels(n)))


@contextlib.contextmanager
def scratch_dir(prefix: str = "agent-runner-bench-", where: Path | None = None) -> Iterator[Path]:
    """A temporary directory, removed afterwards, and by ``cleanup_on_signals`` on an interruption."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=where))
    _LIVE_DIRS.add(tmp)
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        _LIVE_DIRS.discard(tmp)


@contextlib.contextmanager
def world(*, files: dict[str, str] | None = None) -> Iterator[World]:
    """Servers up, repos made, ``alice`` a writer on the dispatch repo; everything gone afterwards."""
    with scratch_dir() as tmp:
        (tmp / "home").mkdir()
        with GitServer(tmp / "git", token=TOKEN) as git, FakeGitHub(token=TOKEN) as gh:
            clone = git.create_repo(TARGET, files=files or {"app.py": APP_PY, "README.md": "# widgets\n"})
            gh.add_repo(TARGET, clone_url=clone, default_branch="main")
            gh.add_repo(DISPATCH, clone_url=git.create_repo(DISPATCH, files={"README.md": "# tasks\n"}),
                        default_branch="main")
            gh.compare = git.compare
            gh.set_permission(DISPATCH, "alice", "write")
            w = World(tmp, gh, git)
            try:
                yield w
            finally:
                for proc in w.procs:
                    stop(proc)


_LIVE_PROCS: set[subprocess.Popen[str]] = set()
_LIVE_DIRS: set[Path] = set()


def cleanup_on_signals() -> None:
    """On SIGTERM or SIGINT kill every runner a bench started and remove its directories, then exit
    (runners live in their own sessions, so they would otherwise outlive an interrupted bench)."""
    def handle(signum: int, _frame: object) -> None:
        for proc in list(_LIVE_PROCS):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        for path in list(_LIVE_DIRS):
            shutil.rmtree(path, ignore_errors=True)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def stop(proc: subprocess.Popen[str], grace: float = 10.0) -> int | None:
    """SIGTERM (the runner's clean stop), then SIGKILL the whole group if it lingers."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # git children a killed runner may leave behind
    _LIVE_PROCS.discard(proc)
    return proc.wait()


# -- reading the fake GitHub's traffic ------------------------------------------------------------

_ISSUE_LIST = re.compile(rf"/repos/{re.escape(DISPATCH)}/issues|/repositories/\d+/issues")
_COMMENT_LISTING = re.compile(r"/repos/[^/]+/[^/]+/issues/comments|/repositories/\d+/issues/comments")


def is_issue_poll(req: RecordedRequest) -> bool:
    """The runner's poll for work: the dispatch repo's issue list (later pages go by repo id)."""
    return req.method == "GET" and bool(_ISSUE_LIST.fullmatch(req.path))


def is_poll(req: RecordedRequest) -> bool:
    """Anything the runner reads on every tick rather than for a task: the issue list, and each
    watched repository's comments updated since its last look (``/agent`` follow-ups, cancels)."""
    return is_issue_poll(req) or (req.method == "GET" and bool(_COMMENT_LISTING.fullmatch(req.path))
                                  and "since" in req.query)


def poll_key(req: RecordedRequest) -> str:
    """What an ETag belongs to: the path and the whole query."""
    return req.path + "?" + "&".join(f"{k}={v}" for k, v in sorted(req.query.items()))


def charged(req: RecordedRequest) -> bool:
    """Whether GitHub counts it against the primary rate limit: every answer but a 304."""
    return req.status is not None and req.status != 304 and req.path != "/rate_limit"


def from_runner(req: RecordedRequest) -> bool:
    return str(req.headers.get("user-agent", "")).startswith("agent-runner")


def describe(req: RecordedRequest) -> str:
    query = "&".join(f"{k}={v}" for k, v in sorted(req.query.items()))
    return f"{req.method} {req.path}{'?' + query if query else ''} -> {req.status}"


def wait_until(check: Callable[[], Any], timeout: float, every: float = 0.05, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


# -- numbers and output ---------------------------------------------------------------------------

def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), p in 0..100."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident set size of a live process from /proc (Linux); ``VmHWM``: its peak so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return math.nan


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (pastes straight into docs/performance.md)."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths)) + " |"  # noqa: E731
    return "\n".join([line(headers), "| " + " | ".join("-" * w for w in widths) + " |", *map(line, cells)])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def bench_line(name: str, **values: Any) -> str:
    parts = [f"{k}={_number(v)}" for k, v in values.items()]
    return f"BENCH {name} " + " ".join(parts)


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if not math.isnan(value) else "nan"
    return str(value)


def machine() -> str:
    """One line: date, CPU count and model, RAM, OS, Python and git versions."""
    mem = next((int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal:")), 0) if Path("/proc/meminfo").exists() else 0
    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    git = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    return (f"{time.strftime('%Y-%m-%d %H:%M %Z')}; {os.cpu_count()} CPUs ({cpu}); {mem} MB RAM; "
            f"{platform.system()} {platform.release()}; Python {platform.python_version()}; {git}")


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def header(title: str, command: str) -> None:
    print(f"## {title}\n\nmachine: {machine()}\ncommand: `{command}`\n")
