"""A dispatch issue becomes a :class:`~runner.ports.Task`; a task id becomes a branch name. Pure.

The body may mix the contract's four forms; for each value the most explicit one wins: the
``<!-- agent_task_metadata {json} -->`` comment, then labelled fields (``**Task ID:** x``,
``- **Task ID**: x``), then plain lines and sections (``task_id: x``, ``## Instructions``), then the
title and body. Broken metadata JSON is reported in ``Task.warnings`` and otherwise ignored.
One exception: an instruction the issue shows beats a different one hidden in the JSON (``_instruction``).

Sanitizing (``dispatch_text``): invisible characters are removed everywhere (title and fenced code
included) and HTML comments everywhere outside fenced code blocks, where GitHub shows them as text.
Fenced blocks (```` ```diff ````, SEARCH/REPLACE) are kept verbatim. Nothing here raises, and every step
is linear in the size of the body.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from runner.dispatch_formats import BodyFields, extract, parse_target, unquote
from runner.dispatch_text import clean_line, sanitize_markdown, scan
from runner.ports import Task
from runner.status_format import code

_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
_BRANCH_UNSAFE = re.compile(r"[^a-z0-9._-]+")
_BRANCH_MAX = 40
_ECHO_CHARS = 300  # of a hidden instruction, in the status comment


def parse_issue(issue: Mapping[str, Any], *, dispatch_repo: str, default_target: str) -> Task:
    """The task a dispatch issue asks for. Never raises; problems end up in ``Task.warnings``."""
    issue = issue if isinstance(issue, Mapping) else {}
    scanned = scan(_text(issue.get("body")))
    warnings: list[str] = []
    meta = _metadata(scanned.metadata, warnings)
    body = extract(scanned)
    number = _number(issue.get("number"))
    title = clean_line(_text(issue.get("title")))
    task_id = _pick("task id", _meta_str(meta, "task_id", warnings), body, "task_id", warnings)
    task_id = task_id or f"{dispatch_repo.replace('/', '-')}-{number}"
    user_id = _pick("user id", _meta_str(meta, "user_id", warnings), body, "user_id", warnings)
    target_repo, related = _target(_meta_str(meta, "target_repo", warnings), body, default_target)
    resolved = {**meta, "task_id": task_id, **({"user_id": user_id} if user_id else {})}
    return Task(
        task_id=task_id,
        dispatch_repo=dispatch_repo,
        issue_number=number,
        target_repo=target_repo,
        instruction=_instruction(meta, body, title, warnings),
        title=title,
        author=_author(issue.get("user")),
        user_id=user_id,
        base_branch=_pick("base branch", _meta_str(meta, "base_branch", warnings), body, "base_branch", warnings),
        related_item=related,
        metadata=resolved,
        warnings=tuple(warnings),
        labels=_labels(issue.get("labels")),
    )


def branch_name(prefix: str, task_id: str) -> str:
    """``prefix`` + the task id made branch-safe, by the contract's rule (the backend relies on it).

    Lowercase; runs of anything but ``a-z 0-9 . _ -`` become one ``-``; past 40 characters: the first
    31, ``-``, and 8 hex digits of the SHA-256 of the original id. Then, for git (a no-op for ordinary
    ids such as UUIDs): no leading or trailing ``-``/``.``, no ``..``, no trailing ``.lock``, and the
    8 hex digits alone when nothing is left.
    """
    digest = hashlib.sha256(task_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    slug = _BRANCH_UNSAFE.sub("-", task_id.lower())
    if len(slug) > _BRANCH_MAX:
        slug = f"{slug[:31]}-{digest}"
    while ".." in slug:
        slug = slug.replace("..", ".")
    slug = slug.strip("-.")
    while slug.endswith(".lock"):
        slug = slug[: -len(".lock")].rstrip("-.")
    return prefix + (slug or digest)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "" if value is None else str(value)


def _number(value: Any) -> int:
    try:
        return int(value) if not isinstance(value, bool) else 0
    except (TypeError, ValueError, OverflowError):
        return 0


def _author(user: Any) -> str:
    login = user.get("login") if isinstance(user, Mapping) else None
    return clean_line(login) if isinstance(login, str) and clean_line(login) else "ghost"


def _labels(labels: Any) -> tuple[str, ...]:
    if not isinstance(labels, (list, tuple)):
        return ()
    names = (lab.get("name") if isinstance(lab, Mapping) else lab for lab in labels)
    return tuple(name for name in names if isinstance(name, str))


def _json_type(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "a number"
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _metadata(raw: str | None, warnings: list[str]) -> dict[str, Any]:
    """The metadata comment's JSON object, or {} with a warning saying why it was ignored."""
    if raw is None:
        return {}
    text = raw.strip()
    if not text:
        warnings.append("metadata JSON ignored: the agent_task_metadata comment holds no JSON")
        return {}
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        where = "" if exc.msg.endswith(" at") else " at"
        reason = f"{exc.msg}{where} line {exc.lineno} column {exc.colno}"
    except RecursionError:
        reason = "it is nested too deeply"
    except ValueError as exc:
        reason = str(exc)[:200]
    else:
        if isinstance(value, dict):
            return value
        reason = f"expected a JSON object, got {_json_type(value)}"
    warnings.append(f"metadata JSON ignored: {reason}")
    return {}


def _meta_str(meta: dict[str, Any], key: str, warnings: list[str]) -> str | None:
    value = meta.get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return clean_line(value) or None
    warnings.append(f"metadata key {key} ignored: expected a string, got {_json_type(value)}")
    return None


def _pick(what: str, from_json: str | None, body: BodyFields, key: str, warnings: list[str]) -> str | None:
    """JSON, then a labelled field, then a plain line; a body value the JSON overrides is reported."""
    in_body = [clean_line(unquote(v)) for v in (body.labelled.get(key), body.plain.get(key)) if v]
    in_body = [v for v in in_body if v]
    if from_json and in_body and in_body[0] != from_json:
        warnings.append(
            f"{what} in the body ({in_body[0][:100]}) differs from the metadata JSON ({from_json[:100]}); "
            "using the JSON"
        )
    return from_json or (in_body[0] if in_body else None)


def _target(from_json: str | None, body: BodyFields, default: str) -> tuple[str, str | None]:
    """(target repo, related item): the first target given, the related item from any agreeing form."""
    given = [parse_target(v) for v in (from_json, body.labelled.get("target"), body.plain.get("target")) if v]
    given = [(clean_line(repo), item) for repo, item in given if clean_line(repo)]
    if not given:
        return default, None
    repo = given[0][0]
    related = next((item for r, item in given if item and r == repo), None)
    return repo, related


def _instruction(meta: dict[str, Any], body: BodyFields, title: str, warnings: list[str]) -> str:
    """The first non-empty explicit instruction; title and body only when none was given at all.

    The contract's precedence holds (the JSON first), but the JSON sits in an HTML comment GitHub never
    shows, so whoever applied the label never read its ``instruction``: whenever the JSON's is used and
    the issue does not show the same text, the status comment quotes what the runner acts on."""
    raw = meta.get("instruction")
    if raw is not None and not isinstance(raw, str):
        warnings.append(f"metadata key instruction ignored: expected a string, got {_json_type(raw)}")
        raw = None
    hidden = sanitize_markdown(raw) if raw is not None else None
    shown = [text for text in (body.labelled_instruction, body.section_instruction) if text is not None]
    visible = next((text for text in shown if text.strip()), None)
    if hidden is not None and hidden.strip():
        if visible is None:
            warnings.append("the instruction comes only from the hidden metadata JSON, which GitHub does not "
                            f"show; the runner acts on: {code(hidden, _ECHO_CHARS)}")
            return hidden
        if _comparable(hidden) == _comparable(visible):
            return hidden
        warnings.append("the metadata JSON's instruction differs from the instruction shown in the issue; "
                        f"the runner acts on the JSON's: {code(hidden, _ECHO_CHARS)}")
        return hidden
    if hidden is not None or shown:
        return visible or ""
    return "\n\n".join(part for part in (title, body.remainder) if part.strip())


def _comparable(text: str) -> str:
    """Instructions that differ only in spacing, case or code-span backticks count as the same."""
    return " ".join(text.replace("`", "").split()).casefold()
