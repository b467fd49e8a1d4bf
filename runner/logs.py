"""Logging: one line per event, text or JSON, with the task id and issue number as fields.

A redacting filter scrubs every secret (and the base64 form git auth uses) from every record, at every
level, as a last line of defence: no code path is meant to log one in the first place.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
from collections.abc import Iterable

FIELDS = ("task_id", "issue", "pr")


def secret_forms(secret: str) -> list[str]:
    """The secret as given and as it appears inside a Basic auth header."""
    if not secret:
        return []
    basic = base64.b64encode(f"x-access-token:{secret}".encode()).decode()
    return [secret, basic]


class Redactor(logging.Filter):
    def __init__(self, secrets: Iterable[str]):
        super().__init__()
        self.secrets = sorted({form for s in secrets if s for form in secret_forms(s)}, key=len, reverse=True)

    def add(self, secret: str) -> None:
        """A secret learnt later (a freshly minted GitHub App installation token)."""
        self.secrets = sorted({*self.secrets, *secret_forms(secret)}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = self.scrub(message), None
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = " ".join(f"{k}={getattr(record, k)}" for k in FIELDS if getattr(record, k, None) is not None)
        return f"{line} [{extras}]" if extras else line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        entry.update({k: getattr(record, k) for k in FIELDS if getattr(record, k, None) is not None})
        if record.exc_info or record.exc_text:
            entry["error"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


_active: list[Redactor] = []  # the redactor ``setup`` installed, for ``add_secret``


def add_secret(secret: str) -> None:
    """Scrub ``secret`` from every later record too (no-op before ``setup``)."""
    for redactor in _active:
        redactor.add(secret)


def setup(level: str = "INFO", fmt: str = "text", secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    redactor = Redactor(secrets)
    _active[:] = [redactor]
    handler.addFilter(redactor)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "git", "github", "LiteLLM", "litellm", "httpx", "httpcore", "openai"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
