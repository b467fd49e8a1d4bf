"""Real bare git repositories served over smart HTTP by ``git http-backend``, behind Basic auth.

Used by the ``demo`` command and by the end-to-end tests, so it depends on the standard library only.
Every request (ref advertisement, upload-pack, receive-pack) must carry Basic ``x-access-token:<token>``,
like GitHub; anything else answers 401. Tests can watch (``requests``, ``on_request``), inject failures
(``fail_next``) and inspect or move branches behind the runner's back (``push_commit``).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

from runner.sandbox.git_http import USER, GitRequest, make_server

SERVER_NAME, SERVER_EMAIL = "Git Server", "git-server@example.com"
GIT_TIMEOUT = 60.0

__all__ = ["GitRequest", "GitServer", "Symlink"]


class Symlink(NamedTuple):
    """A file content that makes the path a symbolic link to ``target`` (git mode 120000)."""

    target: str


class _Failure(NamedTuple):
    pattern: re.Pattern[str]
    status: int


class GitServer:
    """Bare repos under ``root`` as ``<owner>/<name>.git``, served at ``url`` while started."""

    def __init__(self, root: Path, token: str = "test-token", accept: Callable[[str], bool] | None = None):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.token = token
        self.accept = accept  # more valid tokens, e.g. a fake GitHub App's installation tokens
        self._lock = threading.Lock()
        self._requests: list[GitRequest] = []
        self._callbacks: list[Callable[[GitRequest], None]] = []
        self._failures: list[_Failure] = []
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> GitServer:
        self._http = make_server(self)
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,), name="git-server",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            assert self._thread is not None
            self._thread.join(timeout=10)
            self._http = None
        with self._lock:
            procs = list(self._procs)
        for proc in procs:  # a backend still serving a client that went away
            proc.kill()

    def __enter__(self) -> GitServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._http is None:
            raise RuntimeError("GitServer is not started")
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    # -- repositories ----------------------------------------------------------------------------

    def create_repo(self, repo: str, files: Mapping[str, str | bytes | Symlink] | None = None,
                    default_branch: str = "main", message: str = "Initial commit") -> str:
        """A bare repo with one commit of ``files`` on ``default_branch`` (``files={}``: no commit)."""
        gitdir = self._gitdir(repo)
        if gitdir.exists():
            raise FileExistsError(f"{repo} already exists")
        gitdir.parent.mkdir(parents=True, exist_ok=True)
        self._git(None, "init", "--quiet", "--bare", f"--initial-branch={default_branch}", str(gitdir))
        self._git(gitdir, "config", "http.receivepack", "true")
        if files is None:
            files = {"README.md": f"# {repo.split('/')[-1]}\n"}
        if files:
            self._commit(gitdir, default_branch, files, message, SERVER_NAME, SERVER_EMAIL)
        return self.clone_url(repo)

    def clone_url(self, repo: str) -> str:
        return f"{self.url}/{repo}.git"

    def branch_sha(self, repo: str, branch: str) -> str | None:
        return self._resolve(self._gitdir(repo), f"refs/heads/{branch}")

    def read_file(self, repo: str, ref: str, path: str) -> str | None:
        result = self._git_result(self._gitdir(repo), "cat-file", "blob", f"{ref}:{path}")
        return result.stdout.decode("utf-8", "replace") if result.returncode == 0 else None

    def commits(self, repo: str, ref: str) -> list[dict[str, str]]:
        """Commits reachable from ``ref``, newest first; [] when ``ref`` does not exist."""
        gitdir = self._gitdir(repo)
        sha = self._resolve(gitdir, ref)
        if sha is None:
            return []
        out = self._git(gitdir, "log", "--format=%H%x1f%s%x1f%an%x1f%ae%x1f%B%x1e", sha)
        commits = []
        for record in filter(None, (r.strip("\n") for r in out.split("\x1e"))):
            sha, _subject, name, email, body = record.split("\x1f")
            commits.append({"sha": sha, "message": body.rstrip("\n"), "author_name": name, "author_email": email})
        return commits

    def push_commit(self, repo: str, branch: str, files: Mapping[str, str | bytes | Symlink | None], message: str,
                    author: str = "Someone Else", author_email: str | None = None) -> str:
        """Commit ``files`` on top of ``branch`` (or of the default branch when ``branch`` is new), as
        another person would push it. A ``None`` content deletes the file. Returns the new sha."""
        email = author_email or re.sub(r"[^a-z0-9]+", ".", author.lower()).strip(".") + "@example.com"
        return self._commit(self._gitdir(repo), branch, files, message, author, email)

    def delete_branch(self, repo: str, branch: str) -> None:
        self._git(self._gitdir(repo), "update-ref", "-d", f"refs/heads/{branch}")

    def compare(self, repo: str, base: str, head: str) -> int | None:
        """How many commits ``head`` has that ``base`` lacks; None when either does not exist."""
        gitdir = self._gitdir(repo)
        base_sha, head_sha = self._resolve(gitdir, base), self._resolve(gitdir, head)
        if base_sha is None or head_sha is None:
            return None
        return int(self._git(gitdir, "rev-list", "--count", f"{base_sha}..{head_sha}"))

    # -- observation and fault injection ---------------------------------------------------------

    @property
    def requests(self) -> list[GitRequest]:
        with self._lock:
            return list(self._requests)

    def on_request(self, callback: Callable[[GitRequest], None]) -> None:
        """Call ``callback`` with every request before it is served (on the serving thread)."""
        with self._lock:
            self._callbacks.append(callback)

    def fail_next(self, path_regex: str, status: int, times: int = 1) -> None:
        """Answer the next ``times`` requests whose path matches ``path_regex`` with ``status``."""
        with self._lock:
            self._failures.extend([_Failure(re.compile(path_regex), status)] * times)

    # -- the hooks the HTTP handler calls (git_http.Host) -----------------------------------------

    def authorize(self, header: str | None) -> bool:
        """Basic ``x-access-token:<token>``, as GitHub takes it for git over HTTPS."""
        scheme, _, value = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user == USER and (password == self.token or (self.accept is not None and self.accept(password)))

    def observe(self, request: GitRequest) -> int | None:
        """Record the request, run the callbacks, and return an injected failure status if one is due."""
        with self._lock:
            self._requests.append(request)
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback(request)
        with self._lock:
            for failure in self._failures:
                if failure.pattern.search(request.path):
                    self._failures.remove(failure)
                    return failure.status
        return None

    def spawn_backend(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(["git", "http-backend"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, start_new_session=True)
        with self._lock:
            self._procs.add(proc)
        return proc

    def reap(self, proc: subprocess.Popen[bytes]) -> None:
        try:
            proc.wait(timeout=GIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        with self._lock:
            self._procs.discard(proc)

    # -- git plumbing ----------------------------------------------------------------------------

    def _gitdir(self, repo: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo) or ".." in repo:
            raise ValueError(f"not an owner/name repository: {repo!r}")
        return self.root / f"{repo}.git"

    def base_env(self) -> dict[str, str]:
        # The machine's git configuration must not change what this server does or who commits: no
        # system or global config and no HOME (so no ~/.config/git/attributes either).
        return {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C", "LC_ALL": "C",
                "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}

    def _git_result(self, gitdir: Path | None, *args: str, stdin: bytes | None = None,
                    env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        prefix = ["git", f"--git-dir={gitdir}"] if gitdir is not None else ["git"]
        return subprocess.run([*prefix, *args], input=stdin, capture_output=True, timeout=GIT_TIMEOUT,
                              env={**self.base_env(), **(env or {})})

    def _git(self, gitdir: Path | None, *args: str, stdin: bytes | None = None,
             env: dict[str, str] | None = None) -> str:
        result = self._git_result(gitdir, *args, stdin=stdin, env=env)
        if result.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr.decode(errors='replace').strip()}")
        return result.stdout.decode("utf-8", "replace").strip()

    def _resolve(self, gitdir: Path, ref: str) -> str | None:
        result = self._git_result(gitdir, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        return result.stdout.decode().strip() if result.returncode == 0 else None

    def _commit(self, gitdir: Path, branch: str, files: Mapping[str, str | bytes | Symlink | None], message: str,
                name: str, email: str) -> str:
        """One commit through ``git fast-import``: any paths, no work tree, one process."""
        parent = self._resolve(gitdir, f"refs/heads/{branch}") or self._resolve(gitdir, "HEAD")
        stream = _fast_import_stream(f"refs/heads/{branch}", files, message, name, email, parent)
        self._git(gitdir, "fast-import", "--quiet", stdin=stream)
        sha = self._resolve(gitdir, f"refs/heads/{branch}")
        assert sha is not None
        return sha


def _data(payload: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(payload), payload)


def _fast_import_stream(ref: str, files: Mapping[str, str | bytes | Symlink | None], message: str, name: str,
                        email: str, parent: str | None) -> bytes:
    when = f"{int(time.time())} +0000"
    out = [f"commit {ref}\n".encode(),
           f"author {name} <{email}> {when}\ncommitter {name} <{email}> {when}\n".encode(),
           _data(message.encode())]
    if parent:
        out.append(f"from {parent}\n".encode())
    for path, content in files.items():
        if "\n" in path or path.startswith('"'):
            raise ValueError(f"unsupported path {path!r}")
        if content is None:
            out.append(f"D {path}\n".encode())
        elif isinstance(content, Symlink):
            out.append(f"M 120000 inline {path}\n".encode() + _data(content.target.encode()))
        else:
            payload = content.encode() if isinstance(content, str) else content
            out.append(f"M 100644 inline {path}\n".encode() + _data(payload))
    return b"".join(out)
