import pytest

from runner import config
from runner.errors import ConfigError

GOOD = {"GITHUB_TOKEN": "t0ken", "AGENT_DISPATCH_REPO": "acme/agent-tasks"}


def test_config_defaults_follow_the_contract():
    s = config.from_mapping(GOOD)
    assert s.target_repo == "acme/agent-tasks"
    assert s.allowed_target_repos == ("acme/agent-tasks",)
    assert (s.label, s.processed_label, s.done_label, s.failed_label) == (
        "copilot-agent", "agent-processing", "agent-done", "agent-failed")
    assert (s.poll_interval, s.workers, s.max_cost_usd, s.max_turns) == (60.0, 2, 2.0, 6)
    assert s.min_permission == "write" and s.allow_external_authors is False
    assert s.runner_id == s.name == "agent-runner"
    assert s.branch_prefix == "agent-task-" and s.task_timeout == 3600.0
    assert s.github_api_url == "https://api.github.com"


def test_config_runner_id_defaults_to_name():
    s = config.from_mapping({**GOOD, "AGENT_NAME": "night-shift"})
    assert s.runner_id == "night-shift"


def test_config_reports_every_problem_at_once():
    bad = {"AGENT_DISPATCH_REPO": "not a repo", "AGENT_WORKERS": "zero", "AGENT_POLL_INTERVAL": "-1",
           "AGENT_MIN_PERMISSION": "owner", "AGENT_ALLOW_EXTERNAL_AUTHORS": "maybe", "LOG_FORMAT": "xml",
           "AGENT_ALLOWED_TARGET_REPOS": "acme/ok,bad//x", "GITHUB_API_URL": "api.github.com"}
    with pytest.raises(ConfigError) as caught:
        config.from_mapping(bad)
    text = str(caught.value)
    for name in ("GITHUB_TOKEN", "AGENT_DISPATCH_REPO", "AGENT_WORKERS", "AGENT_POLL_INTERVAL",
                 "AGENT_MIN_PERMISSION", "AGENT_ALLOW_EXTERNAL_AUTHORS", "LOG_FORMAT",
                 "AGENT_ALLOWED_TARGET_REPOS", "GITHUB_API_URL"):
        assert name in text
    assert len(caught.value.problems) == 9
    assert all("example:" in p for p in caught.value.problems)


def test_config_token_is_not_in_repr():
    s = config.from_mapping({**GOOD, "GITHUB_TOKEN": "ghs_verysecret"})
    assert "verysecret" not in repr(s)


@pytest.mark.parametrize("raw,expected", [("true", True), ("1", True), ("yes", True), ("false", False), ("0", False)])
def test_config_flags(raw, expected):
    assert config.from_mapping({**GOOD, "AGENT_ALLOW_EXTERNAL_AUTHORS": raw}).allow_external_authors is expected


def test_config_target_must_be_allowed_when_both_given():
    with pytest.raises(ConfigError, match="AGENT_TARGET_REPO"):
        config.from_mapping({**GOOD, "AGENT_TARGET_REPO": "acme/widgets", "AGENT_ALLOWED_TARGET_REPOS": "acme/gadgets"})


def test_config_labels_must_differ():
    with pytest.raises(ConfigError, match="must differ"):
        config.from_mapping({**GOOD, "AGENT_DONE_LABEL": "agent-failed"})


def test_config_env_file_is_read_and_real_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("GITHUB_TOKEN=from-file\nAGENT_DISPATCH_REPO=acme/from-file\nAGENT_WORKERS=5\n")
    s = config.load(env_file, environ={"AGENT_DISPATCH_REPO": "acme/from-env"})
    assert s.github_token == "from-file"
    assert s.dispatch_repo == "acme/from-env"
    assert s.workers == 5


def test_config_fallback_models_are_split():
    s = config.from_mapping({**GOOD, "AGENT_FALLBACK_MODELS": "openai/gpt-4.1-mini, ollama/qwen2.5-coder"})
    assert s.fallback_models == ("openai/gpt-4.1-mini", "ollama/qwen2.5-coder")
