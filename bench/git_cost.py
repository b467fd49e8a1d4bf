"""Git-cost bench: per-task git time on a big repository, fresh clone against the runner's mirror.

    python bench/git_cost.py [--files 20000] [--commits 2000] [--repeat 3] [--smoke]

A synthetic repository (``--files`` Python files, ``--commits`` commits; generated once with
``git fast-import``, packed, and cached in ``bench/.cache/``) is served over smart HTTP with Basic
auth by the sandbox GitServer. One task's git work is timed three ways:

- baseline: ``git clone`` into a fresh directory (the token as an http.extraheader in the child's
  environment, exactly as the runner passes it), commit one change, push a branch, delete the clone;
- cold: the runner's ``GitWorkspace`` with an empty state directory (mirror created and fetched);
- warm: the same workspace again after one new commit landed upstream (the mirror fetches it).

The runner's sequence is what ``pipeline.py`` does: ``ls-remote`` for the task branch, ``prepare``
(mirror fetch, local clone, checkout), commit, push, cleanup. Target: warm <= 10 % of the baseline.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from common import ROOT, TOKEN, bench_line, cleanup_on_signals, header, scratch_dir, table

from runner.gitenv import GitRunner
from runner.sandbox.git_server import GitServer
from runner.workspace import GitWorkspace

REPO = "acme/monolith"
CACHE = ROOT / "bench" / ".cache"
TARGET_RATIO = 0.10
IDENTITY = {"GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
            "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid"}
PHASES = ("lookup", "tree", "commit+push", "cleanup")


# -- the synthetic repository -------------------------------------------------------------------

def module_text(index: int, version: int) -> bytes:
    """A plausible Python module of ~1.5 KB; identifiers vary per file so packs do not collapse."""
    seed = hashlib.sha256(f"{index}:{version}".encode()).hexdigest()
    lines = [f'"""Module {index} (revision {version})."""', "", "from __future__ import annotations", ""]
    for k in range(6):
        name = f"{seed[k * 6:k * 6 + 6]}_{k}"
        lines += [f"def handle_{name}(payload, limit={index % 97 + k}):",
                  f'    """Handle {name} for module {index}."""',
                  "    total = 0",
                  "    for item in payload[:limit]:",
                  f"        total += len(str(item)) * {k + 1}",
                  f"    return {{'module': {index}, 'name': '{name}', 'total': total}}", ""]
    return ("\n".join(lines) + "\n").encode()


def path_of(index: int) -> str:
    return f"src/pkg{index // 100:03d}/mod{index % 100:02d}.py"


def fast_import_stream(files: int, commits: int) -> Iterator[bytes]:
    when = 1_700_000_000
    versions = [0] * files
    for c in range(commits):
        message = b"Initial import" if c == 0 else f"Change {c}".encode()
        yield (f"commit refs/heads/main\nauthor Dev <dev@example.com> {when + c * 60} +0000\n"
               f"committer Dev <dev@example.com> {when + c * 60} +0000\n").encode()
        yield b"data %d\n%s\n" % (len(message), message)
        changed = range(files) if c == 0 else sorted({(c * 7919 + k * 104729) % files for k in range(5)})
        for index in changed:
            versions[index] += c > 0
            blob = module_text(index, versions[index])
            yield f"M 100644 inline {path_of(index)}\n".encode() + b"data %d\n%s\n" % (len(blob), blob)
        yield b"\n"


def synthetic_repo(files: int, commits: int, cache: Path = CACHE) -> Path:
    """The cached bare repository, generated (seconds, even for 20,000 x 2,000) when missing."""
    path = cache / f"synthetic-{files}x{commits}.git"
    if (path / "bench-complete").exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix="synthetic-", dir=cache))
    started = time.monotonic()
    env = {"PATH": "/usr/bin:/bin", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "HOME": str(temp)}
    subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(temp)], env=env, check=True)
    proc = subprocess.Popen(["git", f"--git-dir={temp}", "fast-import", "--quiet"], stdin=subprocess.PIPE, env=env)
    assert proc.stdin is not None
    for chunk in fast_import_stream(files, commits):
        proc.stdin.write(chunk)
    proc.stdin.close()
    if proc.wait() != 0:
        sys.exit("git fast-import failed")
    # delta-compressed packs, as a real host serves them
    subprocess.run(["git", f"--git-dir={temp}", "gc", "--quiet"], env=env, check=True)
    (temp / "bench-complete").write_text("ok\n")
    shutil.rmtree(path, ignore_errors=True)
    temp.rename(path)
    print(f"generated {path.name} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return path


# -- the three ways ----------------------------------------------------------------------------

def timed(phases: dict[str, float], name: str, step: Callable[[], object]) -> object:
    started = time.perf_counter()
    result = step()
    phases[name] = phases.get(name, 0.0) + time.perf_counter() - started
    return result


def baseline_task(git: GitRunner, work: Path, url: str, branch: str) -> dict[str, float]:
    phases: dict[str, float] = {}
    dest = work / f"clone-{branch}"
    timed(phases, "tree", lambda: git.run(["clone", "--quiet", "--", url, str(dest)], cwd=work, url=url))

    def commit_and_push() -> None:
        (dest / "CHANGELOG.md").write_text(f"{branch}\n")
        git.run(["add", "CHANGELOG.md"], cwd=dest)
        git.run(["commit", "--quiet", "-m", f"Task {branch}"], cwd=dest, extra_env=IDENTITY)
        git.run(["push", "--quiet", "--", url, f"HEAD:refs/heads/{branch}"], cwd=dest, url=url)

    timed(phases, "commit+push", commit_and_push)
    timed(phases, "cleanup", lambda: shutil.rmtree(dest))
    return phases


def runner_task(ws: GitWorkspace, url: str, branch: str) -> dict[str, float]:
    phases: dict[str, float] = {}
    if timed(phases, "lookup", lambda: ws.remote_branch_sha(url, branch)) is not None:
        raise RuntimeError(f"{branch} exists already")
    checkout = timed(phases, "tree", lambda: ws.prepare(branch, url, "main"))

    def commit_and_push() -> None:
        (checkout.path / "CHANGELOG.md").write_text(f"{branch}\n")
        ws.commit(checkout, f"Task {branch}", ["CHANGELOG.md"])
        ws.push(checkout, branch, url)

    timed(phases, "commit+push", commit_and_push)
    timed(phases, "cleanup", lambda: ws.cleanup(checkout))
    return phases


def median_phases(runs: list[dict[str, float]]) -> dict[str, float]:
    medians = {p: statistics.median(r.get(p, 0.0) for r in runs) for p in PHASES}
    medians["total"] = statistics.median(sum(r.values()) for r in runs)
    return medians


def measure(source: Path, repeat: int, where: Path | None) -> tuple[dict[str, list[dict[str, float]]],
                                                                   tuple[float, float]]:
    """Each way ``repeat`` times against a served copy of ``source``; also (mirror MB, pack MB)."""
    results: dict[str, list[dict[str, float]]] = {"baseline": [], "cold": [], "warm": []}
    with scratch_dir("agent-runner-git-cost-", where) as tmp, GitServer(tmp / "served", token=TOKEN) as server:
        served = tmp / "served" / f"{REPO}.git"
        served.parent.mkdir(parents=True)
        subprocess.run(["git", "clone", "--quiet", "--bare", "--", str(source), str(served)], check=True,
                       env={"PATH": "/usr/bin:/bin", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"})
        url = server.clone_url(REPO)
        (tmp / "home").mkdir()
        (tmp / "work").mkdir()
        git = GitRunner(tmp / "home", tmp, lambda: TOKEN, 600)
        for i in range(repeat):
            results["baseline"].append(baseline_task(git, tmp / "work", url, f"bench-clone-{i}"))
            state = tmp / f"state-{i}"
            ws = GitWorkspace(state, lambda: TOKEN, author_name="agent-runner")
            results["cold"].append(runner_task(ws, url, f"agent-task-cold-{i}"))
            for j in range(2):  # upstream moves on between tasks, as it does between real tasks
                server.push_commit(REPO, "main", {f"docs/note-{i}-{j}.md": f"note {i} {j}\n"}, "Upstream change")
                run = runner_task(ws, url, f"agent-task-warm-{i}-{j}")
                if j == 1:  # the first warm run also warms the OS cache for the mirror's packs
                    results["warm"].append(run)
            mirror_mb = _du_mb(state / "mirrors")
            shutil.rmtree(state)
        return results, (mirror_mb, _du_mb(served))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=20_000)
    p.add_argument("--commits", type=int, default=2_000)
    p.add_argument("--repeat", type=int, default=3, help="runs of each way; medians are shown")
    p.add_argument("--cache", type=Path, default=CACHE, help="where the generated repository is kept")
    p.add_argument("--dir", type=Path, default=None,
                   help="where clones, mirrors and the served copy go (default: the system temp dir; "
                        "/dev/shm takes the disk out of the picture)")
    p.add_argument("--smoke", action="store_true", help="CI: 500 files, 20 commits, one run each")
    args = p.parse_args()
    cleanup_on_signals()
    files, commits, repeat = (500, 20, 1) if args.smoke else (args.files, args.commits, max(1, args.repeat))
    header("git_cost", "python bench/git_cost.py" + (" --smoke" if args.smoke else ""))
    source = synthetic_repo(files, commits, args.cache)

    results, sizes = measure(source, repeat, args.dir)
    mirror_mb, pack_mb = sizes

    med = {kind: median_phases(runs) for kind, runs in results.items()}
    base = med["baseline"]["total"]
    rows = [[label, *(med[k][p] for p in (*PHASES, "total")), 100.0 * med[k]["total"] / base]
            for k, label in (("baseline", "baseline: fresh full clone"), ("cold", "runner, cold mirror"),
                             ("warm", "runner, warm mirror (+1 upstream commit)"))]
    print(f"repository: {files} files, {commits} commits, {pack_mb:.0f} MB packed; mirror {mirror_mb:.0f} MB; "
          f"median of {repeat} run(s); working directories under {args.dir or tempfile.gettempdir()}\n")
    print(table(["way", "branch lookup (s)", "working tree (s)", "commit+push (s)", "cleanup (s)", "total (s)",
                 "% of baseline"], rows))
    ratio = med["warm"]["total"] / base
    print(f"\nwarm per-task git time {med['warm']['total']:.2f} s = {100 * ratio:.1f} % of a full clone's "
          f"{base:.2f} s (target <= {100 * TARGET_RATIO:.0f} %: {'met' if ratio <= TARGET_RATIO else 'NOT met'})")
    print(bench_line("git_cost", full_clone_s=base, cold_s=med["cold"]["total"], warm_s=med["warm"]["total"],
                     warm_pct=100 * ratio, files=files, commits=commits))
    return 0


def _du_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6 if path.exists() else 0.0


if __name__ == "__main__":
    sys.exit(main())
