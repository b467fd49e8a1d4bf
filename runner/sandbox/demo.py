"""``python -m runner demo``: the whole flow against in-process stand-ins, no credentials needed.

Starts the local GitHub-like server and a git server, files one dispatch issue, runs one cycle of the
real runner against them and prints what a user would see: the status comment, the PR body, the diff.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path

from runner import config, logs
from runner.sandbox.git_server import GitServer
from runner.sandbox.github_server import FakeGitHub

TOKEN = "demo-token-not-a-secret"
DISPATCH, TARGET = "acme/agent-tasks", "acme/widgets"

APP_PY = textwrap.dedent('''\
    from http.server import BaseHTTPRequestHandler


    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(404)
            self.end_headers()
    ''')

DIFF_TASK = textwrap.dedent('''\
    # Agent Task Delegation

    **Task ID:** `550e8400-e29b-41d4-a716-446655440000`
    **User ID:** `user-123`

    **Target:** repository `acme/widgets`

    ## Instructions

    Add a /healthz endpoint that returns {"ok": true}.

    ```diff
    --- a/app.py
    +++ b/app.py
    @@ -3,5 +3,10 @@ from http.server import BaseHTTPRequestHandler
     
     class Handler(BaseHTTPRequestHandler):
         def do_GET(self):
    +        if self.path == "/healthz":
    +            self.send_response(200)
    +            self.end_headers()
    +            self.wfile.write(b'{"ok": true}')
    +            return
             self.send_response(404)
             self.end_headers()
    ```

    ---

    <!-- agent_task_metadata
    {"task_id": "550e8400-e29b-41d4-a716-446655440000", "user_id": "user-123", "provider": "github_issue_dispatch"}
    -->
    ''')

PROSE_TASK = DIFF_TASK.split("```diff")[0].rstrip() + "\n\n" + DIFF_TASK.split("```\n", 1)[1]


def run_demo(keep: bool = False, out=print) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="agent-runner-demo-"))
    try:
        with GitServer(workdir / "git", token=TOKEN) as git, FakeGitHub(token=TOKEN) as gh:
            settings = _stage(workdir, git, gh)
            logs.setup(settings.log_level, settings.log_format, secrets=[TOKEN])
            out(f"demo: local GitHub at {gh.url}, git at {git.url}, state in {workdir / 'state'}")
            out(f"demo: filed {DISPATCH}#1 ({'prose task for ' + settings.model if settings.model else 'diff task'})")
            from runner.app import build

            code = build(settings).service.run_once()
            _show(out, gh, workdir / "git" / f"{TARGET}.git")
            out(f"demo: `run --once` exited {code}")
            return code
    finally:
        if keep:
            out(f"demo: kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _stage(workdir: Path, git: GitServer, gh: FakeGitHub) -> config.Settings:
    for repo, files in ((TARGET, {"app.py": APP_PY, "README.md": "# widgets\n"}),
                        (DISPATCH, {"README.md": "# agent tasks\n"})):
        gh.add_repo(repo, clone_url=git.create_repo(repo, files=files), default_branch="main")
    gh.compare = git.compare
    gh.set_permission(DISPATCH, "octocat", "write")
    settings = config.demo_settings({
        "GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": gh.url, "AGENT_DISPATCH_REPO": DISPATCH,
        "AGENT_TARGET_REPO": TARGET, "AGENT_STATE_DIR": str(workdir / "state"), "AGENT_POLL_INTERVAL": "1",
        "LOG_LEVEL": "WARNING"})
    body = PROSE_TASK if settings.model else DIFF_TASK
    gh.create_issue(DISPATCH, title="Add a /healthz endpoint", body=body, author="octocat",
                    labels=["copilot-agent"], labeled_by="octocat")
    return settings


def _show(out, gh: FakeGitHub, bare: Path) -> None:
    comments = gh.comments(DISPATCH, 1)
    out("\n=== status comment on the dispatch issue " + "=" * 40)
    out(comments[0]["body"] if comments else "(none)")
    out(f"\n=== labels: {', '.join(gh.labels_of(DISPATCH, 1))}")
    for pr in gh.pulls(TARGET):
        out(f"\n=== pull request #{pr['number']}: {pr['title']} " + "=" * 30)
        out(pr["body"])
        diff = subprocess.run(["git", f"--git-dir={bare}", "diff", pr["base"]["ref"], pr["head"]["ref"]],
                              capture_output=True, text=True, timeout=60, check=False).stdout
        out("\n=== the diff " + "=" * 60)
        out(diff)
