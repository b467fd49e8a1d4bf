"""One cheap sweep over the dispatch repo's open labelled issues, page by page, with ETags.

An idle poll costs one 304 per page, which GitHub does not count against the rate limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from runner.github.rest import RestClient


@dataclass(frozen=True)
class PollResult:
    """Every open issue (not PR) carrying the label; ``changed`` is False when nothing moved."""

    issues: list[dict[str, Any]]
    changed: bool
    requests: int


class Poller:
    """Lists ``repo``'s open issues carrying ``label``. Which of them to work on is the caller's call
    (it needs the processed ones too, to recover them); see ``eligible``."""

    def __init__(self, rest: RestClient, repo: str, label: str):
        self.rest = rest
        self.repo = repo
        self.label = label

    def poll(self) -> PollResult:
        params = {"labels": self.label, "state": "open", "per_page": 100}
        issues: list[dict[str, Any]] = []
        changed, pages = False, 0
        for page in self.rest.iter_pages(f"/repos/{self.repo}/issues", params):
            pages += 1
            changed = changed or page.changed
            issues.extend(item for item in page.body or [] if not is_pull_request(item))
        return PollResult(issues, changed, pages)


def is_pull_request(issue: dict[str, Any]) -> bool:
    """The issues endpoint lists pull requests too; they carry a ``pull_request`` key."""
    return "pull_request" in issue


def label_names(issue: dict[str, Any]) -> set[str]:
    """The issue's label names, lower-cased (GitHub label names are case-insensitive)."""
    names = set()
    for label in issue.get("labels") or []:
        name = label.get("name") if isinstance(label, dict) else label
        if name:
            names.add(str(name).lower())
    return names


def eligible(issues: Iterable[dict[str, Any]], *, label: str, skip_labels: Iterable[str]) -> list[dict[str, Any]]:
    """Open issues (not PRs) that carry ``label`` and none of ``skip_labels``, in the given order."""
    skip = {name.lower() for name in skip_labels}
    wanted = label.lower()
    return [
        issue for issue in issues
        if not is_pull_request(issue)
        and issue.get("state", "open") == "open"
        and wanted in (names := label_names(issue))
        and not names & skip
    ]
