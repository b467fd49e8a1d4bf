"""The verify command: run in the clone after edits, in a clean environment, under a timeout.

Trust: the command (from ``AGENT_VERIFY_COMMAND`` or the repo's ``.agent-runner.toml``) runs the
target repo's own code, with the model's edits applied: the same trust as the repo's CI. That is why
the child gets none of the runner's secrets. Its environment is built from an allow-list, never
copied from ours:

    PATH, LANG, LC_ALL, LC_CTYPE, TZ   copied when set (finding tools, decoding output)
    HOME, TMPDIR                       a fresh temporary directory, removed afterwards
    TERM=dumb, NO_COLOR=1, CI=true     plain, non-interactive output the model can read
    PYTHONDONTWRITEBYTECODE=1          no __pycache__ litter in the clone that would be committed
    GIT_CONFIG_NOSYSTEM=1, GIT_TERMINAL_PROMPT=0   no machine git config, never a credential prompt

So ``GITHUB_TOKEN``, ``GH_TOKEN``, provider keys (``*_API_KEY``), ``AWS_*``, ``AGENT_*`` and every
other variable of the runner never reach it. The command runs through ``/bin/sh -c`` in its own
session; on timeout the whole process group is killed, and so are stragglers it left behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import tempfile
import threading
import time
import tomllib
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from runner.config import Settings
from runner.errors import TaskFailed

log = logging.getLogger(__name__)

REPO_CONFIG = ".agent-runner.toml"
TAIL_CHARS = 4000
TAIL_LINES = 80
_KEPT_BYTES = 64 * 1024  # what the reader keeps while the command runs; only the tail matters
_COPIED = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
_FIXED = {"TERM": "dumb", "NO_COLOR": "1", "CI": "true", "PYTHONDONTWRITEBYTECODE": "1",
          "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}
_DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class VerifyResult:
    """How the verify command went. ``output_tail`` is the end of stdout+stderr, for the model."""

    ok: bool
    exit_code: int | None  # None when it was killed on timeout
    output_tail: str
    timed_out: bool
    duration_s: float


def verify_command_for(root: Path, settings: Settings) -> str | None:
    """``AGENT_VERIFY_COMMAND``, else ``[verify] command`` from the repo's ``.agent-runner.toml``.

    The repo's file is a regular file at the clone's top (a symlink is ignored: it could point
    anywhere on the runner's disk). Invalid TOML fails the task: silently skipping verification
    would be worse."""
    if settings.verify_command:
        return settings.verify_command
    path = root / REPO_CONFIG
    if path.is_symlink() or not path.is_file():
        return None
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TaskFailed(f"{REPO_CONFIG} in the repository is not valid TOML: {exc}") from exc
    section = config.get("verify")
    command = section.get("command") if isinstance(section, dict) else None
    if command is not None and not isinstance(command, str):
        raise TaskFailed(f'{REPO_CONFIG}: [verify] command must be a string, e.g. command = "pytest -q"')
    return (command or "").strip() or None


def child_env(home: Path) -> dict[str, str]:
    """The verify command's whole environment (see the module docstring for the allow-list)."""
    env = {name: os.environ[name] for name in _COPIED if os.environ.get(name)}
    env.setdefault("PATH", _DEFAULT_PATH)
    env.update(_FIXED)
    env["HOME"] = env["TMPDIR"] = str(home)
    return env


def run_verify(command: str, cwd: Path, timeout: float) -> VerifyResult:
    """Run ``command`` in ``cwd``; never raises for the command's own failure or timeout."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="agent-verify-") as home:
        proc = subprocess.Popen(["/bin/sh", "-c", command], cwd=cwd, env=child_env(Path(home)),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        chunks: deque[bytes] = deque()
        assert proc.stdout is not None
        reader = threading.Thread(target=_drain, args=(proc.stdout, chunks), daemon=True)
        reader.start()
        try:
            exit_code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            exit_code = None
        _kill_group(proc.pid)  # on timeout the command; otherwise whatever it left running
        proc.wait()
        reader.join(5)
        proc.stdout.close()
    duration = time.monotonic() - started
    tail = _tail(b"".join(chunks).decode("utf-8", errors="replace"))
    if exit_code is None:
        tail = (tail + f"\n[killed after {timeout:g} s: AGENT_VERIFY_TIMEOUT]").lstrip("\n")
    result = VerifyResult(exit_code == 0, exit_code, tail, exit_code is None, round(duration, 3))
    log.info("verification finished", extra={"ok": result.ok, "exit_code": exit_code,
                                             "timed_out": result.timed_out, "duration_s": result.duration_s})
    return result


def _drain(stream: IO[bytes], chunks: deque[bytes]) -> None:
    kept = 0
    for chunk in iter(lambda: stream.read1(65536), b""):  # type: ignore[attr-defined]
        chunks.append(chunk)
        kept += len(chunk)
        while kept > _KEPT_BYTES and len(chunks) > 1:
            kept -= len(chunks.popleft())


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is already gone
        os.killpg(pgid, signal.SIGKILL)


def _tail(text: str) -> str:
    lines = text.rstrip("\n").splitlines()[-TAIL_LINES:]
    tail = "\n".join(lines)
    return tail[-TAIL_CHARS:]
