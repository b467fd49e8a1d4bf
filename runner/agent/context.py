"""Which code goes into the model's prompt, within a token budget.

``build_context`` reads a checkout's tracked text files, ranks them for the instruction
(``ranking.py``), and spends the budget on: a repo map (``repomap.py``) of the best-ranked files'
definitions and other paths, then whole files in rank order while they fit, then excerpts of the
most relevant large files (``excerpt.py``). Repository instructions (AGENTS.md and friends) come back
separately for the system prompt and count against the same budget.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from runner.agent import sources
from runner.agent.excerpt import excerpt
from runner.agent.ranking import Ranking, rank, rank_files
from runner.agent.repomap import definitions, render_map
from runner.agent.tokens import count_tokens, estimate_tokens

__all__ = ["ContextBundle", "build_context", "count_tokens", "rank_files", "render_context"]

_MAP_SHARE, _MAP_MIN, _MAP_MAX = 0.15, 300, 8_000
_INSTRUCTIONS_SHARE = 0.2
_MAP_DETAILED = 30  # files whose definitions the map shows; the rest appear as paths
_EXCERPTS_MAX = 3  # large files that may be cut down, taken from the top of the ranking
_EXCERPT_MIN = 400  # below this a cut-down file says too little to be worth its header
_FENCE_OVERHEAD = 12  # path line, fences, language tag
_SECTION_OVERHEAD = 16  # headings and blank lines between blocks
_BACKTICKS = re.compile(r"`{3,}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class ContextBundle:
    """What goes into the prompt. ``files`` holds (path, whole text or an excerpt starting with
    ``... (excerpt)``); ``tokens`` counts the rendered context plus ``repo_instructions``."""

    repo_map: str
    files: list[tuple[str, str]]
    repo_instructions: str | None
    tokens: int
    ranking: list[str]


def build_context(root: Path, instruction: str, budget_tokens: int) -> ContextBundle:
    """Rank the checkout ``root``'s files for ``instruction`` and fill ``budget_tokens`` with them."""
    root = Path(root)
    instructions = _capped(sources.repo_instructions(root), int(budget_tokens * _INSTRUCTIONS_SHARE))
    files = sources.source_files(root)
    ranking = rank(files, instruction)
    remaining = budget_tokens - (count_tokens(instructions) if instructions else 0)
    repo_map = _repo_map(files, ranking, _map_budget(remaining))
    remaining -= count_tokens(_MAP_HEADING + repo_map) if repo_map else 0
    chosen = _fill(files, ranking, instruction, remaining - _SECTION_OVERHEAD)
    while True:  # the per-part counts above leave out separators: check the real total
        bundle = ContextBundle(repo_map, chosen, instructions, 0, ranking.paths)
        used = count_tokens(render_context(bundle)) + (count_tokens(instructions) if instructions else 0)
        if used <= budget_tokens or not (chosen or repo_map or instructions):
            return ContextBundle(repo_map, chosen, instructions, used, ranking.paths)
        # Over budget (only ever by a few tokens, or with a tiny budget): shed the least useful part.
        if chosen:
            chosen = chosen[:-1]
        elif repo_map:
            repo_map = ""
        else:
            instructions = None


_MAP_HEADING = "## Repository map\n\n"


def render_context(bundle: ContextBundle) -> str:
    """The prompt section: the repo map, then each file in a fenced block under its path."""
    parts: list[str] = []
    if bundle.repo_map:
        parts.append(_MAP_HEADING + _fenced(bundle.repo_map, "text"))
    if bundle.files:
        parts.append("## Files")
        parts.extend(_file_block(path, text) for path, text in bundle.files)
    return "\n\n".join(parts)


def _fill(files: dict[str, str], ranking: Ranking, instruction: str, budget: int) -> list[tuple[str, str]]:
    """Whole files in rank order while they fit; the top few large ones as excerpts."""
    chosen: list[tuple[str, str]] = []
    relevant = [p for p in ranking.paths if ranking.scores[p] > 0]
    for position, path in enumerate(relevant):
        if budget < _EXCERPT_MIN // 4:
            break
        text = files[path]
        cost = _block_cost(path, text, budget)
        if cost is not None:
            chosen.append((path, text))
            budget -= cost + 2
        elif position < _EXCERPTS_MAX and budget >= _EXCERPT_MIN:
            part = _excerpt_for(path, text, ranking, instruction, budget)
            if part is not None:
                chosen.append((path, part))
                budget -= count_tokens(_file_block(path, part)) + 2
    return chosen


def _block_cost(path: str, text: str, budget: int) -> int | None:
    """Exact tokens of the file's block, or None when it cannot fit (decided cheaply if obvious)."""
    if estimate_tokens(text) > 2 * budget:
        return None
    cost = count_tokens(_file_block(path, text))
    return cost if cost <= budget else None


def _excerpt_for(path: str, text: str, ranking: Ranking, instruction: str, budget: int) -> str | None:
    """An excerpt taking about half the remaining budget, so other relevant files still fit."""
    mentioned = ranking.names.get(path, set()) & set(_IDENTIFIER.findall(instruction))
    share = min(budget, budget // 2 + _EXCERPT_MIN) - _FENCE_OVERHEAD
    return excerpt(path, text, ranking.query_terms, mentioned, share)


def _repo_map(files: dict[str, str], ranking: Ranking, budget: int) -> str:
    """Definitions of the best-ranked files and the other paths, best first, within ``budget``."""
    entries: list[tuple[str, list | None]] = []
    used = 0
    for position, path in enumerate(ranking.paths):
        defs = definitions(path, files[path]) if position < _MAP_DETAILED else None
        entry = render_map([(path, defs)])
        cost = estimate_tokens(entry) + 1
        if used + cost > budget:
            if defs is None:
                break
            continue
        entries.append((path, defs))
        used += cost
    entries.sort(key=lambda entry: entry[0])  # a map reads best in path order
    return render_map(entries, omitted=len(ranking.paths) - len(entries))


def _map_budget(remaining: int) -> int:
    return max(0, min(_MAP_MAX, max(_MAP_MIN, int(remaining * _MAP_SHARE)), remaining // 2))


def _capped(instructions: str | None, budget: int) -> str | None:
    if instructions is None or count_tokens(instructions) <= budget:
        return instructions
    keep = max(0, budget * 4 - 40)
    return instructions[:keep] + "\n... (truncated to fit the prompt budget)"


def _file_block(path: str, text: str) -> str:
    return f"{path}\n{_fenced(text, _language(path))}"


def _fenced(text: str, language: str) -> str:
    # A fence longer than any backtick run inside, so a Markdown file cannot close it early.
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


_LANGUAGES = {"py": "python", "js": "javascript", "ts": "typescript", "tsx": "tsx", "jsx": "jsx", "go": "go",
              "rs": "rust", "rb": "ruby", "java": "java", "kt": "kotlin", "c": "c", "h": "c", "cpp": "cpp",
              "cs": "csharp", "php": "php", "sh": "bash", "md": "markdown", "rst": "rst", "toml": "toml",
              "yml": "yaml", "yaml": "yaml", "json": "json", "html": "html", "css": "css", "sql": "sql"}


def _language(path: str) -> str:
    return _LANGUAGES.get(path.rsplit(".", 1)[-1].lower(), "") if "." in path.rsplit("/", 1)[-1] else ""
