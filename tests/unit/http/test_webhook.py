"""POST /webhook's decisions over real payloads: signature, redelivery, routing."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import quote

import pytest

from runner.http.webhook import Router, WebhookReceiver, sign, signature_ok
from runner.state import Journal
from tests.unit.http.payloads import aimed, raw

SECRET = "It's a Secret to Everybody"
DISPATCH, TARGET = "acme/tasks", "acme/widgets"


def test_signature_matches_githubs_documented_example():
    # From GitHub's "Validating webhook deliveries" page.
    header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert signature_ok(SECRET, b"Hello, World!", header)


@pytest.mark.parametrize("header", [
    None,
    "",
    "sha256=",
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18",  # last digit off
    "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",  # no sha256= prefix
    "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59",  # the old X-Hub-Signature algorithm
    "sha256=ÿÿ",  # not ASCII: must be refused, not crash
])
def test_signature_refuses_missing_or_wrong_headers(header):
    assert not signature_ok(SECRET, b"Hello, World!", header)


def test_signature_is_over_the_raw_bytes_not_the_parsed_json():
    body = raw("issues.labeled")
    reformatted = json.dumps(json.loads(body)).encode()
    assert signature_ok(SECRET, body, sign(SECRET, body))
    assert not signature_ok(SECRET, reformatted, sign(SECRET, body))


class Setup:
    def __init__(self, tmp_path):
        self.looks = []
        self.journal = Journal(tmp_path / "state.db")
        self.receiver = WebhookReceiver(SECRET, self.journal, Router(DISPATCH, "copilot-agent", [TARGET]),
                                        self.looks.append)

    def deliver(self, event, body, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958", signature=None,
                content_type="application/json"):
        headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "Content-Type": content_type,
                   "X-Hub-Signature-256": sign(SECRET, body) if signature is None else signature}
        return self.receiver.receive(headers, body)


@pytest.fixture
def setup(tmp_path):
    return Setup(tmp_path)


def test_webhook_labeled_dispatch_issue_is_queued_for_a_look(setup):
    answer = setup.deliver("issues", aimed("issues.labeled", DISPATCH, 12, "copilot-agent"))
    assert answer.status == 202 and answer.body["issue"] == "acme/tasks#12"
    assert [(look.repo, look.number, look.event) for look in setup.looks] == [(DISPATCH, 12, "issues.labeled")]


def test_webhook_bad_signature_is_401_and_does_nothing(setup):
    body = aimed("issues.labeled", DISPATCH, 12, "copilot-agent")
    forged = "sha256=" + hmac.new(b"not the secret", body, hashlib.sha256).hexdigest()
    assert setup.deliver("issues", body, signature=forged).status == 401
    assert setup.deliver("issues", body, signature="").status == 401
    assert setup.looks == []
    # the refused attempts did not burn the delivery id: the genuine delivery still counts
    assert setup.deliver("issues", body).status == 202


def test_webhook_redelivery_is_ignored(setup):
    body = aimed("issues.labeled", DISPATCH, 12, "copilot-agent")
    assert setup.deliver("issues", body).status == 202
    again = setup.deliver("issues", body)
    assert again.status == 200 and again.body["result"] == "duplicate"
    assert len(setup.looks) == 1


def test_webhook_redelivery_is_remembered_across_restarts(tmp_path):
    body = aimed("issues.labeled", DISPATCH, 12, "copilot-agent")
    assert Setup(tmp_path).deliver("issues", body).status == 202
    later = Setup(tmp_path)  # a new process on the same journal
    assert later.deliver("issues", body).body["result"] == "duplicate" and later.looks == []


def test_webhook_comment_on_a_target_pr_is_queued(setup):
    answer = setup.deliver("issue_comment", aimed("issue_comment.created", TARGET, 3))
    assert answer.status == 202 and [look.number for look in setup.looks] == [3]


@pytest.mark.parametrize("event, body, note", [
    ("ping", raw("ping"), "event ping is not handled"),
    ("issues", aimed("issues.labeled", DISPATCH, 12, "bug"), "not the agent label"),
    ("issues", aimed("issues.labeled", "someone/else", 12, "copilot-agent"), "not the dispatch repository"),
    ("issue_comment", aimed("issue_comment.created", "someone/else", 3), "not a watched repository"),
    ("issues", raw("issues.labeled").replace(b'"action": "labeled"', b'"action": "unlabeled"'),
     "event issues.unlabeled is not handled"),
])
def test_webhook_other_events_are_acknowledged_and_ignored(setup, event, body, note):
    answer = setup.deliver(event, body)
    assert answer.status == 200 and answer.body["result"] == "ignored" and note in answer.body["note"]
    assert setup.looks == []


def test_webhook_form_encoded_delivery_is_read_too(setup):
    body = ("payload=" + quote(aimed("issues.labeled", DISPATCH, 5, "copilot-agent").decode())).encode()
    answer = setup.deliver("issues", body, content_type="application/x-www-form-urlencoded")
    assert answer.status == 202 and setup.looks[0].number == 5


@pytest.mark.parametrize("event, delivery, body", [
    ("issues", "", b"{}"),
    ("", "abc", b"{}"),
    ("issues", "abc", b"{not json"),
])
def test_webhook_malformed_delivery_is_400(setup, event, delivery, body):
    assert setup.deliver(event, body, delivery=delivery).status == 400
    assert setup.looks == []
