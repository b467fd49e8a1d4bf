"""Which files matter for an instruction, best first.

Two kinds of evidence, combined into one score per file:

1. explicit mentions (``mentions.py``): paths, stack-trace frames, module paths, and identifiers the
   instruction uses that a file defines. These are precise and weigh the most;
2. lexical similarity: BM25 (the ``bm25s`` library, Lucene's variant, whose IDF never turns
   negative in a small repository) over identifier-split tokens, three times: the path, the names
   the file defines, and the whole content. Each is scaled to [0, 1] by its best file.

The issue's first line (its title) is counted twice in the query. Files in documentation, example or
script directories, and tests, are discounted: a change usually lands in the source package. Last,
a file imported by or importing one of the best few gets a small share of that file's score.
Works over any mapping of path to text; no checkout is needed. Deterministic: ties go by path.

The weights were set on the localization benchmark (bench/localization.py) with a coarse grid,
preferring round values in a flat region over the single best cell.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from runner.agent import mentions
from runner.agent.imports import import_graph
from runner.agent.repomap import defined_names
from runner.agent.terms import STOPWORDS, path_words, split_identifier, tokenize, tokenize_cached

FileSource = Mapping[str, str] | Callable[[], Mapping[str, str]]

WEIGHTS = {"path": 1.0, "module": 0.5, "names": 0.5, "bm25_content": 1.0, "bm25_path": 0.3, "bm25_names": 0.2}
_NEIGHBOUR_SHARE, _NEIGHBOUR_SOURCES = 0.1, 5
_SIDE_DIRS = frozenset({"doc", "docs", "documentation", "example", "examples", "script", "scripts",
                        "tools", "utils", "benchmark", "benchmarks", "bench", "contrib", "demo", "demos"})
_TEST_DIRS = frozenset({"test", "tests", "testing", "spec", "specs", "__tests__"})
_SIDE_FACTOR, _TEST_FACTOR = 0.6, 0.5


@dataclass(frozen=True)
class Ranking:
    """The ranked paths with their scores, and what the query looked like (for excerpts)."""

    paths: list[str]
    scores: dict[str, float]
    query_terms: frozenset[str]
    names: dict[str, set[str]]


def rank_files(files: FileSource, instruction: str) -> list[str]:
    """Paths of ``files`` ({path: text}, or a callable returning such a mapping), best first."""
    return rank(files, instruction).paths


def rank(files: FileSource, instruction: str) -> Ranking:
    """The full ranking: paths best first, with scores and the query terms."""
    texts = files() if callable(files) else files
    paths = sorted(texts)
    names = {path: defined_names(path, texts[path]) for path in paths}
    title = instruction.strip().split("\n", 1)[0]
    query = tokenize(instruction) + tokenize(title)
    signals = {
        "path": mentions.path_mentions(paths, instruction),
        "module": mentions.module_mentions(paths, instruction),
        "names": mentions.name_mentions(names, instruction),
        "bm25_content": _bm25(paths, [tokenize_cached(texts[p]) for p in paths], query),
        "bm25_path": _bm25(paths, [tokenize(path_words(p)) for p in paths], query),
        "bm25_names": _bm25(paths, [_name_tokens(names[p]) for p in paths], query),
    }
    scores = {
        path: _location_factor(path) * sum(WEIGHTS[key] * signal.get(path, 0.0) for key, signal in signals.items())
        for path in paths
    }
    scores = _with_neighbours(scores, import_graph(texts))
    ordered = sorted(paths, key=lambda p: (-scores[p], p))
    return Ranking(ordered, scores, frozenset(query), names)


def _with_neighbours(scores: dict[str, float], graph: dict[str, set[str]]) -> dict[str, float]:
    """Lift files next to the best few in the import graph by a share of the best neighbour's score."""
    best = sorted(scores, key=lambda p: (-scores[p], p))[:_NEIGHBOUR_SOURCES]
    lifted = dict(scores)
    for source in best:
        for neighbour in graph.get(source, ()):
            lifted[neighbour] = max(lifted[neighbour], scores[neighbour] + _NEIGHBOUR_SHARE * scores[source])
    return lifted


def _bm25(paths: list[str], corpus: list[list[str]], query: list[str]) -> dict[str, float]:
    """BM25 scores scaled so the best file has 1.0; {} when nothing matches."""
    import bm25s  # imported on first use: it pulls in numpy and scipy

    if not paths or not query:
        return {}
    retriever = bm25s.BM25(method="lucene")
    retriever.index(corpus, show_progress=False)
    known = [token for token in query if token in retriever.vocab_dict]
    if not known:
        return {}
    raw = retriever.get_scores(known)
    best = float(raw.max())
    if best <= 0:
        return {}
    return {path: float(value) / best for path, value in zip(paths, raw) if value > 0}


def _name_tokens(names: set[str]) -> list[str]:
    tokens: list[str] = []
    for name in sorted(names):
        tokens.append(name.strip("_").lower())
        tokens.extend(split_identifier(name))
    return [t for t in tokens if len(t) >= 2 and t not in STOPWORDS]


def _location_factor(path: str) -> float:
    directories = {part.lower() for part in path.split("/")[:-1]}
    if directories & _TEST_DIRS:
        return _TEST_FACTOR
    if directories & _SIDE_DIRS:
        return _SIDE_FACTOR
    return 1.0
