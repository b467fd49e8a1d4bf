"""Images linked in a dispatch issue reach a vision model; a model without vision gets a note instead."""

from __future__ import annotations

import base64
import json

from runner.sandbox.model_server import reply
from tests.e2e.conftest import TOKEN
from tests.e2e.test_model_flow import GOOD, model, status_of

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIA"
                       "X8jx0gAAAABJRU5ErkJggg==")  # a 1x1 PNG


def issue_with_screenshot(world) -> str:
    url = world.gh.add_attachment("7d1e0c2a-5f3b-4c1d-9e8f-0a1b2c3d4e5f", PNG)
    hidden = world.gh.add_attachment("hidden-one", PNG)
    world.file_issue(f"Rename greet to welcome, see the screenshot:\n\n![error]({url})\n\n"
                     f"<!-- ![secret]({hidden}) -->\n", title="Rename greet")
    return url


def test_images_attachment_reaches_a_vision_model(world):
    issue_with_screenshot(world)
    with model(world, [reply(GOOD)], name="openai/gpt-4o-mini") as server:
        result = world.cli("run", "--once")
    assert result.returncode == 0, result.stderr[-3000:]
    [request] = server.requests
    parts = request["messages"][1]["content"]
    assert parts[0]["type"] == "text" and "Rename greet to welcome" in parts[0]["text"]
    assert [p["image_url"]["url"] for p in parts[1:]] == ["data:image/png;base64," + base64.b64encode(PNG).decode()]
    fetched = [r for r in world.gh.requests if r.path.startswith("/user-attachments/")]
    assert [r.path for r in fetched] == ["/user-attachments/assets/7d1e0c2a-5f3b-4c1d-9e8f-0a1b2c3d4e5f"]
    assert fetched[0].headers["authorization"] == f"token {TOKEN}"
    assert "image ignored" not in status_of(world)


def test_images_model_without_vision_lists_them_as_ignored(world):
    url = issue_with_screenshot(world)
    with model(world, [reply(GOOD)], name="openai/house-model-7b") as server:
        result = world.cli("run", "--once")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "image_url" not in json.dumps(server.requests[0]["messages"])
    assert not [r for r in world.gh.requests if r.path.startswith("/user-attachments/")]
    body = status_of(world)
    assert f"image ignored: {url} (the model openai/house-model-7b does not take images)" in body
    assert "hidden-one" not in body
