"""A throwaway ``redis-server`` on a free loopback port, for the tests and the queue benchmark.

Nothing is persisted unless asked (``persist=True`` writes an append-only file under ``root``), so a
``restart`` is what a Redis that lost its contents looks like to the runner.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Self


def find_redis_server() -> str | None:
    """The ``redis-server`` binary on PATH, or None."""
    return shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalRedis:
    """``with LocalRedis(tmp_path) as redis: redis.url``; ``restart()`` keeps the port."""

    def __init__(self, root: Path, *, persist: bool = False, binary: str | None = None):
        self.root = Path(root)
        self.persist = persist
        self.binary = binary or find_redis_server()
        if self.binary is None:
            raise FileNotFoundError("redis-server not found (Debian: apt-get install redis-server)")
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Self:
        self.root.mkdir(parents=True, exist_ok=True)
        durability = ["--appendonly", "yes", "--appendfsync", "always"] if self.persist else ["--appendonly", "no"]
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", str(self.root),
                "--protected-mode", "yes", *durability]
        with (self.root / "redis.log").open("ab") as log:
            self._proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: see {self.root / 'redis.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self, *, kill: bool = False) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.kill() if kill else proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def restart(self, *, down_for: float = 0.0) -> None:
        """Kill it (no chance to save anything) and start it again on the same port."""
        self.stop(kill=True)
        time.sleep(down_for)
        self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
