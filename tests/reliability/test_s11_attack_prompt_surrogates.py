"""Prompt templates holding text that is not valid UTF-8: lone surrogates.

A template read from a file with ``errors="surrogateescape"``, or cut from a longer
string in the middle of a pair, holds lone surrogates. Building the prompt must not fail
with a bare ``UnicodeEncodeError`` from hashing its version.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard as lg


def test_a_template_with_a_lone_surrogate_has_a_version_and_renders() -> None:
    """Text and chat templates with lone surrogates build, version and render."""
    text = lg.Prompt("raw", "bytes \udcff from a file: {x}")
    chat = lg.Prompt("chat", [{"role": "user", "content": "half a pair \ud83d: {x}"}])
    assert len(text.version) == len(chat.version) == 12
    assert text.render(x=1) == "bytes \udcff from a file: 1"
    assert chat.render(x=2) == [{"role": "user", "content": "half a pair \ud83d: 2"}]


def test_templates_differing_only_in_a_surrogate_have_different_versions() -> None:
    """The version still tells every change apart."""
    assert lg.Prompt("p", "\udcff").version != lg.Prompt("p", "\udcfe").version


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.characters(exclude_characters="{}") | st.characters(categories=["Cs"]), max_size=40
    ).map("".join)
)
def test_any_text_without_fields_is_a_template_with_a_stable_version(text: str) -> None:
    """Any text without replacement fields, surrogates included, renders as itself."""
    prompt = lg.Prompt("any", text)
    assert prompt.render() == text
    assert prompt.version == lg.Prompt("any", text).version
