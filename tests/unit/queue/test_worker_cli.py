"""`python -m runner worker` refuses to start without a queue, before any network call."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[3]


def test_worker_without_queue_url_exits_2_and_says_what_to_set(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(PROJECT),
           "GITHUB_TOKEN": "ghs_unitTestToken0123456789", "AGENT_DISPATCH_REPO": "acme/tasks",
           "GITHUB_API_URL": "http://127.0.0.1:9/api/v3"}  # nothing listens there: no call may be made
    result = subprocess.run([sys.executable, "-m", "runner", "worker"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "AGENT_QUEUE_URL" in result.stderr and "redis://" in result.stderr
