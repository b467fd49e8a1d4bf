"""Real webhook payloads from @octokit/webhooks-examples (tests/data/webhooks), loaded and re-aimed."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "data" / "webhooks"


def raw(name: str) -> bytes:
    """The file's bytes, exactly as published."""
    return (DATA / f"{name}.json").read_bytes()


def payload(name: str) -> dict[str, Any]:
    return json.loads(raw(name))


def aimed(name: str, repo: str, number: int | None = None, label: str | None = None) -> bytes:
    """The payload pointed at ``repo`` (and issue ``number``, label ``label``), compact like GitHub sends."""
    data = copy.deepcopy(payload(name))
    owner, short = repo.split("/")
    data["repository"].update(full_name=repo, name=short)
    data["repository"]["owner"]["login"] = owner
    if number is not None:
        data["issue"]["number"] = number
    if label is not None:
        data["label"]["name"] = label
    return json.dumps(data, separators=(",", ":")).encode()
