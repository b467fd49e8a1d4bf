"""The one place git commands run: an isolated child environment, the token only in that environment,
timeouts, and git's failures sorted into kinds the workspace can translate.

The token travels as an ``http.<origin>/.extraheader`` set through ``GIT_CONFIG_COUNT``/``KEY``/``VALUE``
variables (git >= 2.31), scoped to the clone URL's origin: never in a URL, argv or file, and never sent
to another host. This module may read ``os.environ``, but only to build that child environment.
"""

from __future__ import annotations

import base64
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast
from urllib.parse import urlsplit

import git

log = logging.getLogger(__name__)

GIT_USER = "x-access-token"
# What a git child may inherit: the way to find programs, proxies and CA bundles the machine needs.
PASS_THROUGH = ("PATH", "TMPDIR", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy",
                "NO_PROXY", "ALL_PROXY", "all_proxy", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "SSL_CERT_FILE",
                "SSL_CERT_DIR")
# Settings every git child gets; repo content cannot override them (it cannot carry config).
BASE_CONFIG = (("gc.autoDetach", "false"),  # auto-gc runs inside the mirror lock, not after it
               ("maintenance.autoDetach", "false"),
               ("init.defaultBranch", "main"),
               ("advice.detachedHead", "false"),
               ("core.hooksPath", os.devnull),  # no hook of any origin runs in the runner's repos
               ("commit.gpgSign", "false"),
               ("credential.helper", ""))

PUSH_ONLY = ("rejected", "remote_rejected")
_PATTERNS = (  # first match wins; git runs with LC_ALL=C so its messages are English
    ("local", r"Unable to create '[^']*\.lock': File exists"),  # left by a killed git: repairable
    ("auth", r"returned error: 401|could not read (Username|Password)|Authentication failed"),
    ("forbidden", r"returned error: 403"),
    ("not_found", r"returned error: 404|repository '.*' not found|Repository not found"),
    ("missing_ref", r"couldn't find remote ref"),
    # the branch moved between our look and our push (lease or ref update lost a race): look again
    ("rejected", r"\[rejected\]|stale info|non-fast-forward|fetch first|failed to update ref|"
                 r"cannot lock ref|but expected"),
    ("remote_rejected", r"\[remote rejected\]|pre-receive hook declined|protected branch"),
    ("network", r"returned error: (5\d\d|429)|unable to access|Could not resolve|Failed to connect|Connection "
                r"(refused|reset|timed out)|Operation timed out|RPC failed|early EOF|remote end hung up|"
                r"SSL|TLS|transfer closed|Empty reply"),
)


@dataclass
class GitError(Exception):
    """A git command failed. ``detail`` is git's own words with every secret scrubbed out. ``kind`` is
    one of timeout, auth, forbidden, not_found, network, missing_ref, rejected, remote_rejected (the
    last two for pushes only) or local (anything else: a damaged repository, a ref conflict, ...)."""

    kind: str
    command: str  # e.g. "fetch"
    detail: str

    def __str__(self) -> str:
        return f"git {self.command} failed ({self.kind}): {self.detail}"


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a clone URL: the scope of the auth header (no path, no user)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) clone URL: {display_url(url)}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def display_url(url: str) -> str:
    """A URL safe for messages: any user or password part is dropped."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=host).geturl()


def auth_header(token: str) -> str:
    basic = base64.b64encode(f"{GIT_USER}:{token}".encode()).decode()
    return f"AUTHORIZATION: basic {basic}"


def secrets_of(token: str) -> tuple[str, ...]:
    """Every form in which the token could show up in text."""
    forms = (token, base64.b64encode(f"{GIT_USER}:{token}".encode()).decode(),
             base64.b64encode(token.encode()).decode())
    return tuple(f for f in forms if len(f) >= 4)


def scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def child_env(home: Path, ceiling: Path, *, origin: str | None = None, token: str | None = None,
              extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a git child: minimal, the machine's git config ignored, no prompts."""
    env = {name: os.environ[name] for name in PASS_THROUGH if name in os.environ}
    env.setdefault("PATH", os.defpath)
    env.update({"LANG": "C", "LC_ALL": "C", "LANGUAGE": "C", "HOME": str(home),
                "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
                "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "GIT_CEILING_DIRECTORIES": str(ceiling)})
    config = list(BASE_CONFIG)
    if token is not None and origin is not None:
        config.append((f"http.{origin}/.extraheader", auth_header(token)))
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for index, (key, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    env.update(extra or {})
    return env


def classify(stderr: str, command: str) -> str:
    if "did not complete in" in stderr and stderr.startswith("Timeout"):
        return "timeout"
    for kind, pattern in _PATTERNS:
        if kind in PUSH_ONLY and command != "push":
            continue  # e.g. a fetch's "cannot lock ref" is a local ref conflict, not a race
        if re.search(pattern, stderr):
            return kind
    return "local"


def _summary(stderr: str, limit: int = 3) -> str:
    """git's own verdict: its fatal/error/remote/rejection lines when there are any, else its last lines."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith("hint:")]
    verdict = [line for line in lines if line.startswith(("fatal:", "error:", "remote:", "!"))]
    return " / ".join((verdict or lines)[-limit:]) or "no output"


class GitRunner:
    """Runs git through GitPython with an isolated environment and a timeout on every call."""

    def __init__(self, home: Path, ceiling: Path, token_provider: Callable[[], str], timeout: float):
        self.home = home
        self.ceiling = ceiling
        self.timeout = timeout
        self._token_provider = token_provider

    def run(self, args: Sequence[str], *, cwd: Path, url: str | None = None, ok: Sequence[int] = (0,),
            extra_env: Mapping[str, str] | None = None, stdin: BinaryIO | None = None) -> tuple[int, str]:
        """Run ``git <args>`` in ``cwd``; with ``url`` the call may authenticate to that URL's origin.
        Returns (exit status, stdout); raises GitError for a status outside ``ok``."""
        token = self._token_provider() if url is not None else None
        env = child_env(self.home, self.ceiling, origin=origin_of(url) if url else None, token=token,
                        extra=extra_env)
        # GitPython starts every child from a copy of os.environ (which holds GITHUB_TOKEN and model
        # keys); `env -u` drops what we did not choose, naming variables only, never values, in argv.
        unset = [arg for name in os.environ if name not in env for arg in ("-u", name)]
        command = ["env", *unset, "git", *args]
        try:
            status, out, err = cast(tuple[int, str, str], git.Git(str(cwd)).execute(
                command, env=env, with_extended_output=True, with_exceptions=False,
                kill_after_timeout=self.timeout, istream=stdin, start_new_session=True))
        except git.GitCommandNotFound as exc:
            raise GitError("local", args[0], "the `git` program was not found on PATH") from exc
        if status in ok:
            return status, out
        if status == 127 and "git" in err and "No such file" in err:  # from `env`: no git on PATH
            raise GitError("local", args[0], "the `git` program (2.31 or newer) was not found on PATH")
        secrets = secrets_of(token) if token else ()
        kind = classify(err, args[0])
        detail = f"no answer within {self.timeout:g} s" if kind == "timeout" else scrub(_summary(err), secrets)
        error = GitError(kind, args[0], detail)
        log.debug("git %s failed: %s", args[0], error.detail)
        raise error
