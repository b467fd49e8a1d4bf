"""JSON shapes of GitHub REST resources, copied from recorded api.github.com traffic.

Key sets follow ``octokit-fixtures`` (issues, labels, repos) and the OpenAPI examples (comments,
events, pull requests), so clients that index into real responses work unchanged here.
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any
from urllib.parse import quote

from runner.sandbox.gh_models import Comment, Event, Issue, Label, Repo, User

ROLE_TO_PERMISSION = {  # GitHub folds the finer roles into the classic three
    "admin": "admin",
    "maintain": "write",
    "write": "write",
    "triage": "read",
    "read": "read",
    "none": "none",
}
ROLE_RANK = ["none", "read", "triage", "write", "maintain", "admin"]

_USER_LINKS = (
    ("followers_url", "/followers"),
    ("following_url", "/following{/other_user}"),
    ("gists_url", "/gists{/gist_id}"),
    ("starred_url", "/starred{/owner}{/repo}"),
    ("subscriptions_url", "/subscriptions"),
    ("organizations_url", "/orgs"),
    ("repos_url", "/repos"),
    ("events_url", "/events{/privacy}"),
    ("received_events_url", "/received_events"),
)
_REPO_LINKS = (
    "forks", "keys{/key_id}", "collaborators{/collaborator}", "teams", "hooks",
    "issues/events{/number}:issue_events", "events", "assignees{/user}", "branches{/branch}", "tags",
    "git/blobs{/sha}:blobs", "git/tags{/sha}:git_tags", "git/refs{/sha}:git_refs",
    "git/trees{/sha}:trees", "statuses/{sha}:statuses", "languages", "stargazers", "contributors",
    "subscribers", "subscription", "commits{/sha}", "git/commits{/sha}:git_commits",
    "comments{/number}", "issues/comments{/number}:issue_comment", "contents/{+path}:contents",
    "compare/{base}...{head}:compare", "merges", "{archive_format}{/ref}:archive", "downloads",
    "issues{/number}", "pulls{/number}", "milestones{/number}",
    "notifications{?since,all,participating}", "labels{/name}", "releases{/id}", "deployments",
)


def iso(ts: float | None) -> str | None:
    """GitHub's timestamp format: whole seconds, UTC, ``Z``."""
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def node_id(kind: str, ident: int) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{ident}".encode()).decode()


def fake_sha(*parts: object) -> str:
    return hashlib.sha1("\0".join(map(str, parts)).encode()).hexdigest()


def _repo_link_fields(api_repo: str) -> dict[str, str]:
    out = {}
    for spec in _REPO_LINKS:
        tail, _, name = spec.partition(":")
        key = name or tail.split("{")[0].split("/")[0]
        out[f"{key}_url"] = f"{api_repo}/{tail}"
    return out


class Renderer:
    """Turns records into response dicts. ``api`` is the REST base, ``web`` the html base."""

    def __init__(self, api: str, web: str, users: dict[str, User]):
        self.api, self.web, self.users = api, web, users

    def user(self, login: str) -> dict[str, Any]:
        u = self.users.get(login.lower()) or User(login=login, id=0)
        api_user = f"{self.api}/users/{u.login}"
        out: dict[str, Any] = {
            "login": u.login, "id": u.id, "node_id": node_id("User", u.id),
            "avatar_url": f"{self.web}/avatars/u/{u.id}?v=4", "gravatar_id": "",
            "url": api_user, "html_url": f"{self.web}/{u.login}",
        }
        out.update({key: api_user + tail for key, tail in _USER_LINKS})
        out.update({"type": u.type, "site_admin": u.site_admin})
        return out

    def label(self, repo: Repo, label: Label) -> dict[str, Any]:
        return {
            "id": label.id, "node_id": node_id("Label", label.id),
            "url": f"{self.api}/repos/{repo.full_name}/labels/{quote(label.name, safe='')}",
            "name": label.name, "color": label.color, "default": label.default,
            "description": label.description,
        }

    def association(self, repo: Repo, login: str) -> str:
        if login.lower() == repo.owner.lower():
            return "OWNER"
        role = repo.permissions.get(login.lower(), "none")
        return "COLLABORATOR" if role != "none" else "NONE"

    def repo(self, repo: Repo, viewer_role: str | None = None) -> dict[str, Any]:
        api_repo = f"{self.api}/repos/{repo.full_name}"
        html = f"{self.web}/{repo.full_name}"
        out: dict[str, Any] = {
            "id": repo.id, "node_id": node_id("Repository", repo.id), "name": repo.name,
            "full_name": repo.full_name, "private": repo.private, "owner": self.user(repo.owner),
            "html_url": html, "description": None, "fork": False, "url": api_repo,
        }
        out.update(_repo_link_fields(api_repo))
        out.update({
            "created_at": iso(repo.created_at), "updated_at": iso(repo.created_at),
            "pushed_at": iso(repo.created_at), "git_url": f"git://{html.split('://', 1)[-1]}.git",
            "ssh_url": f"git@localhost:{repo.full_name}.git", "clone_url": repo.clone_url,
            "svn_url": html, "homepage": None, "size": 0, "stargazers_count": 0,
            "watchers_count": 0, "language": None, "has_issues": True, "has_projects": True,
            "has_downloads": True, "has_wiki": True, "has_pages": False, "forks_count": 0,
            "mirror_url": None, "archived": False, "disabled": False,
            "open_issues_count": sum(i.state == "open" for i in repo.issues.values()),
            "license": None, "allow_forking": True, "is_template": False,
            "web_commit_signoff_required": False, "topics": [],
            "visibility": "private" if repo.private else "public", "forks": 0,
            "open_issues": sum(i.state == "open" for i in repo.issues.values()), "watchers": 0,
            "default_branch": repo.default_branch,
        })
        if viewer_role is not None:
            rank = ROLE_RANK.index(viewer_role)
            out["permissions"] = {
                "admin": rank >= 5, "maintain": rank >= 4, "push": rank >= 3,
                "triage": rank >= 2, "pull": rank >= 1,
            }
            out.update(self._full_repo_fields(repo))
        return out

    def _full_repo_fields(self, repo: Repo) -> dict[str, Any]:
        """What ``GET /repos/{o}/{r}`` adds to the repository objects embedded elsewhere."""
        owner = self.users.get(repo.owner.lower())
        out: dict[str, Any] = {"temp_clone_token": ""}
        out.update(dict.fromkeys(("allow_squash_merge", "allow_merge_commit", "allow_rebase_merge"), True))
        out.update(dict.fromkeys(("allow_auto_merge", "delete_branch_on_merge", "allow_update_branch",
                                  "use_squash_pr_title_as_default"), False))
        if owner is not None and owner.type == "Organization":
            out["organization"] = self.user(repo.owner)
        out.update({"network_count": 0, "subscribers_count": 0})
        return out

    def issue(self, repo: Repo, issue: Issue, single: bool = False) -> dict[str, Any]:
        base = f"{self.api}/repos/{repo.full_name}/issues/{issue.number}"
        kind = "pull" if issue.pull else "issues"
        out: dict[str, Any] = {
            "url": base, "repository_url": f"{self.api}/repos/{repo.full_name}",
            "labels_url": base + "/labels{/name}", "comments_url": base + "/comments",
            "events_url": base + "/events", "html_url": f"{self.web}/{repo.full_name}/{kind}/{issue.number}",
            "id": issue.id, "node_id": node_id("Issue", issue.id), "number": issue.number,
            "title": issue.title, "user": self.user(issue.author),
            "labels": [self.label(repo, lab) for lab in issue.labels], "state": issue.state,
            "locked": False, "assignee": None, "assignees": [], "milestone": None,
            "comments": len(issue.comment_ids), "created_at": iso(issue.created_at),
            "updated_at": iso(issue.updated_at), "closed_at": iso(issue.closed_at),
            "author_association": self.association(repo, issue.author), "active_lock_reason": None,
        }
        if issue.pull:
            out["draft"] = issue.pull.draft
            pr = f"{self.web}/{repo.full_name}/pull/{issue.number}"
            out["pull_request"] = {
                "url": f"{self.api}/repos/{repo.full_name}/pulls/{issue.number}", "html_url": pr,
                "diff_url": pr + ".diff", "patch_url": pr + ".patch",
                "merged_at": iso(issue.pull.merged_at),
            }
        out["body"] = issue.body
        if single:
            out["closed_by"] = self.user(issue.closed_by) if issue.closed_by else None
        out["reactions"] = _reactions(base)
        out.update({"timeline_url": base + "/timeline", "performed_via_github_app": None,
                    "state_reason": issue.state_reason})
        return out

    def comment(self, repo: Repo, c: Comment) -> dict[str, Any]:
        api_repo = f"{self.api}/repos/{repo.full_name}"
        issue = repo.issues[c.issue_number]
        kind = "pull" if issue.pull else "issues"
        return {
            "id": c.id, "node_id": node_id("IssueComment", c.id),
            "url": f"{api_repo}/issues/comments/{c.id}",
            "html_url": f"{self.web}/{repo.full_name}/{kind}/{c.issue_number}#issuecomment-{c.id}",
            "body": c.body, "user": self.user(c.author), "created_at": iso(c.created_at),
            "updated_at": iso(c.updated_at), "issue_url": f"{api_repo}/issues/{c.issue_number}",
            "author_association": self.association(repo, c.author),
            "performed_via_github_app": None,
            "reactions": _reactions(f"{api_repo}/issues/comments/{c.id}"),
        }

    def pull(self, repo: Repo, issue: Issue, single: bool = False) -> dict[str, Any]:
        pr, num = issue.pull, issue.number
        assert pr is not None
        api_repo = f"{self.api}/repos/{repo.full_name}"
        url, html = f"{api_repo}/pulls/{num}", f"{self.web}/{repo.full_name}/pull/{num}"
        links = {
            "self": url, "html": html, "issue": f"{api_repo}/issues/{num}",
            "comments": f"{api_repo}/issues/{num}/comments", "review_comments": url + "/comments",
            "review_comment": api_repo + "/pulls/comments{/number}", "commits": url + "/commits",
            "statuses": f"{api_repo}/statuses/{pr.head_sha}",
        }
        out: dict[str, Any] = {
            "url": url, "id": pr.id, "node_id": node_id("PullRequest", pr.id), "html_url": html,
            "diff_url": html + ".diff", "patch_url": html + ".patch", "issue_url": links["issue"],
            "commits_url": links["commits"], "review_comments_url": links["review_comments"],
            "review_comment_url": links["review_comment"], "comments_url": links["comments"],
            "statuses_url": links["statuses"], "number": num, "state": issue.state,
            "locked": False, "title": issue.title, "user": self.user(issue.author), "body": issue.body,
            "labels": [self.label(repo, lab) for lab in issue.labels], "milestone": None,
            "active_lock_reason": None, "created_at": iso(issue.created_at),
            "updated_at": iso(issue.updated_at), "closed_at": iso(issue.closed_at),
            "merged_at": iso(pr.merged_at), "merge_commit_sha": None, "assignee": None,
            "assignees": [], "requested_reviewers": [], "requested_teams": [],
            "head": self._branch(repo, pr.head_ref, pr.head_sha),
            "base": self._branch(repo, pr.base_ref, fake_sha(repo.id, pr.base_ref)),
            "_links": {k: {"href": v} for k, v in links.items()},
            "author_association": self.association(repo, issue.author), "auto_merge": None,
            "draft": pr.draft,
        }
        if single:
            out.update({
                "merged": pr.merged_at is not None, "mergeable": True, "rebaseable": True,
                "mergeable_state": "clean", "merged_by": None, "comments": len(issue.comment_ids),
                "review_comments": 0, "maintainer_can_modify": False, "commits": 1,
                "additions": 1, "deletions": 0, "changed_files": 1,
            })
        return out

    def _branch(self, repo: Repo, ref: str, sha: str) -> dict[str, Any]:
        return {"label": f"{repo.owner}:{ref}", "ref": ref, "sha": sha,
                "user": self.user(repo.owner), "repo": self.repo(repo)}

    def event(self, repo: Repo, ev: Event) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": ev.id, "node_id": node_id("IssueEvent", ev.id),
            "url": f"{self.api}/repos/{repo.full_name}/issues/events/{ev.id}",
            "actor": self.user(ev.actor), "event": ev.event, "commit_id": None, "commit_url": None,
            "created_at": iso(ev.created_at), "performed_via_github_app": None,
        }
        if ev.label:
            out["label"] = {"name": ev.label[0], "color": ev.label[1]}
        return out


def _reactions(url: str) -> dict[str, Any]:
    counts = dict.fromkeys(("+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes"), 0)
    return {"url": url + "/reactions", "total_count": 0, **counts}
