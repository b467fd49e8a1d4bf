"""An in-memory Hub (runner.ports.Hub) for unit tests of authorization and the pipeline."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from runner.ports import Comment, PullRequest, RepoInfo


@dataclass
class FakeHub:
    repos: dict[str, RepoInfo] = field(default_factory=dict)
    permissions: dict[tuple[str, str], str] = field(default_factory=dict)
    labelers: dict[tuple[str, int, str], str | None] = field(default_factory=dict)
    comments: dict[tuple[str, int], list[Comment]] = field(default_factory=dict)
    labels: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    prs: dict[str, list[PullRequest]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def get_repo(self, repo):
        self.calls.append("get_repo")
        return self.repos[repo]

    def get_issue(self, repo, number):
        return {"number": number, "labels": [{"name": n} for n in self.labels.get((repo, number), [])]}

    def labeler(self, repo, number, label):
        self.calls.append("labeler")
        return self.labelers.get((repo, number, label))

    def permission(self, repo, login):
        self.calls.append(f"permission:{login}")
        return self.permissions.get((repo, login), "none")

    def find_comment(self, repo, number, marker, *, fresh=True):
        self.calls.append("find_comment")
        return next((c for c in self.comments.get((repo, number), []) if marker in c.body), None)

    def create_comment(self, repo, number, body):
        self.calls.append("create_comment")
        comment = Comment(next(self._ids), body)
        self.comments.setdefault((repo, number), []).append(comment)
        return comment

    def update_comment(self, repo, comment_id, body):
        self.calls.append("update_comment")
        for key, items in self.comments.items():
            self.comments[key] = [Comment(c.id, body) if c.id == comment_id else c for c in items]

    def add_labels(self, repo, number, labels):
        self.calls.append("add_labels")
        current = self.labels.setdefault((repo, number), [])
        current.extend(lbl for lbl in labels if lbl not in current)
        return list(current)

    def set_labels(self, repo, number, labels):
        self.calls.append("set_labels")
        self.labels[(repo, number)] = list(labels)
        return list(labels)

    def find_open_pr(self, repo, branch):
        self.calls.append("find_open_pr")
        return next((p for p in self.prs.get(repo, []) if p.head_ref == branch and p.state == "open"), None)

    def create_pr(self, repo, *, title, head, base, body):
        self.calls.append("create_pr")
        pr = PullRequest(len(self.prs.get(repo, [])) + 1, f"https://example.test/{repo}/pull/1", head, body=body)
        self.prs.setdefault(repo, []).append(pr)
        return pr

    def update_pr(self, repo, number, *, title, body):
        self.calls.append("update_pr")
