"""count_tokens: OpenAI's documented counts, estimates offline, injected tokenizers."""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import tiktoken
import tiktoken.registry
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import llmguard as lg
from llmguard._spend import encodings as _encodings
from llmguard._spend import tokens as _tokens
from tests.conftest import TIKTOKEN_DATA

pytestmark = pytest.mark.usefixtures("tiktoken_files")
O200K_FILE = "fb374d419588a4632f3f557e76b4b70aebbca790"
CL100K_FILE = "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"

# OpenAI cookbook, "How to count tokens with tiktoken", section 6: the API reported 129
# prompt tokens for gpt-3.5-turbo and gpt-4, 124 for gpt-4o and gpt-4o-mini.
COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate "
        "jargon into plain English.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "New synergies will help drive top-line growth.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities "
        "for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client "
        "deliverable.",
    },
]

# Section 7 of the same cookbook: 105 prompt tokens for gpt-3.5-turbo and gpt-4, 101 for
# gpt-4o and gpt-4o-mini.
COOKBOOK_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {
                        "type": "string",
                        "description": "The city and state, e.g. San Francisco, CA",
                    },
                    "unit": {
                        "type": "string",
                        "description": "The unit of temperature to return",
                        "enum": ["celsius", "fahrenheit"],
                    },
                },
                "required": ["location"],
            },
        },
    }
]
COOKBOOK_TOOL_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful assistant that can answer to questions about the weather.",
    },
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]

ENGLISH = [
    "The morning train was late again, so Maria walked the last two miles to the office. "
    "It was cold but bright, and the river beside the path was running high after a week of "
    "rain. She passed the bakery on the corner, where a small queue had already formed, and the "
    "old bookshop whose owner always waved from behind the counter. By the time she reached her "
    "desk, her coffee had gone cold and three meetings had appeared in her calendar.",
    "City officials said on Tuesday that the new bridge would open to traffic in early spring, "
    "about six months later than planned. The delay was caused by a shortage of steel and by "
    "flooding that closed the construction site for most of October. The mayor told reporters "
    "that the final cost would be close to the original budget, and that cyclists and "
    "pedestrians would be able to use a separate lane on the north side of the bridge.",
    "To repot a houseplant, choose a pot that is only slightly larger than the old one and has "
    "a drainage hole. Water the plant the day before, so the roots are moist but not soaking. "
    "Turn the pot on its side, support the stem with one hand, and gently slide the plant out. "
    "Loosen any roots that circle the bottom, add fresh soil to the new pot, and set the plant "
    "at the same depth as before. Water it well and keep it out of direct sunlight for a few "
    "days.",
    "Thanks for sending the draft over so quickly. I read it last night and I think the "
    "structure works well, especially the way the second section leads into the examples. I "
    "have left a few comments in the margins, mostly small things about wording. The only "
    "larger point is the conclusion: it repeats the introduction almost word for word, and I "
    "wonder whether it could say something about what we plan to do next year instead. Let me "
    "know what you think.",
    "Most people who start running give up within the first few weeks, usually because they "
    "try to do too much too soon. A better plan is to alternate walking and running for twenty "
    "or thirty minutes, three times a week, and to increase the running time slowly. Good shoes "
    "matter more than expensive clothes. Rest days are part of the training, not a break from "
    "it, and a little soreness is normal, but sharp pain is a signal to stop and let the body "
    "recover.",
    "The history of the town goes back to a small market that grew up where two old roads "
    "crossed. Farmers brought wool, cheese and vegetables, and by the fourteenth century there "
    "was a church, a mill and a school. The railway arrived much later, bringing new houses, a "
    "hotel and a factory that made bicycles. Today the factory is a museum, the market still "
    "meets on Saturdays, and visitors come in summer to walk along the canal and eat at the "
    "small restaurants near the square.",
]
# The band count_tokens documents for its heuristic on ordinary English text.
BAND = 0.10


@pytest.fixture
def encodings() -> dict[str, tiktoken.Encoding]:
    """The two encodings, loaded by tiktoken itself from tests/data."""
    return {name: tiktoken.get_encoding(name) for name in ("o200k_base", "cl100k_base")}


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Sockets blocked: every attempt to resolve or connect is refused and recorded."""
    attempts: list[str] = []

    def refuse(name: str) -> Callable[..., Any]:
        def blocked(*args: object, **kwargs: object) -> Any:
            attempts.append(name)
            raise OSError(f"network access blocked in this test ({name})")

        return blocked

    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect_ex"))
    return attempts


@pytest.fixture
def offline(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    encodings: dict[str, tiktoken.Encoding],
    network: list[str],
) -> list[str]:
    """No encoding file anywhere, nothing loaded in tiktoken, no network; the attempts."""
    empty = tmp_path / "empty-cache"
    empty.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(empty))
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    return network


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-3.5-turbo", 129),
        ("gpt-4-0613", 129),
        ("gpt-4", 129),
        ("gpt-4o", 124),
        ("gpt-4o-mini", 124),
    ],
)
def test_cookbook_messages_count_what_the_api_reported(model: str, expected: int) -> None:
    """The cookbook's example chat counts exactly what OpenAI's API reported for it."""
    count = lg.count_tokens(COOKBOOK_MESSAGES, model=model)
    assert count == expected
    assert count.estimated is False


@pytest.mark.parametrize(
    ("model", "expected"),
    [("gpt-3.5-turbo", 105), ("gpt-4", 105), ("gpt-4o", 101), ("gpt-4o-mini", 101)],
)
def test_cookbook_tools_count_what_the_api_reported(model: str, expected: int) -> None:
    """The cookbook's weather tool and chat count exactly what OpenAI's API reported."""
    count = lg.count_tokens(COOKBOOK_TOOL_MESSAGES, model=model, tools=COOKBOOK_TOOLS)
    assert count == expected
    assert count.estimated is False


@pytest.mark.parametrize(
    ("model", "encoding", "openai"),
    [
        (None, "o200k_base", True),
        ("gpt-4o-2024-08-06", "o200k_base", True),
        ("gpt-4.1-mini", "o200k_base", True),
        ("gpt-4.5-preview", "o200k_base", True),
        ("o1", "o200k_base", True),
        ("o3-mini", "o200k_base", True),
        ("o4-mini", "o200k_base", True),
        ("gpt-5", "o200k_base", True),
        ("chatgpt-4o-latest", "o200k_base", True),
        ("gpt-6-turbo", "o200k_base", True),
        ("openai/gpt-4o", "o200k_base", True),
        ("ft:gpt-4o-mini:acme::abc123", "o200k_base", True),
        ("gpt-4", "cl100k_base", True),
        ("gpt-4-turbo", "cl100k_base", True),
        ("gpt-3.5-turbo-0125", "cl100k_base", True),
        ("gpt-35-turbo", "cl100k_base", True),
        ("text-embedding-3-small", "cl100k_base", True),
        ("text-embedding-ada-002", "cl100k_base", True),
        ("claude-sonnet-4-5", "o200k_base", False),
        ("gemini-2.5-pro", "o200k_base", False),
        ("llama-3.1-8b-instruct", "o200k_base", False),
        ("mistral-large", "o200k_base", False),
        ("my-deployment", "o200k_base", False),
    ],
)
def test_the_model_chooses_the_encoding(model: str | None, encoding: str, openai: bool) -> None:
    """Each model family gets its encoding; only OpenAI models get exact counts."""
    assert _tokens._plan(model)[:2] == (encoding, openai)


# tokencost's own test chat, for which it expects 15 tokens from gpt-3.5-turbo and 17
# from gpt-3.5-turbo-0301.
HELLO = [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi there!"}]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-3.5-turbo", 15),
        ("gpt-3.5-turbo-0613", 15),
        ("gpt-3.5-turbo-0301", 17),
        ("azure/gpt-35-turbo-0301", 17),
        ("gpt-4", 15),
    ],
)
def test_gpt_35_turbo_0301_frames_messages_with_four_tokens(model: str, expected: int) -> None:
    """The cookbook's rule for the first gpt-3.5-turbo snapshot: 4 tokens a message
    (3 for later models), plus 3 priming the reply. 'Hello' is 1 token, 'Hi there!' 3,
    each role 1: 3 + (4+2) + (4+4) = 17 where later models count 15."""
    count = lg.count_tokens(HELLO, model=model)
    assert count == expected
    assert count.estimated is False


def test_gpt_35_turbo_0301_counts_a_name_one_token_less_than_its_text() -> None:
    """On 0301 a name replaces the role: it costs its text minus one token."""
    named = [{"role": "user", "name": "example_user", "content": "Hello"}]
    plain = [{"role": "user", "content": "Hello"}]
    names = lg.count_tokens("example_user", model="gpt-3.5-turbo-0301")
    old = lg.count_tokens(named, model="gpt-3.5-turbo-0301")
    assert old - lg.count_tokens(plain, model="gpt-3.5-turbo-0301") == names - 1
    new = lg.count_tokens(named, model="gpt-3.5-turbo")
    assert new - lg.count_tokens(plain, model="gpt-3.5-turbo") == names + 1


def test_text_counts_are_tiktoken_counts(encodings: dict[str, tiktoken.Encoding]) -> None:
    """A text counts exactly its tiktoken tokens, special-token text included."""
    assert lg.count_tokens("tiktoken is great!", model="gpt-4") == 6
    text = "Hello <|endoftext|> world, this is 2 + 2 = 4."
    for model, name in (("gpt-4o", "o200k_base"), ("gpt-4", "cl100k_base")):
        assert lg.count_tokens(text, model=model) == len(encodings[name].encode_ordinary(text))
    assert lg.count_tokens("") == 0


def test_a_name_costs_one_token_more_than_its_text() -> None:
    """Adding name=... to a message adds its tokens and one more."""
    plain = [{"role": "user", "content": "Hi"}]
    named = [{"role": "user", "content": "Hi", "name": "bob"}]
    assert lg.count_tokens(named) - lg.count_tokens(plain) == lg.count_tokens("bob") + 1
    assert lg.count_tokens(plain) == 3 + 1 + 1 + 3


def test_text_parts_count_like_string_content() -> None:
    """Content as a list of text parts counts its texts, exactly."""
    parts = [{"type": "text", "text": "Describe"}, {"type": "text", "text": " this picture."}]
    as_parts = lg.count_tokens([{"role": "user", "content": parts}])
    as_text = lg.count_tokens([{"role": "user", "content": "Describe this picture."}])
    assert as_parts == as_text
    assert not as_parts.estimated


def test_images_are_flat_estimates() -> None:
    """An image part counts 85 tokens at detail low, 765 otherwise, and is an estimate."""
    text = lg.count_tokens([{"role": "user", "content": [{"type": "text", "text": "What?"}]}])
    for detail, cost in (("low", 85), ("high", 765), ("auto", 765)):
        image = {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": detail}}
        content = [{"type": "text", "text": "What?"}, image]
        count = lg.count_tokens([{"role": "user", "content": content}])
        assert count == text + cost
        assert count.estimated
    responses_image = {"type": "input_image", "image_url": "data:...", "detail": "low"}
    assert lg.count_tokens([{"role": "user", "content": [responses_image]}]) == 3 + 1 + 85 + 3


def test_tool_calls_are_counted_and_estimated() -> None:
    """An assistant turn with tool calls counts their names and arguments, as an estimate."""
    function = {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    call = {"id": "call_1", "type": "function", "function": function}
    messages: list[dict[str, Any]] = [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
        {"role": "assistant", "function_call": {"name": "f", "arguments": {"x": 1}}},
    ]
    count = lg.count_tokens(messages, model="gpt-4o")
    assert count.estimated
    assert count > lg.count_tokens('{"city": "Paris"}') + lg.count_tokens("18C and sunny")


def test_sdk_message_objects_are_read_through_model_dump() -> None:
    """A message object with model_dump() (an SDK reply sent back) counts like its dict."""

    class Message:
        def model_dump(self, exclude_none: bool = False) -> dict[str, Any]:
            return {"role": "assistant", "content": "Sure."}

    as_object = lg.count_tokens([Message()])  # type: ignore[list-item]
    assert as_object == lg.count_tokens([{"role": "assistant", "content": "Sure."}])
    assert not as_object.estimated
    odd = lg.count_tokens([42])  # type: ignore[list-item]
    assert odd.estimated
    assert odd >= 1


def test_unusual_message_shapes_still_count() -> None:
    """Read-only mappings, bare strings and odd parts, or odd tool calls, never fail."""
    frozen = lg.count_tokens([MappingProxyType({"role": "user", "content": "Hi"})])
    assert frozen == lg.count_tokens([{"role": "user", "content": "Hi"}])
    assert not frozen.estimated
    parts = ["Hi", 42, {"type": "input_audio", "text": "transcript"}, {"type": "file"}]
    odd = lg.count_tokens([{"role": "user", "content": parts}])
    assert odd.estimated
    assert odd == 3 + 1 + 1 + lg.count_tokens("42") + lg.count_tokens("transcript") + 3
    calls = lg.count_tokens([{"role": "assistant", "tool_calls": ["oops"], "audio": {"id": "a"}}])
    assert calls.estimated


def test_anthropic_shaped_messages_are_estimated() -> None:
    """Content blocks with tool_use / tool_result / images, and system=, give an estimate."""
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "I should call the tool."},
                {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"c": "Paris"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "18C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "t2",
                    "content": [{"type": "text", "text": "ok"}],
                },
                {"type": "tool_result", "tool_use_id": "t3"},
                {"type": "redacted_thinking", "data": "xyz"},
                {"type": "document", "source": {"type": "text", "data": "A short note."}},
                {"type": "image", "source": {"type": "base64", "data": "iVBOR"}},
            ],
        },
    ]
    tools = [{"name": "get_weather", "description": "Weather.", "input_schema": {"type": "object"}}]
    count = lg.count_tokens(messages, model="claude-sonnet-4-5", system="Be brief.", tools=tools)
    assert count.estimated
    assert count > 1600 + lg.count_tokens("Weather in Paris?") + lg.count_tokens("A short note.")
    for system in ("Be brief.", [{"type": "text", "text": "Be brief."}]):
        with_system = lg.count_tokens("Hi", model="gpt-4o", system=system)
        assert with_system.estimated
        assert with_system == lg.count_tokens("Hi") + 3 + lg.count_tokens("Be brief.")


def test_other_models_are_estimated_with_o200k(encodings: dict[str, tiktoken.Encoding]) -> None:
    """Claude, Gemini and local models count with o200k_base, marked as estimates."""
    text = ENGLISH[0]
    for model in ("claude-sonnet-4-5", "gemini-2.5-flash", "llama3.1:8b"):
        count = lg.count_tokens(text, model=model)
        assert count == len(encodings["o200k_base"].encode_ordinary(text))
        assert count.estimated


def test_tools_outside_the_documented_shape_are_estimated() -> None:
    """Built-in tools, nested schemas and odd types still count, as estimates."""
    flat = {"type": "function", "name": "f", "parameters": {"properties": {}}}
    assert not lg.count_tokens("x", tools=[flat]).estimated
    assert lg.count_tokens("x", tools=[flat]) == 1 + 7 + lg.count_tokens("f:") + 12
    nested = {
        "type": "function",
        "function": {
            "name": "search",
            "parameters": {
                "properties": {
                    "filters": {"type": "object", "properties": {"year": {"type": "integer"}}},
                    "kind": {"type": ["string", "null"], "enum": ["a", 1]},
                    "weird": True,
                }
            },
        },
    }
    for tools in ([{"type": "web_search"}], [nested], ["not a tool"]):
        count = lg.count_tokens("x", tools=tools)  # type: ignore[arg-type]
        assert count.estimated
        assert count > 1 + 12
    assert lg.count_tokens("x", tools=[]) == 1


def test_offline_counts_are_estimates_within_the_band(
    offline: list[str], encodings: dict[str, tiktoken.Encoding]
) -> None:
    """Without encoding files, English counts are estimates within the documented band."""
    for model, name in (("gpt-4o", "o200k_base"), ("gpt-4", "cl100k_base")):
        for paragraph in ENGLISH:
            real = len(encodings[name].encode_ordinary(paragraph))
            count = lg.count_tokens(paragraph, model=model)
            assert count.estimated
            assert abs(count - real) <= BAND * real, (model, count, real)
        messages = [{"role": "user", "content": paragraph} for paragraph in ENGLISH]
        count = lg.count_tokens(messages, model=model)
        exact = sum(len(encodings[name].encode_ordinary(p)) + 4 for p in ENGLISH) + 3
        assert count.estimated
        assert abs(count - exact) <= BAND * exact
    assert offline == []


def test_offline_warns_once_and_says_how_to_fix_it(
    offline: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Many offline counts log exactly one warning, naming TIKTOKEN_CACHE_DIR."""
    caplog.set_level(logging.WARNING, logger="llmguard")
    for paragraph in ENGLISH * 3:
        lg.count_tokens(paragraph, model="gpt-4o")
        lg.count_tokens([{"role": "user", "content": paragraph}], model="o3-mini")
    warnings = [r for r in caplog.records if r.name == "llmguard"]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "o200k_base" in message
    assert "TIKTOKEN_CACHE_DIR" in message
    assert O200K_FILE in message
    assert offline == []


def test_offline_never_touches_the_network(offline: list[str]) -> None:
    """Offline counting makes no network attempt, where tiktoken itself would try one."""
    for model in ("gpt-4o", "gpt-4", "claude-sonnet-4-5", None):
        assert lg.count_tokens(COOKBOOK_MESSAGES, model=model, tools=COOKBOOK_TOOLS).estimated
    assert offline == []
    # The blocked sockets do catch a download: tiktoken, asked directly, tries one.
    with pytest.raises(Exception):  # noqa: B017, PT011
        tiktoken.get_encoding("o200k_base")
    assert offline != []


@pytest.mark.parametrize("problem", ["empty setting", "corrupt file"])
def test_a_cache_tiktoken_would_refetch_counts_as_offline(
    problem: str, offline: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TIKTOKEN_CACHE_DIR="" or a file failing tiktoken's hash check means estimates."""
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / O200K_FILE).write_bytes(b"not an encoding")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "" if problem == "empty setting" else str(corrupt))
    assert lg.count_tokens("Hello there", model="gpt-4o").estimated
    assert (corrupt / O200K_FILE).read_bytes() == b"not an encoding"
    assert offline == []


def test_other_tiktoken_cache_locations_are_found(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, network: list[str]
) -> None:
    """DATA_GYM_CACHE_DIR, then <tempdir>/data-gym-cache, as tiktoken looks them up."""
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR")
    monkeypatch.setenv("DATA_GYM_CACHE_DIR", str(TIKTOKEN_DATA))
    assert not lg.count_tokens("Hello", model="gpt-4").estimated
    _tokens._reset_cache()
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    monkeypatch.delenv("DATA_GYM_CACHE_DIR")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    (tmp_path / "data-gym-cache").mkdir()
    shutil.copy(TIKTOKEN_DATA / O200K_FILE, tmp_path / "data-gym-cache" / O200K_FILE)
    assert not lg.count_tokens("Hello", model="gpt-4o").estimated
    assert network == []


def test_an_encoding_already_loaded_by_tiktoken_is_reused(
    offline: list[str], encodings: dict[str, tiktoken.Encoding], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An encoding the application already loaded counts exactly, even with no cache file."""
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", dict(encodings))
    assert not lg.count_tokens("Hello", model="gpt-4o").estimated
    assert offline == []


def test_a_tiktoken_failure_gives_estimates(monkeypatch: pytest.MonkeyPatch) -> None:
    """If tiktoken fails to build the encoding, counts are estimates, not errors."""

    def broken(name: str) -> tiktoken.Encoding:
        raise ValueError("broken plugin")

    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    monkeypatch.setattr(tiktoken, "get_encoding", broken)
    assert lg.count_tokens("Hello", model="gpt-4o").estimated


@pytest.mark.parametrize("module", ["tiktoken", "tiktoken.registry", "tiktoken_ext.openai_public"])
def test_a_missing_piece_of_tiktoken_gives_estimates(
    module: str, monkeypatch: pytest.MonkeyPatch, network: list[str]
) -> None:
    """Without tiktoken or its OpenAI plugin, counts are estimates, offline."""
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    monkeypatch.setitem(sys.modules, module, None)
    package, _, name = module.rpartition(".")
    if package:  # `from package import name` finds the attribute before sys.modules
        monkeypatch.delattr(sys.modules[package], name, raising=False)
    assert lg.count_tokens("Hello", model="gpt-4o").estimated
    assert network == []


def test_a_tiktoken_that_reads_elsewhere_gives_estimates(
    monkeypatch: pytest.MonkeyPatch, network: list[str]
) -> None:
    """If tiktoken's plugin no longer names the known URL, nothing is loaded: estimates."""
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    monkeypatch.setattr(_encodings, "_URL", "https://example.invalid/{}.tiktoken")
    assert lg.count_tokens("Hello", model="gpt-4o").estimated
    assert network == []


def test_the_library_never_writes_the_environment(offline: list[str]) -> None:
    """Counting, online or offline, leaves os.environ as it was."""
    before = dict(os.environ)
    lg.count_tokens(COOKBOOK_MESSAGES, model="gpt-4o")
    _tokens._reset_cache()
    lg.count_tokens(COOKBOOK_MESSAGES, model="gpt-4")
    assert dict(os.environ) == before


def test_many_threads_load_the_encoding_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads counting at once all get exact counts, from a single load."""
    loads: list[str] = []
    real_load = _encodings._load

    def slow_load(encoding: str) -> tuple[lg.types.Tokenizer, bool]:
        loads.append(encoding)
        time.sleep(0.05)
        return real_load(encoding)

    monkeypatch.setattr(_encodings, "_load", slow_load)
    barrier = threading.Barrier(16)
    results: list[lg.types.TokenCount] = []

    def work() -> None:
        barrier.wait()
        results.append(lg.count_tokens(COOKBOOK_MESSAGES, model="gpt-4o"))

    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert loads == ["o200k_base"]
    assert results == [124] * 16
    assert not any(count.estimated for count in results)


def test_a_configured_tokenizer_counts_all_text() -> None:
    """configure(tokenizer=fn) counts text with fn, not estimated; None goes back."""

    def words(text: str) -> int:
        return len(text.split())

    lg.configure(tokenizer=words)
    count = lg.count_tokens("one two three", model="llama-3.1-8b")
    assert count == 3
    assert not count.estimated
    assert lg.count_tokens([{"role": "user", "content": "a b"}], model="mistral") == 3 + 1 + 2 + 3
    lg.configure(tokenizer=None)
    assert lg.count_tokens("one two three", model="llama-3.1-8b").estimated
    lg.configure(tokenizer=words)
    lg.reset()
    assert lg.count_tokens("tiktoken is great!", model="gpt-4") == 6


def test_the_tokenizer_setting_is_checked() -> None:
    """A tokenizer that is not callable is a ConfigurationError."""
    with pytest.raises(lg.ConfigurationError, match="tokenizer"):
        lg.configure(tokenizer=42)  # type: ignore[arg-type]


def test_anything_but_text_or_messages_is_a_type_error() -> None:
    """count_tokens refuses values that are neither a text nor messages."""
    for value in (None, 42, b"bytes", {"role": "user"}):
        with pytest.raises(TypeError, match="text or a list of messages"):
            lg.count_tokens(value)  # type: ignore[arg-type]


def test_a_token_count_is_an_int_that_knows_if_it_is_exact() -> None:
    """TokenCount compares, adds and pickles as an int, and keeps its estimated flag."""
    count = lg.types.TokenCount(124, estimated=True)
    assert count == 124
    assert count + 1 == 125
    assert type(count + 1) is int
    assert repr(count) == "TokenCount(124, estimated=True)"
    assert repr(lg.types.TokenCount(5)) == "TokenCount(5)"
    assert str(count) == f"{count}" == "124"
    copy = pickle.loads(pickle.dumps(count))
    assert copy == 124
    assert copy.estimated


def test_the_model_cache_stays_small() -> None:
    """Thousands of distinct model names do not grow the model cache without bound."""
    for i in range(1100):
        lg.count_tokens("x", model=f"custom-model-{i}")
    assert len(_tokens._plans) <= 1025


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(text=st.text())
def test_offline_estimates_never_fail(offline: list[str], text: str) -> None:
    """Any text, offline, gives a non-negative estimate (at least 1 if not empty)."""
    count = lg.count_tokens(text, model="gpt-4o")
    assert count.estimated
    assert count >= (1 if text else 0)


@settings(deadline=None)
@given(text=st.text())
def test_exact_counts_never_fail(text: str) -> None:
    """Any text, lone surrogates included, counts without raising."""
    assert lg.count_tokens(text, model="gpt-4") >= 0


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
# What generated messages, keyed by random text, do not reach: the fields read by name
# (content parts and blocks, tool calls, a reasoning item, a name) holding what they
# should not, and an int too long to write as JSON.
_ODD_MESSAGES: list[dict[str, Any]] = [
    {"role": "user", "content": ["x", None, 3, {"type": "text", "text": 5}, {"type": "text"}]},
    {"content": [{"type": "image_url", "image_url": "x"}, {"type": "input_image"}, {}]},
    {"content": [{"type": "tool_result", "content": 5}, {"type": "tool_use", "input": {1: []}}]},
    {"content": [{"type": "document", "source": {"type": "content", "content": [None]}}]},
    {"content": [{"type": "document", "source": {"type": "base64", "data": 5}}]},
    {"content": [{"type": "redacted_thinking", "data": None}, {"type": "thinking"}]},
    {"tool_calls": [None, 5, {"function": "f"}, {"function": {"name": 1, "arguments": [1]}}]},
    {"function_call": [], "name": 7, "tool_calls": {"a": 1}, "content": 10**5000},
    {"type": "reasoning", "summary": [None, {"text": 5}], "encrypted_content": 3},
    {"": {"": [None, True, -(2**70), {"k": [[[]]]}]}},
]


# 30 generated examples (was hypothesis' 100, which spent most of its time building
# them), after the fields read by name, which generated keys never are.
@settings(max_examples=30, deadline=None)
@given(messages=st.lists(st.dictionaries(st.text(max_size=8), JSON, max_size=4), max_size=4))
@example(messages=_ODD_MESSAGES)
@example(messages=[{"content": part} for part in _ODD_MESSAGES[0]["content"]])
def test_any_message_structure_counts(messages: list[dict[str, Any]]) -> None:
    """Arbitrary JSON-like messages never make count_tokens raise."""
    assert lg.count_tokens(messages, model="claude-sonnet-4-5", tools=[{"type": "x"}]) >= 0
