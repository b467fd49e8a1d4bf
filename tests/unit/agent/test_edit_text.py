"""Edits keep what they do not touch: line endings, the final newline, a BOM, odd bytes."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from runner.agent.edit_apply import apply_block
from runner.agent.edit_overlay import Overlay
from runner.agent.edit_parse import EditBlock
from runner.agent.edit_text import TextFile

line_text = st.text(alphabet=st.characters(blacklist_characters="\r\n"), max_size=12)
endings = st.sampled_from(["\n", "\r\n"])


@st.composite
def files(draw):
    lines = draw(st.lists(line_text, min_size=1, max_size=12))
    ends = [draw(endings) for _ in lines]
    if draw(st.booleans()):
        ends[-1] = ""
    return "".join(line + end for line, end in zip(lines, ends))


@given(text=files())
@settings(max_examples=200, deadline=None)
def test_text_file_round_trips(text):
    assert TextFile.parse(text).render() == text


@given(text=files(), data=st.data())
@settings(max_examples=200, deadline=None)
def test_text_file_splice_touches_only_the_spliced_lines(text, data):
    content = TextFile.parse(text)
    assume(content.lines)
    start = data.draw(st.integers(0, len(content.lines) - 1))
    result = content.splice(start, start + 1, ["NEW"])
    assert result.lines[:start] == content.lines[:start]
    assert result.eols[:start] == content.eols[:start]
    assert result.lines[start + 1 :] == content.lines[start + 1 :]
    assert result.ends_with_newline == content.ends_with_newline


@pytest.mark.parametrize(
    "before, after",
    [
        (b"\xef\xbb\xbfname = 1\n", b"\xef\xbb\xbfname = 2\n"),
        (b"caf\xe9 = 1\nname = 1\n", b"caf\xe9 = 1\nname = 2\n"),  # Latin-1 bytes survive
        (b"a\r\nname = 1\nb\r\n", b"a\r\nname = 2\nb\r\n"),  # mixed endings stay mixed
    ],
    ids=["utf-8 BOM", "not UTF-8", "mixed endings"],
)
def test_apply_block_keeps_bytes_it_does_not_change(tmp_path, before, after):
    (tmp_path / "f.py").write_bytes(before)
    overlay = Overlay(tmp_path)
    apply_block(overlay, EditBlock("f.py", "name = 1\n", "name = 2\n", 1))
    assert overlay.flush() == ("f.py",)
    assert (tmp_path / "f.py").read_bytes() == after
