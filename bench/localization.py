"""Localization benchmark: does the context ranking put the files the real fix touched into the prompt?

42 SWE-bench Lite issues from requests, flask, pytest and sphinx, scored as bench/README.md describes
(rules from /work/shared/bench/README.md, comparable with the SWE-bench paper's Table 3). Files are
read straight from bare mirrors at each issue's base commit; nothing is checked out.

    python bench/localization.py [--data FILE] [--repos DIR] [--baseline]

The last line is ``BENCH localization n=.. r13k=.. ...`` for the runner's ranking.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere, without installing the project

from runner.agent.ranking import rank_files  # noqa: E402
from runner.agent.terms import path_words, tokenize  # noqa: E402
from runner.agent.tokens import count_tokens, exact_counts_available  # noqa: E402

BUDGETS = (13_000, 27_000, 50_000)
TOP_K = (1, 3, 5, 10)
TEST_DIRS = frozenset({"test", "tests", "testing"})
# Measured on this subset by whoever wrote the data README; None where it gives no number.
REFERENCES = (
    ("ref: Okapi BM25, identifier-split", (38.1, 64.3, 83.3, 42.9, None, 66.7, None)),
    ("ref: Lucene-like BM25 (paper)", (31.0, 45.2, 69.0, None, None, None, None)),
)

Ranker = Callable[[dict[str, str], str], list[str]]


@dataclass(frozen=True)
class Instance:
    instance_id: str
    repo: str
    base_commit: str
    problem_statement: str
    gold_files: tuple[str, ...]


class Mirror:
    """Reads non-test Python files of one bare repository at a commit; blob contents are cached."""

    def __init__(self, git_dir: Path):
        self.git_dir = git_dir
        self._blobs: dict[str, str] = {}

    def candidates(self, commit: str) -> dict[str, str]:
        listing = self._git("ls-tree", "-r", commit).decode("utf-8", "replace")
        wanted: dict[str, str] = {}
        for line in listing.splitlines():
            meta, path = line.split("\t", 1)
            mode, kind, sha = meta.split()
            if kind == "blob" and is_candidate(path):
                wanted[path] = sha
        self._load({sha for sha in wanted.values() if sha not in self._blobs})
        return {path: self._blobs[sha] for path, sha in wanted.items()}

    def _load(self, shas: set[str]) -> None:
        if not shas:
            return
        out = self._git("cat-file", "--batch", stdin="\n".join(sorted(shas)) + "\n")
        pos = 0
        while pos < len(out):
            header_end = out.index(b"\n", pos)
            sha, _kind, size = out[pos:header_end].split()
            start = header_end + 1
            end = start + int(size)
            self._blobs[sha.decode()] = out[start:end].decode("utf-8", "replace")
            pos = end + 1  # the newline after each object

    def _git(self, *args: str, stdin: str | None = None) -> bytes:
        return subprocess.run(
            ["git", f"--git-dir={self.git_dir}", *args],
            input=stdin.encode() if stdin is not None else None,
            capture_output=True,
            check=True,
            timeout=300,
        ).stdout


def is_candidate(path: str) -> bool:
    """Non-test ``*.py`` files: no directory of the path is named test, tests or testing."""
    return path.endswith(".py") and not TEST_DIRS.intersection(path.split("/")[:-1])


def okapi_bm25(files: dict[str, str], instruction: str) -> list[str]:
    """The baseline: Okapi BM25 over identifier-split tokens of path and content, the issue as query."""
    import bm25s

    paths = sorted(files)
    corpus = [tokenize(path_words(path) + "\n" + files[path]) for path in paths]
    retriever = bm25s.BM25(method="robertson", k1=1.5, b=0.75)
    retriever.index(corpus, show_progress=False)
    query = tokenize(instruction)
    known = [token for token in query if token in retriever.vocab_dict]
    if not known:
        return paths
    scores = retriever.get_scores(known)
    return [paths[i] for i in sorted(range(len(paths)), key=lambda i: (-scores[i], paths[i]))]


def select(ranking: list[str], sizes: dict[str, int], budget: int) -> set[str]:
    """Walk the ranking, adding a file only if it still fits the budget."""
    chosen: set[str] = set()
    used = 0
    for path in ranking:
        if used + sizes[path] <= budget:
            chosen.add(path)
            used += sizes[path]
    return chosen


def score(ranking: list[str], sizes: dict[str, int], gold: tuple[str, ...]) -> list[bool]:
    """Hits at each budget, then at each top-k: every gold file must be in the selection."""
    hits = [set(gold) <= select(ranking, sizes, budget) for budget in BUDGETS]
    return hits + [set(gold) <= set(ranking[:k]) for k in TOP_K]


def load_instances(path: Path) -> list[Instance]:
    rows = json.loads(path.read_text())
    return [
        Instance(r["instance_id"], r["repo"], r["base_commit"], r["problem_statement"], tuple(r["gold_files"]))
        for r in rows
    ]


def mirror_dir(repos: Path, repo: str) -> Path:
    return repos / repo.replace("/", "+") / "repo"


def run(instances: list[Instance], repos: Path, methods: dict[str, Ranker]) -> dict[str, list[list[bool]]]:
    mirrors = {repo: Mirror(mirror_dir(repos, repo)) for repo in {i.repo for i in instances}}
    token_cache: dict[str, int] = {}
    results: dict[str, list[list[bool]]] = {name: [] for name in methods}
    for instance in instances:
        files = mirrors[instance.repo].candidates(instance.base_commit)
        sizes = {path: _tokens(text, token_cache) for path, text in files.items()}
        for name, ranker in methods.items():
            results[name].append(score(ranker(files, instance.problem_statement), sizes, instance.gold_files))
    return results


def _tokens(text: str, cache: dict[str, int]) -> int:
    if text not in cache:
        cache[text] = count_tokens(text)
    return cache[text]


def percentages(rows: list[list[bool]]) -> tuple[float, ...]:
    return tuple(100.0 * sum(row[i] for row in rows) / len(rows) for i in range(len(rows[0])))


def render_table(results: dict[str, list[list[bool]]]) -> str:
    def cells(values: tuple[float | None, ...]) -> str:
        return " | ".join("-" if v is None else f"{v:.1f}" for v in values)

    lines = ["| method | r13k | r27k | r50k | r1 | r3 | r5 | r10 |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {name} | {cells(percentages(rows))} |" for name, rows in results.items()]
    lines += [f"| {name} | {cells(values)} |" for name, values in REFERENCES]
    return "\n".join(lines)


def bench_line(rows: list[list[bool]]) -> str:
    names = [f"r{b // 1000}k" for b in BUDGETS] + [f"r{k}" for k in TOP_K]
    values = " ".join(f"{name}={value:.1f}" for name, value in zip(names, percentages(rows)))
    return f"BENCH localization n={len(rows)} {values}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / "data" / "localization-lite.json")
    parser.add_argument("--repos", type=Path, default=ROOT.parent / ".mirror")
    parser.add_argument("--baseline", action="store_true", help="also measure the Okapi BM25 baseline")
    args = parser.parse_args(argv)
    instances = load_instances(args.data)
    missing = sorted({i.repo for i in instances if not mirror_dir(args.repos, i.repo).is_dir()})
    if missing:
        print(f"missing bare repositories under {args.repos}: {', '.join(missing)}", file=sys.stderr)
        print("fetch them as OWNER+NAME/repo (e.g. the search tool's fetch github:psf/requests)", file=sys.stderr)
        return 2
    if not exact_counts_available():
        print("warning: cl100k unavailable, token counts are estimates", file=sys.stderr)
    methods: dict[str, Ranker] = {"okapi BM25 (this run)": okapi_bm25} if args.baseline else {}
    methods["runner rank_files"] = rank_files
    started = time.monotonic()
    results = run(instances, args.repos, methods)
    print(render_table(results))
    print(f"{len(instances)} instances in {time.monotonic() - started:.1f} s")
    print(bench_line(results["runner rank_files"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
