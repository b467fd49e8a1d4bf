"""The copied payloads are what GitHub sends: each validates against @octokit/webhooks-schemas."""

from __future__ import annotations

import functools
import json
import lzma

import jsonschema
import pytest

from tests.unit.http.payloads import DATA, payload


@functools.cache
def definitions() -> dict:
    with lzma.open(DATA / "schema.json.xz") as f:
        return json.load(f)["definitions"]


def validator(definition: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator({"$ref": f"#/definitions/{definition}", "definitions": definitions()})


@pytest.mark.parametrize("name, definition", [
    ("issues.labeled", "issues$labeled"),
    ("issue_comment.created", "issue_comment$created"),
    ("ping", "ping$event"),
])
def test_payloads_match_the_published_schema(name, definition):
    errors = [e.message for e in validator(definition).iter_errors(payload(name))]
    assert errors == []


@pytest.mark.parametrize("name, definition, broken", [
    ("issues.labeled", "issues$labeled", lambda p: p.pop("issue")),
    ("issues.labeled", "issues$labeled", lambda p: p.update(action="unlabeled")),
    ("issue_comment.created", "issue_comment$created", lambda p: p["issue"].pop("number")),
])
def test_payloads_schema_check_catches_a_damaged_payload(name, definition, broken):
    data = payload(name)
    broken(data)
    assert list(validator(definition).iter_errors(data))
