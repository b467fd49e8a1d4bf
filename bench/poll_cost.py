"""Poll-cost bench: the primary rate-limit units a runner spends watching GitHub.

    python bench/poll_cost.py [--seconds 60] [--interval 2] [--every 10] [--smoke]

Runs the real ``python -m runner run`` at ``AGENT_POLL_INTERVAL=2`` against the local GitHub-like
server, first for ``--seconds`` with no eligible issue (three finished ones are listed), then for
``--seconds`` while a new dispatch issue (a diff task, which the runner processes) is filed every
``--every`` seconds. Beside it, in the same process and on the same schedule, a naive poller does
what PyGithub's ``repo.get_issues(labels=[...], state="open")`` does: an unconditional GET per page.

A tick reads the dispatch repo's issue list and, for ``/agent`` follow-ups and cancels, the comments
updated since its last look in each watched repository. Units are what GitHub charges against the
5,000/hour primary limit: every answer except a 304. A "change" is a new version of a polled list as
the runner saw it: a 200 whose ETag the runner then sends, different from the one it sent before (or
the first look at a URL, e.g. a comment listing whose ``since`` moved). A 200 that brings the same
ETag back is a "refresh" (stale-ETag insurance). Target: 0 units while idle, 1 per change.

``--app-rotation S`` runs the runner as a GitHub App whose installation tokens are replaced every
``S`` seconds. GitHub's ETags belong to the token (the local server does the same once an app is
registered), so each rotation costs the polled URLs a full read: the bench reports units per
rotation, which is the extra cost per hour of GitHub's hourly rotation.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

from common import (DISPATCH, LABEL, TARGET, TOKEN, World, bench_line, charged, cleanup_on_signals, from_runner, header,
                    is_issue_poll, is_poll, poll_key, stop, table, wait_until, world)

from runner.github.app_auth import REFRESH_MARGIN
from runner.github.rest import RestClient


@dataclass
class Window:
    """What one phase cost, from the server's records."""

    name: str
    seconds: float
    polls: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # by kind: issues, comments
    not_modified: int = 0
    poll_units: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    changes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    refreshes: int = 0
    new_urls: int = 0  # first looks at a URL (a comment listing whose `since` moved): a 200 by construction
    other_requests: int = 0
    other_units: int = 0
    naive_requests: int = 0
    naive_units: int = 0

    def per_hour(self, n: float) -> float:
        return n * 3600.0 / self.seconds

    @property
    def units(self) -> int:
        return sum(self.poll_units.values())


class NaivePoller(threading.Thread):
    """PyGithub's get_issues, fully iterated every ``interval`` seconds (no ETags: every page costs)."""

    def __init__(self, url: str, interval: float):
        super().__init__(name="naive-poller", daemon=True)
        from github import Auth, Github

        self.client = Github(auth=Auth.Token(TOKEN), base_url=url, per_page=100, retry=None, lazy=True)
        self.repo = self.client.get_repo(DISPATCH)
        self.interval, self.halt = interval, threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            list(self.repo.get_issues(labels=[LABEL], state="open"))
            self.halt.wait(self.interval)


def measure(w: World, name: str, seconds: float, start_index: int, every: float | None) -> tuple[Window, int]:
    """Let ``seconds`` pass (filing an issue every ``every`` s), then tally the requests since ``start_index``."""
    started = time.monotonic()
    filed = 0
    while (left := started + seconds - time.monotonic()) > 0:
        if every is not None and time.monotonic() >= started + filed * every:
            w.file_issue(title=f"Task {filed + 1}")
            filed += 1
        time.sleep(min(0.05, left))
    requests = w.gh.requests
    return tally(Window(name, seconds), requests, start_index), len(requests)


def tally(win: Window, requests: list, start: int) -> Window:
    in_window = {id(r) for r in requests[start:]}
    by_url: dict[str, list] = defaultdict(list)
    for req in requests:
        if from_runner(req) and is_poll(req):
            by_url[poll_key(req)].append(req)
    for polls in by_url.values():
        _tally_url(win, polls, in_window)
    for req in requests[start:]:
        if from_runner(req) and not is_poll(req):
            win.other_requests += 1
            win.other_units += charged(req)
        elif not from_runner(req):
            win.naive_requests += 1
            win.naive_units += charged(req)
    return win


def _tally_url(win: Window, polls: list, in_window: set[int]) -> None:
    """One URL's polls in order: the ETag a 200 brought is the one the runner sends on the next."""
    known: str | None = None
    for i, req in enumerate(polls):
        sent = req.headers.get("if-none-match")
        if id(req) in in_window:
            kind = "issues" if is_issue_poll(req) else "comments"
            win.polls[kind] += 1
            win.not_modified += req.status == 304
            win.poll_units[kind] += charged(req)
            if req.status == 200:
                following = polls[i + 1].headers.get("if-none-match") if i + 1 < len(polls) else None
                if i == 0:
                    win.new_urls += 1
                elif following and following == (sent or known):
                    win.refreshes += 1
                else:
                    win.changes[kind] += 1
        known = sent or known


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0, help="length of each phase")
    p.add_argument("--interval", type=float, default=2.0, help="AGENT_POLL_INTERVAL")
    p.add_argument("--every", type=float, default=10.0, help="seconds between new issues in the second phase")
    p.add_argument("--smoke", action="store_true", help="CI: 6 s phases, an issue every 3 s")
    p.add_argument("--app-rotation", type=float, default=0.0,
                   help="authenticate as a GitHub App whose token rotates every this many seconds")
    args = p.parse_args()
    cleanup_on_signals()
    seconds, every = (6.0, 3.0) if args.smoke else (args.seconds, args.every)
    header("poll_cost", "python bench/poll_cost.py" + (" --smoke" if args.smoke else ""))

    with world() as w:
        for n in range(3):
            w.gh.create_issue(DISPATCH, title=f"Old task {n}", body="done", author="alice",
                              labels=[LABEL, "agent-done"])
        app = use_app(w, args.app_rotation) if args.app_rotation else None
        proc = w.spawn("run", AGENT_POLL_INTERVAL=f"{args.interval:g}")
        wait_until(lambda: sum(map(is_issue_poll, w.gh.requests)) >= 2, 30, what="two polls")
        naive = NaivePoller(w.gh.url, args.interval)
        start = len(w.gh.requests)  # the first tick primes the ETag cache; the windows start after it
        naive.start()
        minted = len(app.minted) if app else 0
        idle, start = measure(w, "idle: no eligible issue", seconds, start, None)
        rotations = len(app.minted) - minted if app else 0
        busy, _ = measure(w, f"one new issue per {every:g} s", seconds, start, every)
        naive.halt.set()
        naive.join(10)
        code = stop(proc)
        if code != 0:
            sys.exit(f"runner exited {code}:\n{w.log_of(proc)[-3000:]}")

    report(idle, busy, args.interval)
    if app:
        report_rotation(idle, rotations, args.app_rotation)
    return 0


def use_app(w: World, rotation: float):
    """Register a GitHub App (a fresh RSA key) and run the runner as it, tokens replaced every ``rotation`` s."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    (w.tmp / "app.pem").write_text(pem)
    app = w.gh.register_app(424242, public, installation_id=4242, repos=[DISPATCH, TARGET],
                            token_lifetime=REFRESH_MARGIN + rotation)  # the runner renews at the margin
    w.git.accept = w.gh.app_token_valid
    w.env.update(GITHUB_TOKEN="", GITHUB_APP_ID="424242", GITHUB_APP_PRIVATE_KEY_PATH=str(w.tmp / "app.pem"))
    return app


def report_rotation(idle: Window, rotations: int, every: float) -> None:
    polling = idle.units
    per_rotation = polling / rotations if rotations else float("nan")
    print(f"\nGitHub App, token rotated every {every:g} s: {rotations} rotations in the idle phase cost "
          f"{polling} poll units ({per_rotation:.2f} per rotation, i.e. {per_rotation:.1f} units/h extra at "
          "GitHub's hourly rotation, on top of the idle cost above).")
    print(bench_line("poll_cost_app_rotation", rotations=rotations, idle_poll_units=polling,
                     units_per_rotation=per_rotation, rotation_units_per_hour_at_hourly=per_rotation))


def report(idle: Window, busy: Window, interval: float) -> None:
    refresh_age = inspect.signature(RestClient.__init__).parameters["refresh_age"].default
    urls = 1 + _comment_urls(idle)  # the issue list and one comment listing per watched repository
    refresh_per_hour = urls * 3600.0 / refresh_age
    rows = [[win.name, win.polls["issues"], win.polls["comments"], win.not_modified, win.changes["issues"],
             win.changes["comments"], win.new_urls, win.refreshes, win.poll_units["issues"],
             win.poll_units["comments"], win.per_hour(win.units), win.other_requests, win.other_units,
             win.naive_requests, win.per_hour(win.naive_units)] for win in (idle, busy)]
    print(table(["phase", "issue-list polls", "comment-listing polls", "304s", "changes: issue list",
                 "changes: comments", "new URLs", "refreshes", "units: issue list", "units: comments",
                 "poll units/h", "task requests", "task units", "naive requests", "naive units/h"], rows))
    idle_polling = idle.per_hour(idle.units - idle.refreshes)
    idle_per_hour = idle_polling + refresh_per_hour
    changes = sum(busy.changes.values())
    per_change = busy.units / changes if changes else float("nan")
    ratio = lambda k: busy.poll_units[k] / busy.changes[k] if busy.changes[k] else float("nan")  # noqa: E731
    print(f"\nidle: {idle_polling:.1f} units/h from polling, plus {refresh_per_hour:g}/h for the unconditional "
          f"refresh of each of the {urls} polled URL(s) every {refresh_age:g} s (stale-ETag insurance, "
          f"GITHUB_RULES.md) = {idle_per_hour:.1f} units/h; naive: {idle.per_hour(idle.naive_units):.0f} units/h.")
    print(f"with new issues: {busy.units} poll units for {changes} changes seen ({per_change:.2f} per change; "
          f"target 1): issue list {ratio('issues'):.2f}, comment listings {ratio('comments'):.2f} per change "
          f"({busy.new_urls} first looks at a new `since` URL); the tasks themselves cost {busy.other_units} "
          "units (see bench/task_cost.py).")
    print(bench_line("poll_cost", idle_units_per_hour=idle_per_hour, idle_poll_units_per_hour=idle_polling,
                     naive_units_per_hour=idle.per_hour(idle.naive_units), units_per_change=per_change,
                     issue_list_units_per_change=ratio("issues"), comment_units_per_change=ratio("comments"),
                     busy_poll_units_per_hour=busy.per_hour(busy.units), interval_s=interval))


def _comment_urls(win: Window) -> int:
    """How many comment listings one tick reads (one per watched repository)."""
    ticks = win.polls.get("issues", 0)
    return round(win.polls.get("comments", 0) / ticks) if ticks else 0


if __name__ == "__main__":
    sys.exit(main())
