"""What the fake GitHub records and injects: request headers, recorded requests, faults, the rate window."""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Any


class Headers(dict):
    """Request headers; keys are stored lowercase and looked up case-insensitively."""

    def __init__(self, items: Any = ()):
        super().__init__((k.lower(), v) for k, v in dict(items).items())

    def __getitem__(self, key: str) -> Any:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


@dataclass
class RecordedRequest:
    """One request as the server saw it. ``path`` has no ``/api/v3`` prefix; ``status`` is None
    until the answer is known (0: the connection was dropped unanswered); ``time`` is
    ``time.monotonic()`` at arrival; ``held`` is how long an injected slow answer was held back."""

    method: str
    path: str
    query: dict[str, str]
    headers: Headers
    status: int | None
    time: float
    body: Any
    raw_body: bytes = b""
    held: float = 0.0


@dataclass
class Fault:
    """An injected answer. ``status`` 0: drop the connection without answering; None: the real
    answer (with ``delay``: a slow answer). ``delay``: seconds to hold the answer back."""

    method: str
    pattern: re.Pattern[str]
    status: int | None
    times: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    after_effect: bool = False
    delay: float = 0.0


@dataclass
class RateLimit:
    limit: int = 5000
    remaining: int = 5000
    reset: float = field(default_factory=lambda: time.time() + 3600)

    def refresh(self) -> None:
        if time.time() >= self.reset:  # a new window: GitHub's limit is per rolling hour
            self.remaining, self.reset = self.limit, time.time() + 3600

    def headers(self) -> dict[str, str]:
        return {"x-ratelimit-limit": str(self.limit), "x-ratelimit-remaining": str(self.remaining),
                "x-ratelimit-used": str(self.limit - self.remaining),
                "x-ratelimit-reset": str(math.ceil(self.reset)), "x-ratelimit-resource": "core"}
