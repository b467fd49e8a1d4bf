"""GitWorkspace: the runner's side of git (``runner.ports.Workspace``).

A bare mirror per target repo (``mirrors.py``) is fetched incrementally; each task gets a throwaway
working tree cloned from it; commits carry the runner's own identity (the machine may have no git
config); pushes never overwrite commits the runner did not write. The token only ever travels in the
git child's environment (``gitenv.py``). Git failures become ``TransientError``/``TaskFailed`` here.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import time
from collections.abc import Sequence, Callable
from pathlib import Path
from typing import TypeVar

from runner.errors import GitHubAuthError, RunnerError, TaskFailed, TransientError
from runner.gitenv import GitError, GitRunner, display_url
from runner.mirrors import MirrorCache
from runner.ports import Checkout
from runner.trees import TreePool

log = logging.getLogger(__name__)

T = TypeVar("T")
WORK_BRANCH = "agent-runner-work"  # the local branch in a checkout; pushes name the remote branch
REMOTE_TIP = "refs/agent-runner/remote-tip"  # where push() fetches the branch it is about to update
PR_BASE = "refs/agent-runner/pr-base"  # where diff_from_base() fetches a follow-up round's base branch
_BAD_BRANCH = re.compile(r"^[-/.]|\.\.|[\x00-\x20~^:?*\[\\\x7f]|@\{|/\.|\.lock(/|$)|/$|\.$|//|^@$")


def default_email(author_name: str) -> str:
    # A reserved domain (RFC 2606): a made-up address that can never belong to, or be credited to, a
    # real account (a users.noreply.github.com address would credit whichever user owns that login).
    slug = re.sub(r"[^a-z0-9]+", "-", author_name.lower()).strip("-") or "agent-runner"
    return f"{slug}@agent-runner.invalid"


def safe_dir_name(task_id: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", task_id.lower()).strip("-.")[:40] or "task"


def check_branch(name: str) -> None:
    if not name or _BAD_BRANCH.search(name):
        raise TaskFailed(f"{name!r} is not a valid git branch name")


class GitWorkspace:
    """Mirror cache per target repo, throwaway task checkouts, commits as the runner, safe pushes."""

    def __init__(self, state_dir: Path, token_provider: Callable[[], str], *, author_name: str,
                 author_email: str | None = None, git_timeout: float = 300):
        self.state_dir = Path(state_dir).resolve()
        self.work_root = self.state_dir / "work"
        self.author_name = author_name
        self.author_email = author_email or default_email(author_name)
        home = self.state_dir / "git-home"  # empty on purpose: no ~/.gitconfig, attributes or ignores
        home.mkdir(parents=True, exist_ok=True)
        self._git = GitRunner(home, self.state_dir, token_provider, git_timeout)
        self._mirrors = MirrorCache(self.state_dir / "mirrors", self._git)
        self._trees = TreePool(self.state_dir / "trees", self.state_dir / "mirrors", self._git)
        self._tree_mirrors: dict[Path, Path] = {}  # checkout -> its mirror, to park the tree after the task

    # -- reading the remote ----------------------------------------------------------------------

    def remote_branch_sha(self, clone_url: str, branch: str) -> str | None:
        check_branch(branch)
        ref = f"refs/heads/{branch}"
        return self._guard(clone_url, lambda: self._ls_remote(clone_url, ref)[0].get(ref))

    def branch_commit_message(self, clone_url: str, branch: str) -> str | None:
        """Full message of the branch tip (fetched into the mirror), None if the branch is absent."""
        return self._tip(clone_url, branch, "%B")

    def branch_author_email(self, clone_url: str, branch: str) -> str | None:
        """Author email of the branch tip, None if the branch is absent: tells our pushes from others'."""
        return self._tip(clone_url, branch, "%ae")

    # -- a task's checkout -----------------------------------------------------------------------

    def prepare(self, task_id: str, clone_url: str, base_branch: str) -> Checkout:
        check_branch(base_branch)
        return self._with_repair(clone_url, lambda: self._prepare_once(task_id, clone_url, base_branch))

    def commit(self, checkout: Checkout, message: str, paths: Sequence[str] | None = None) -> str | None:
        """Commit the changes to ``paths`` (all changes when None) as the runner; None when there is
        nothing to commit. Naming the paths keeps what a verify command left behind out of the PR."""
        if not message.strip():
            raise ValueError("a commit needs a message")
        return self._guard(None, lambda: self._commit(checkout.path, message, paths))

    def push(self, checkout: Checkout, branch: str, clone_url: str) -> None:
        """Push HEAD to ``branch``; never forces over commits the runner did not write."""
        check_branch(branch)
        self._guard(clone_url, lambda: self._push(checkout, branch, clone_url))

    def push_fast_forward(self, checkout: Checkout, branch: str, clone_url: str) -> None:
        """Push HEAD to ``branch`` only as a fast-forward: a follow-up round adds a commit on top of the
        branch and never rewrites it (if the branch moved meanwhile, git refuses: TransientError)."""
        check_branch(branch)
        self._guard(clone_url, lambda: self._push(checkout, branch, clone_url, rewrite=False))

    def diff_from_base(self, checkout: Checkout, clone_url: str, base_branch: str) -> str:
        """What the checkout's branch changed since it left ``base_branch`` (``git diff base...HEAD``),
        as a unified diff; empty when the base branch is gone. A follow-up round shows it to the model."""
        check_branch(base_branch)

        def read() -> str:
            with self._mirrors.locked(clone_url) as mirror:
                if self._mirrors.fetch_branch(mirror, clone_url, base_branch) is None:
                    return ""
                self._git.run(["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--", str(mirror),
                               f"+refs/heads/{base_branch}:{PR_BASE}"], cwd=checkout.path)
            return self._git.run(["diff", "--no-color", "--no-ext-diff", "--no-textconv", f"{PR_BASE}...HEAD"],
                                 cwd=checkout.path)[1]

        return self._with_repair(clone_url, read)

    def cleanup(self, checkout: Checkout) -> None:
        path = Path(checkout.path).resolve()
        if path.parent != self.work_root:
            log.warning("not removing %s: not a checkout of this workspace", path)
            return
        mirror = self._tree_mirrors.pop(path, None)
        if mirror is None:
            shutil.rmtree(path, ignore_errors=True)
        else:
            self._trees.give_back(mirror, path)  # the next task resets it: only changed files are written

    def prune_checkouts(self, older_than: float) -> int:
        """Remove checkouts left by crashed runs, untouched for ``older_than`` seconds; how many."""
        if not self.work_root.is_dir():
            return 0
        cutoff, removed = time.time() - older_than, 0
        for path in self.work_root.iterdir():
            if path.is_dir() and path.stat().st_mtime < cutoff:
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
        return removed

    # -- steps -----------------------------------------------------------------------------------

    def _prepare_once(self, task_id: str, clone_url: str, base_branch: str) -> Checkout:
        self.work_root.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=f"{safe_dir_name(task_id)}-", dir=self.work_root))
        try:
            with self._mirrors.locked(clone_url) as mirror:
                sha = self._mirrors.fetch_branch(mirror, clone_url, base_branch)
                if sha is None:
                    raise TaskFailed(f"base branch {base_branch!r} does not exist in {display_url(clone_url)}; "
                                     "name an existing branch (base_branch in the task metadata) or create it")
                # `clone --local` hard-links the mirror's packs: as fast as `--shared` or a worktree, but
                # the checkout owns its objects afterwards, so a later gc, prune or re-creation of the
                # mirror cannot pull objects out from under a running task (it would with --shared), and
                # nothing about the task is registered inside the mirror (as worktrees would be).
                # An earlier task's tree, when one is idle, is reset instead (trees.py): far cheaper.
                reused = self._trees.take(mirror, path, base_branch, sha) and self._trees.reset(path, sha, WORK_BRANCH)
                if not reused:
                    self._git.run(["clone", "--quiet", "--local", "--no-checkout", str(mirror), str(path)],
                                  cwd=self.work_root)
            if not reused:
                self._git.run(["checkout", "--quiet", "--no-track", "-B", WORK_BRANCH, sha], cwd=path)
            self._tree_mirrors[path] = mirror
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        return Checkout(path=path, base_branch=base_branch, base_sha=sha)

    def _commit(self, path: Path, message: str, paths: Sequence[str] | None) -> str | None:
        # literal pathspecs: a file named "*.py" is that file, not a glob
        specs = ["--", *(f":(literal){p}" for p in paths)] if paths else []
        self._git.run(["add", "--all", *specs], cwd=path)
        changed, _ = self._git.run(["diff", "--cached", "--quiet"], cwd=path, ok=(0, 1))
        if not changed:
            return None
        identity = {"GIT_AUTHOR_NAME": self.author_name, "GIT_AUTHOR_EMAIL": self.author_email,
                    "GIT_COMMITTER_NAME": self.author_name, "GIT_COMMITTER_EMAIL": self.author_email}
        with tempfile.TemporaryFile() as text:  # stdin, not argv: messages can be long
            text.write(message.encode())
            text.seek(0)
            # --cleanup=whitespace keeps Markdown headings that the default would strip as comments
            self._git.run(["commit", "--quiet", "--no-verify", "--cleanup=whitespace", "--file=-"],
                          cwd=path, stdin=text, extra_env=identity)
        return self._git.run(["rev-parse", "HEAD"], cwd=path)[1].strip()

    def _push(self, checkout: Checkout, branch: str, clone_url: str, rewrite: bool = True) -> None:
        ref = f"refs/heads/{branch}"
        refs, default = self._ls_remote(clone_url, "HEAD", ref, symref=True)
        if branch == default:
            raise TaskFailed(f"refusing to push to {branch!r}: it is the repository's default branch; the "
                             "runner only pushes to its own task branch")
        head = self._git.run(["rev-parse", "HEAD"], cwd=checkout.path)[1].strip()
        tip = refs.get(ref)
        if tip == head:
            return  # pushed before (e.g. by a run that crashed right after)
        args = ["push", "--quiet"]
        lease = self._lease(checkout.path, clone_url, branch) if tip is not None and rewrite else None
        if lease is not None:
            args.append(f"--force-with-lease={ref}:{lease}")  # only over the runner's own older attempt
        self._git.run([*args, "--", clone_url, f"HEAD:{ref}"], cwd=checkout.path, url=clone_url)
        log.info("pushed %s to %s", branch, display_url(clone_url))

    def _lease(self, path: Path, clone_url: str, branch: str) -> str | None:
        """The remote tip to force over when it only holds the runner's own older attempt; None when a
        plain push suffices (the tip is in HEAD's history, or gone); TaskFailed for others' commits."""
        try:
            self._git.run(["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--", clone_url,
                           f"+refs/heads/{branch}:{REMOTE_TIP}"], cwd=path, url=clone_url)
        except GitError as err:
            if err.kind == "missing_ref":
                return None  # deleted since ls-remote: a plain push creates it again
            raise
        log_format = "--format=%h%x1f%an%x1f%ae%x1f%ce"
        out = self._git.run(["log", log_format, f"HEAD..{REMOTE_TIP}"], cwd=path)[1]
        theirs = [line.split("\x1f") for line in out.splitlines() if line]
        foreign = [c for c in theirs if c[2] != self.author_email or c[3] != self.author_email]
        if foreign:
            names = ", ".join(sorted({f"{c[1]} ({c[0]})" for c in foreign[:5]}))
            raise TaskFailed(
                f"branch {branch} moved on the remote: someone else pushed to it ({len(foreign)} commit(s) "
                f"not written by the runner: {names}); the runner will not overwrite their commits; "
                f"delete the branch {branch} (or merge their work elsewhere), then remove the failed label "
                "to try again")
        if not theirs:
            return None
        return self._git.run(["rev-parse", REMOTE_TIP], cwd=path)[1].strip()  # exactly what was examined

    def _ls_remote(self, clone_url: str, *patterns: str, symref: bool = False) -> tuple[dict[str, str], str | None]:
        """Exact refs -> sha, and the default branch when ``symref`` (HEAD's target)."""
        args = ["ls-remote", *(["--symref"] if symref else []), clone_url, *patterns]
        out = self._git.run(args, cwd=self._git.home, url=clone_url)[1]
        refs, default = {}, None
        for line in out.splitlines():
            left, _, name = line.partition("\t")
            if left.startswith("ref: refs/heads/") and name == "HEAD":
                default = left.removeprefix("ref: refs/heads/")
            elif name in patterns:  # ls-remote patterns match ref-name tails; keep exact names only
                refs[name] = left
        return refs, default

    def _tip(self, clone_url: str, branch: str, fmt: str) -> str | None:
        check_branch(branch)

        def read() -> str | None:
            with self._mirrors.locked(clone_url) as mirror:
                sha = self._mirrors.fetch_branch(mirror, clone_url, branch)
                if sha is None:
                    return None
                return self._git.run(["log", "-1", f"--format={fmt}", sha], cwd=mirror)[1].rstrip("\n")

        return self._with_repair(clone_url, read)

    # -- errors ----------------------------------------------------------------------------------

    def _with_repair(self, clone_url: str, step: Callable[[], T]) -> T:
        """Run ``step``; after a local git failure (a damaged mirror) repair the mirror and retry: first
        clearing stale locks (re-creating it if fsck finds damage), then re-creating it outright."""
        for recreate in (None, False, True):
            try:
                if recreate is not None:
                    with self._mirrors.locked(clone_url) as mirror:
                        self._mirrors.repair(mirror, recreate=recreate)
                return step()
            except GitError as err:
                if err.kind != "local" or recreate:
                    raise _translate(err, clone_url) from err
                log.warning("git failed locally (%s); repairing the mirror of %s", err, display_url(clone_url))
        raise AssertionError("unreachable: the last round returns or raises")

    def _guard(self, clone_url: str | None, step: Callable[[], T]) -> T:
        try:
            return step()
        except GitError as err:
            raise _translate(err, clone_url) from err


def _translate(err: GitError, clone_url: str | None) -> RunnerError:
    """GitError (already scrubbed of the token) -> the runner's error tree, with a user-facing message."""
    where = f" {display_url(clone_url)}" if clone_url else ""
    what = f"git {err.command}{where}"
    messages: dict[str, Callable[[], RunnerError]] = {
        "timeout": lambda: TransientError(f"{what} timed out: {err.detail}"),
        "auth": lambda: GitHubAuthError(f"{what}: authentication failed; the token is wrong, expired or revoked"),
        "forbidden": lambda: TaskFailed(f"{what}: access denied (HTTP 403); the token needs read and write "
                                        "access to the repository's contents"),
        "not_found": lambda: TaskFailed(f"{what}: repository not found, or the token cannot read it"),
        "rejected": lambda: TransientError(f"{what}: the branch moved while pushing; the runner will look "
                                           f"again ({err.detail})"),
        "remote_rejected": lambda: TaskFailed(f"{what}: the server refused the push: {err.detail}"),
    }
    return messages.get(err.kind, lambda: TransientError(f"{what} failed: {err.detail}"))()
