"""Tools under a hostile model and a careless author: colliding names, huge repeated arguments."""

from __future__ import annotations

import tracemalloc

import pytest

import llmguard as lg
from llmguard.exceptions import ConfigurationError, LoopDetected


@lg.tool(name="search")
def search_web(query: str) -> str:
    """Search the web."""
    return f"web: {query}"


@lg.tool(name="search")
def search_docs(query: str) -> str:
    """Search the docs."""
    return f"docs: {query}"


@lg.tool
def note(text: str) -> int:
    """Keep a note."""
    return len(text)


def test_two_tools_with_one_name_are_refused_not_one_silently_chosen() -> None:
    """A list offering two tools named alike would run whichever came last: refuse it."""
    with pytest.raises(ConfigurationError, match=r"two tools named 'search'"):
        lg.call_tool([search_web, search_docs], "search", {"query": "x"})


async def test_two_tools_with_one_name_are_refused_by_acall_tool() -> None:
    """The async dispatcher refuses the same list."""
    with pytest.raises(ConfigurationError, match=r"two tools named 'search'"):
        await lg.acall_tool([search_web, search_docs], "search", {"query": "x"})


def test_one_tool_listed_twice_is_still_that_tool() -> None:
    """The same tool twice in the list is no collision."""
    assert lg.call_tool([search_web, search_web, note], "search", {"query": "x"}) == "web: x"


def test_huge_distinct_arguments_do_not_stay_in_the_run() -> None:
    """Loop detection keeps a digest of each call's arguments, not the arguments' text."""
    megabyte = 1_000_000
    with lg.agent("notes", max_repeats=2):
        tracemalloc.start()
        try:
            for i in range(20):
                lg.call_tool([note], "note", {"text": f"{i:02d}" + "y" * megabyte})
            held, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert held < 4 * megabyte  # 20 MB of arguments went through


def test_a_loop_on_huge_arguments_says_so_in_a_short_message() -> None:
    """The refusal names the tool and shows the arguments shortened; .arguments keeps them."""
    text = "z" * 1_000_000
    with lg.agent("notes", max_repeats=1):
        lg.call_tool([note], "note", {"text": text})
        with pytest.raises(LoopDetected) as caught:
            lg.call_tool([note], "note", {"text": text})
    assert len(str(caught.value)) < 2_000
    assert "'note' called 2 times" in str(caught.value)
    assert caught.value.arguments == {"text": text}
