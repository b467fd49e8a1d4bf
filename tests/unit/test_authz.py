import pytest

from runner import config
from runner.authz import authorize, holds
from runner.errors import TaskRefused
from runner.ports import Task
from tests.fakes.fake_hub import FakeHub

SETTINGS = config.from_mapping({"GITHUB_TOKEN": "t", "AGENT_DISPATCH_REPO": "acme/tasks",
                                "AGENT_ALLOWED_TARGET_REPOS": "acme/tasks,acme/widgets"})


def task(author="alice", target="acme/widgets", instruction="Add a /healthz endpoint"):
    return Task(task_id="t1", dispatch_repo="acme/tasks", issue_number=3, target_repo=target,
                instruction=instruction, title="x", author=author)


def hub(labeler="alice", **perms):
    h = FakeHub()
    h.labelers[("acme/tasks", 3, "copilot-agent")] = labeler
    for login, perm in perms.items():
        h.permissions[("acme/tasks", login)] = perm
    return h


@pytest.mark.parametrize("have,need,ok", [("admin", "write", True), ("maintain", "write", True),
                                          ("write", "write", True), ("triage", "write", False),
                                          ("read", "write", False), ("none", "read", False),
                                          ("custom-role", "read", False), ("triage", "triage", True)])
def test_authz_permission_order(have, need, ok):
    assert holds(have, need) is ok


def test_authz_writer_who_labelled_own_issue_passes():
    authorize(task(), hub(alice="write"), SETTINGS)


def test_authz_read_only_labeler_is_refused():
    with pytest.raises(TaskRefused, match="@mallory.*`read`"):
        authorize(task(author="mallory"), hub(labeler="mallory", mallory="read"), SETTINGS)


def test_authz_external_author_refused_even_when_a_maintainer_labelled():
    h = hub(labeler="maint", maint="maintain", outsider="read")
    with pytest.raises(TaskRefused, match="issue was written by @outsider"):
        authorize(task(author="outsider"), h, SETTINGS)


def test_authz_external_author_allowed_when_configured():
    s = config.from_mapping({"GITHUB_TOKEN": "t", "AGENT_DISPATCH_REPO": "acme/tasks",
                             "AGENT_ALLOWED_TARGET_REPOS": "acme/widgets", "AGENT_ALLOW_EXTERNAL_AUTHORS": "true"})
    authorize(task(author="outsider"), hub(labeler="maint", maint="write", outsider="read"), s)


def test_authz_disallowed_target_refused_before_any_lookup():
    h = hub(alice="admin")
    with pytest.raises(TaskRefused, match="`evil/repo` is not allowed"):
        authorize(task(target="evil/repo"), h, SETTINGS)
    assert h.calls == []


def test_authz_empty_instruction_refused():
    with pytest.raises(TaskRefused, match="no instruction"):
        authorize(task(instruction="  \n"), hub(alice="write"), SETTINGS)


def test_authz_unknown_labeler_refused():
    with pytest.raises(TaskRefused, match="Could not tell who applied"):
        authorize(task(), hub(labeler=None), SETTINGS)
