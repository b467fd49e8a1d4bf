from __future__ import annotations

import base64
import gzip
import http.client
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from runner.sandbox.git_server import GitServer

TOKEN = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[GitServer]:
    with GitServer(tmp_path / "srv", token=TOKEN) as server:
        server.create_repo("acme/widgets", files={"README.md": "# Widgets\n", "src/app.py": "print('hi')\n"})
        yield server


def git(args: list[str], home: Path, token: str | None = None, origin: str = "", cwd: Path | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    """A git client on a machine without any git config, sending Basic auth the way the runner does."""
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C",
           "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}
    if token is not None:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0=f"http.{origin}/.extraheader",
                   GIT_CONFIG_VALUE_0=f"AUTHORIZATION: basic {basic}")
    result = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=30)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_git_server_clone_with_the_token_gets_the_files(srv: GitServer, tmp_path: Path) -> None:
    git(["clone", "-q", srv.clone_url("acme/widgets"), str(tmp_path / "c")], tmp_path, TOKEN, srv.url)

    assert (tmp_path / "c" / "src" / "app.py").read_text() == "print('hi')\n"
    assert srv.clone_url("acme/widgets") == f"{srv.url}/acme/widgets.git"
    assert all(request.auth_ok for request in srv.requests)


@pytest.mark.parametrize("token", [None, "ghs_wrongwrongwrongwrongwrongwrongwrong"])
def test_git_server_refuses_a_missing_or_wrong_token(srv: GitServer, tmp_path: Path, token: str | None) -> None:
    result = git(["clone", "-q", srv.clone_url("acme/widgets"), str(tmp_path / "c")], tmp_path, token, srv.url,
                 check=False)

    assert result.returncode != 0
    assert not (tmp_path / "c").exists()
    assert [r.auth_ok for r in srv.requests] == [False]


def test_git_server_answers_401_with_a_basic_challenge(srv: GitServer) -> None:
    conn = http.client.HTTPConnection(urlsplit(srv.url).netloc, timeout=10)
    conn.request("GET", "/acme/widgets.git/info/refs?service=git-upload-pack")
    response = conn.getresponse()
    response.read()
    conn.close()

    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="git"'


def test_git_server_push_creates_the_branch(srv: GitServer, tmp_path: Path) -> None:
    clone = tmp_path / "c"
    git(["clone", "-q", srv.clone_url("acme/widgets"), str(clone)], tmp_path, TOKEN, srv.url)
    (clone / "src" / "app.py").write_text("print('healthz')\n")
    git(["commit", "-qam", "Add healthz"], tmp_path, cwd=clone)
    git(["push", "-q", "origin", "HEAD:refs/heads/feature"], tmp_path, TOKEN, srv.url, cwd=clone)

    local_sha = git(["rev-parse", "HEAD"], tmp_path, cwd=clone).stdout.strip()
    assert srv.branch_sha("acme/widgets", "feature") == local_sha
    assert srv.read_file("acme/widgets", "feature", "src/app.py") == "print('healthz')\n"
    assert srv.commits("acme/widgets", "feature")[0] == {
        "sha": local_sha, "message": "Add healthz", "author_name": "Dev", "author_email": "dev@example.com"}
    assert any(r.path.endswith("/git-receive-pack") and r.method == "POST" for r in srv.requests)


def test_git_server_push_commit_moves_a_branch_as_someone_else(srv: GitServer) -> None:
    main = srv.branch_sha("acme/widgets", "main")

    sha = srv.push_commit("acme/widgets", "feature", {"NOTES.md": "mine\n", "README.md": None}, "Their work")

    assert srv.branch_sha("acme/widgets", "feature") == sha
    assert srv.branch_sha("acme/widgets", "main") == main
    assert srv.read_file("acme/widgets", "feature", "NOTES.md") == "mine\n"
    assert srv.read_file("acme/widgets", "feature", "README.md") is None
    top = srv.commits("acme/widgets", "feature")[0]
    assert (top["message"], top["author_name"], top["author_email"]) == (
        "Their work", "Someone Else", "someone.else@example.com")


@pytest.mark.parametrize("base, head, ahead", [
    ("main", "feature", 2),
    ("feature", "main", 0),
    ("main", "main", 0),
    ("main", "no-such-branch", None),
    ("no-such-branch", "feature", None),
])
def test_git_server_compare_counts_commits_ahead(srv: GitServer, base: str, head: str, ahead: int | None) -> None:
    srv.push_commit("acme/widgets", "feature", {"a.txt": "1\n"}, "One")
    srv.push_commit("acme/widgets", "feature", {"a.txt": "2\n"}, "Two")

    assert srv.compare("acme/widgets", base, head) == ahead


def test_git_server_fail_next_fails_matching_requests_then_recovers(srv: GitServer, tmp_path: Path) -> None:
    srv.fail_next(r"/git-upload-pack$", 500)
    url = srv.clone_url("acme/widgets")

    failed = git(["clone", "-q", url, str(tmp_path / "a")], tmp_path, TOKEN, srv.url, check=False)
    git(["clone", "-q", url, str(tmp_path / "b")], tmp_path, TOKEN, srv.url)

    assert failed.returncode != 0 and "500" in failed.stderr
    assert (tmp_path / "b" / "README.md").exists()


def test_git_server_calls_on_request_before_serving(srv: GitServer, tmp_path: Path) -> None:
    seen: list[tuple[str, str | None]] = []
    srv.on_request(lambda r: seen.append((r.path, srv.branch_sha("acme/widgets", "feature"))))
    clone = tmp_path / "c"
    git(["clone", "-q", srv.clone_url("acme/widgets"), str(clone)], tmp_path, TOKEN, srv.url)
    git(["commit", "-q", "--allow-empty", "-m", "Empty"], tmp_path, cwd=clone)
    git(["push", "-q", "origin", "HEAD:refs/heads/feature"], tmp_path, TOKEN, srv.url, cwd=clone)

    pushes = [sha for path, sha in seen if path.endswith("/git-receive-pack")]
    assert pushes == [None]  # the callback ran before the push landed


def _ls_refs_request(encoding: str) -> tuple[bytes, dict[str, str]]:
    body = b"0014command=ls-refs\n0001000bsymrefs0000"
    if encoding == "gzip":
        body = gzip.compress(body)
    headers = {"Content-Type": "application/x-git-upload-pack-request", "Git-Protocol": "version=2",
               "Authorization": "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()}
    if encoding:
        headers["Content-Encoding"] = encoding
    return body, headers


@pytest.mark.parametrize("encoding, chunked", [("", False), ("gzip", False), ("gzip", True), ("", True)])
def test_git_server_serves_protocol_v2_with_gzip_and_chunked_bodies(srv: GitServer, encoding: str,
                                                                   chunked: bool) -> None:
    body, headers = _ls_refs_request(encoding)
    conn = http.client.HTTPConnection(urlsplit(srv.url).netloc, timeout=10)
    if chunked:
        conn.request("POST", "/acme/widgets.git/git-upload-pack", body=iter([body[:7], body[7:]]),
                     headers=headers, encode_chunked=True)
    else:
        conn.request("POST", "/acme/widgets.git/git-upload-pack", body=body, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    conn.close()

    assert response.status == 200
    sha = srv.branch_sha("acme/widgets", "main")
    assert f"{sha} refs/heads/main".encode() in payload
