"""Localization benchmark: does the context ranking put the files the real fix touched into the prompt?

42 SWE-bench Lite issues from requests, flask, pytest and sphinx (bench/data/localization-lite.json),
scored by the rules in bench/README.md, which make the numbers comparable with the SWE-bench paper's
Table 3. Files are read straight from bare mirrors at each issue's base commit; nothing is checked out.

    python bench/localization.py [--data FILE] [--repos DIR] [--baseline]

The last line is ``BENCH localization n=.. r13k=.. ...`` for the runner's ranking.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere, without installing the project

from runner.agent.ranking import rank_files  # noqa: E402
from runner.agent.terms import split_identifier  # noqa: E402
from runner.agent.tokens import count_tokens, exact_counts_available  # noqa: E402

BUDGETS = (13_000, 27_000, 50_000)
TOP_K = (1, 3, 5, 10)
TEST_DIRS = frozenset({"test", "tests", "testing"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
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
        listing = self._git("ls-tree", "-r", "-z", commit).decode("utf-8", "replace")
        wanted: dict[str, str] = {}
        for line in filter(None, listing.split("\0")):
            meta, path = line.split("\t", 1)
            _mode, kind, sha = meta.split()
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
    """The baseline: plain Okapi BM25 over file contents, the issue text as the query.

    Tokens: identifiers split at camelCase/snake_case boundaries, lowercased, at least two letters,
    minus bm25s' English stopwords. With rank_bm25's BM25Okapi (k1=1.5, b=0.75) this reproduces the
    data README's reference points at 27k, 50k, recall@1 and recall@5 exactly (see bench/README.md
    for 13k). Without rank_bm25 installed, bm25s' Robertson variant stands in (close, not equal)."""
    import bm25s.stopwords

    stopwords = frozenset(bm25s.stopwords.STOPWORDS_EN)

    def words(text: str) -> list[str]:
        split = (part for name in _IDENTIFIER.findall(text) for part in split_identifier(name))
        return [part for part in split if len(part) >= 2 and part not in stopwords]

    paths = sorted(files)
    scores = _okapi_scores([words(files[path]) for path in paths], words(instruction))
    return [paths[i] for i in sorted(range(len(paths)), key=lambda i: (-scores[i], paths[i]))]


def _okapi_scores(corpus: list[list[str]], query: list[str]) -> list[float]:
    try:
        from rank_bm25 import BM25Okapi
    except ImportError:
        import bm25s

        retriever = bm25s.BM25(method="robertson", k1=1.5, b=0.75)
        retriever.index(corpus, show_progress=False)
        known = [token for token in query if token in retriever.vocab_dict]
        return list(retriever.get_scores(known)) if known else [0.0] * len(corpus)
    return list(BM25Okapi(corpus).get_scores(query))


def baseline_name() -> str:
    try:
        import rank_bm25  # noqa: F401
    except ImportError:
        return "okapi BM25 (bm25s robertson stand-in)"
    return "okapi BM25 (rank_bm25, this run)"


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

    measured = [(name, percentages(rows)) for name, rows in results.items()]
    lines = ["| method | r13k | r27k | r50k | r1 | r3 | r5 | r10 |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {name} | {cells(values)} |" for name, values in measured[:-1]]  # the baseline, if run
    lines += [f"| {name} | {cells(values)} |" for name, values in REFERENCES]
    lines += [f"| {name} | {cells(values)} |" for name, values in measured[-1:]]  # the runner, last
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
    methods: dict[str, Ranker] = {baseline_name(): okapi_bm25} if args.baseline else {}
    methods["runner rank_files"] = rank_files
    started = time.monotonic()
    results = run(instances, args.repos, methods)
    print(render_table(results))
    print(f"{len(instances)} instances in {time.monotonic() - started:.1f} s")
    print(bench_line(results["runner rank_files"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
