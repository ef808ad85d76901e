"""Tests for lg.Prompt: versions, rendering, and the prompt tags on guarded calls' records."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import pickle
import subprocess
import sys
from typing import Any

import pytest

import llmguard as lg
from llmguard._tracing.prompt import Prompt
from llmguard.exceptions import ConfigurationError
from llmguard.testing import FakeLLM, capture

TRIAGE = Prompt("triage", "Classify this support ticket: {ticket}")
CHAT = [
    {"role": "system", "content": "You are a {tone} support agent."},
    {"role": "user", "content": "Ticket: {ticket}"},
]


# -- versions ----------------------------------------------------------------------------


def test_two_renders_of_one_prompt_give_one_version() -> None:
    """The same template rendered twice keeps one version."""
    first = TRIAGE.render(ticket="The app crashes.")
    version = TRIAGE.version
    second = TRIAGE.render(ticket="I was charged twice.")
    assert first != second
    assert TRIAGE.version == version
    assert Prompt("triage", "Classify this support ticket: {ticket}").version == version


def test_a_one_character_change_gives_another_version() -> None:
    """Changing one character of the template changes the version."""
    changed = Prompt("triage", "Classify this support ticket: {ticket}!")
    assert changed.version != TRIAGE.version
    chat_changed = copy.deepcopy(CHAT)
    chat_changed[0]["content"] = "You are a {tone} support agent!"
    assert Prompt("c", chat_changed).version != Prompt("c", CHAT).version


def test_the_default_version_is_a_short_hash_of_the_template_content() -> None:
    """The default version is the first 12 hex digits of the template's SHA-256."""
    expected = hashlib.sha256(json.dumps(TRIAGE.template).encode()).hexdigest()[:12]
    assert TRIAGE.version == expected == "9ea7014c7e0a"
    # The name is not part of the content; the role is.
    assert Prompt("other", "Classify this support ticket: {ticket}").version == expected
    moved = [{"role": "user", "content": CHAT[0]["content"]}, CHAT[1]]
    assert Prompt("c", moved).version != Prompt("c", CHAT).version


def test_the_version_is_stable_across_processes() -> None:
    """Another interpreter computes the same version."""
    code = (
        "from llmguard._tracing.prompt import Prompt;"
        "print(Prompt('c', [{'content': 'Ticket: {ticket}', 'role': 'user'}]).version)"
    )
    versions = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PYTHONPATH": ":".join(sys.path)},
        ).stdout.strip()
        for seed in ("1", "2")
    }
    # Key order in a message does not matter either.
    assert versions == {Prompt("c", [{"role": "user", "content": "Ticket: {ticket}"}]).version}


def test_an_explicit_version_is_kept() -> None:
    """A version given by the caller is used as it is."""
    prompt = Prompt("triage", "Classify: {ticket}", version="v7")
    assert prompt.version == "v7"
    assert repr(prompt) == "Prompt('triage', version='v7')"


# -- rendering ---------------------------------------------------------------------------


def test_render_fills_a_string_template() -> None:
    """A string template renders to a string."""
    assert TRIAGE.render(ticket="It broke.") == "Classify this support ticket: It broke."
    assert TRIAGE.variables == frozenset({"ticket"})


def test_render_fills_a_chat_prompt_with_new_messages() -> None:
    """A chat prompt renders to new message dicts, the template untouched."""
    template = copy.deepcopy(CHAT)
    prompt = Prompt("chat", template)
    rendered = prompt.render(tone="friendly", ticket="It broke.")
    assert rendered == [
        {"role": "system", "content": "You are a friendly support agent."},
        {"role": "user", "content": "Ticket: It broke."},
    ]
    assert prompt.variables == frozenset({"tone", "ticket"})
    assert prompt.is_chat
    assert not TRIAGE.is_chat
    # Neither the caller's list nor the prompt's template changed, and later changes to
    # either do not reach the other.
    assert template == CHAT
    rendered[0]["content"] = "changed"
    template[1]["content"] = "changed too"
    assert prompt.template == CHAT
    returned = prompt.template
    assert isinstance(returned, list)
    returned[0]["role"] = "user"
    assert prompt.template == CHAT
    assert prompt.render(tone="calm", ticket="x")[0]["content"] == "You are a calm support agent."


def test_chat_messages_keep_their_other_keys() -> None:
    """Keys other than role and content are kept in rendered messages."""
    prompt = Prompt("named", [{"role": "user", "name": "alice", "content": "Hi {x}"}])
    assert prompt.render(x=1) == [{"role": "user", "name": "alice", "content": "Hi 1"}]


def test_a_missing_variable_is_named_with_the_prompt() -> None:
    """A missing variable is a ConfigurationError naming it and the prompt."""
    with pytest.raises(ConfigurationError, match=r"'triage'.*missing variable ticket"):
        TRIAGE.render(tiket="typo")
    chat = Prompt("chat", CHAT)
    with pytest.raises(ConfigurationError, match="missing variables ticket, tone"):
        chat.render()


def test_extra_variables_are_ignored() -> None:
    """Variables the template does not use are allowed."""
    assert TRIAGE.render(ticket="a", unused=1) == "Classify this support ticket: a"


def test_attribute_index_and_format_spec_fields() -> None:
    """Attribute, index and format-spec fields name their root variables."""
    prompt = Prompt("p", "{user.name} has {items[0]} at {price:.{digits}f}")
    assert prompt.variables == frozenset({"user", "items", "price", "digits"})

    class User:
        name = "Ada"

    assert prompt.render(user=User(), items=["a"], price=2, digits=1) == "Ada has a at 2.0"
    with pytest.raises(ConfigurationError, match=r"'p'.*could not be rendered"):
        prompt.render(user=object(), items=["a"], price=2, digits=1)


def test_literal_braces_are_not_variables() -> None:
    """Doubled braces are literal text, not variables."""
    prompt = Prompt("json", 'Answer as {{"category": ...}} for {ticket}')
    assert prompt.variables == frozenset({"ticket"})
    assert prompt.render(ticket="t") == 'Answer as {"category": ...} for t'


@pytest.mark.parametrize(
    ("name", "template", "version", "message"),
    [
        ("", "x", None, "prompt name"),
        (3, "x", None, "prompt name"),
        ("p", "x", "", "version"),
        ("p", "{}", None, "positional"),
        ("p", "{0}", None, "positional"),
        ("p", "{unclosed", None, "not a valid template"),
        ("p", 42, None, "string or a non-empty list"),
        ("p", [], None, "string or a non-empty list"),
        ("p", {"role": "user", "content": "x"}, None, "string or a non-empty list"),
        ("p", ["hi"], None, "must be a dict"),
        ("p", [{"content": "x"}], None, "role"),
        ("p", [{"role": "user", "content": ["x"]}], None, "content must be a template"),
        ("p", [{"role": "user", "content": "x", "extra": object()}], None, "JSON"),
    ],
)
def test_invalid_prompts_are_refused(name: Any, template: Any, version: Any, message: str) -> None:
    """Bad names, versions and templates are ConfigurationErrors."""
    with pytest.raises(ConfigurationError, match=message):
        Prompt(name, template, version)


def test_prompts_are_frozen_hashable_and_compare_by_content() -> None:
    """Prompts are immutable, hashable and equal by name, version and template."""
    with pytest.raises(AttributeError):
        TRIAGE.name = "other"
    with pytest.raises(AttributeError):
        del TRIAGE.version
    chat = Prompt("chat", CHAT)
    same = Prompt("chat", copy.deepcopy(CHAT))
    assert chat == same
    assert hash(chat) == hash(same)
    assert len({chat, same, TRIAGE}) == 2
    assert chat != Prompt("chat", CHAT, version="v2")
    assert chat != "chat"
    assert pickle.loads(pickle.dumps(chat)) == chat


# -- tagging records -----------------------------------------------------------------------


def _guarded(answers: int, **options: Any) -> Any:
    llm = FakeLLM(["ok"] * answers, shape="text")

    @lg.guard(**options)
    def ask(prompt: Any) -> Any:
        return llm(str(prompt))

    return ask


def _llm_records(records: list[lg.Record]) -> list[lg.Record]:
    return [record for record in records if record.kind == "llm"]


def test_a_render_before_a_guarded_call_tags_only_that_call() -> None:
    """A render before a guarded call tags that call, not the next one."""
    ask = _guarded(2)
    with capture() as records:
        ask(TRIAGE.render(ticket="It broke."))
        ask("no prompt here")
    first, second = _llm_records(records)
    assert (first.prompt_name, first.prompt_version) == ("triage", TRIAGE.version)
    assert (second.prompt_name, second.prompt_version) == (None, None)
    assert [r.prompt_name for r in records if r.kind == "attempt"] == [None, None]


def test_the_latest_render_before_the_call_wins() -> None:
    """Of two renders before a call, the later names it."""
    ask = _guarded(1)
    other = Prompt("other", "Say {x}")
    with capture() as records:
        TRIAGE.render(ticket="a")
        ask(other.render(x="b"))
    (record,) = _llm_records(records)
    assert (record.prompt_name, record.prompt_version) == ("other", other.version)


def test_a_render_inside_the_guarded_function_tags_that_call_only() -> None:
    """A render inside the guarded function tags that call and its attempt."""
    llm = FakeLLM(["ok", "ok"], shape="text")

    @lg.guard
    def classify(ticket: str) -> Any:
        return llm(TRIAGE.render(ticket=ticket))

    @lg.guard
    def plain(prompt: str) -> Any:
        return llm(prompt)

    with capture() as records:
        classify("It broke.")
        plain("untagged")
    first, second = _llm_records(records)
    assert (first.name, first.prompt_name, first.prompt_version) == (
        "test_a_render_inside_the_guarded_function_tags_that_call_only.<locals>.classify",
        "triage",
        TRIAGE.version,
    )
    assert second.prompt_name is None
    (attempt, _) = [r for r in records if r.kind == "attempt"]
    assert attempt.prompt_name == "triage"


def test_a_failed_call_is_tagged_too() -> None:
    """A call that raised still names its prompt."""
    llm = FakeLLM([RuntimeError("down")], shape="text")

    @lg.guard
    def ask(ticket: str) -> Any:
        return llm(TRIAGE.render(ticket=ticket))

    with capture() as records, pytest.raises(RuntimeError):
        ask("x")
    (record,) = _llm_records(records)
    assert record.status == "error"
    assert record.prompt_name == "triage"


def test_the_prompt_option_tags_every_call_and_takes_precedence() -> None:
    """guard(prompt=...) names every call, over a rendered prompt."""
    other = Prompt("other", "Say {x}")
    ask = _guarded(3, prompt=TRIAGE)
    with capture() as records:
        ask("one")
        ask("two")
        ask(other.render(x="three"))
        ask_after = _guarded(1)
        ask_after("four")  # the render above was claimed by the third call
    records_ = _llm_records(records)
    assert [(r.prompt_name, r.prompt_version) for r in records_] == [
        ("triage", TRIAGE.version),
        ("triage", TRIAGE.version),
        ("triage", TRIAGE.version),
        (None, None),
    ]


def test_the_prompt_option_must_be_a_prompt() -> None:
    """guard(prompt=...) takes only an lg.Prompt."""
    with pytest.raises(ConfigurationError, match=r"prompt must be an lg\.Prompt"):
        lg.guard(prompt="triage")  # type: ignore[call-overload]


def test_a_render_inside_a_span_tags_the_span_once() -> None:
    """A span with no guarded call is tagged by its first render."""
    other = Prompt("other", "Say {x}")
    with capture() as records:
        with lg.span("retrieve"):
            TRIAGE.render(ticket="a")
            other.render(x="b")  # the span already names a prompt: the first stays
        with lg.span("explicit", prompt_name="mine", prompt_version="1"):
            TRIAGE.render(ticket="a")
    tagged, explicit = records
    assert (tagged.prompt_name, tagged.prompt_version) == ("triage", TRIAGE.version)
    assert (explicit.prompt_name, explicit.prompt_version) == ("mine", "1")


def test_a_render_inside_a_trace_tags_only_the_guarded_call_it_feeds() -> None:
    """The call is counted once under its prompt: the trace around it is not tagged."""
    ask = _guarded(1)

    @lg.trace
    def handle(ticket: str) -> Any:
        return ask(TRIAGE.render(ticket=ticket))

    with capture() as records:
        handle("x")
    by_kind = {record.kind: record for record in records}
    assert by_kind["llm"].prompt_name == "triage"
    assert by_kind["span"].prompt_name is None


def test_a_hundred_requests_count_a_hundred_calls_by_prompt() -> None:
    """Spans around guarded calls that render inside and outside them: one tag per call."""
    llm = FakeLLM(["ok"] * 200, shape="text")

    @lg.guard
    def ask(prompt: str) -> Any:
        return llm(prompt)

    @lg.guard
    def classify(ticket: str) -> Any:
        return llm(TRIAGE.render(ticket=ticket))

    with capture() as records:
        for i in range(50):
            with lg.span("request"), lg.span("prepare"):
                ask(TRIAGE.render(ticket=str(i)))
            with lg.span("request"):
                classify(str(i))
    tagged = [r for r in records if r.prompt_name == "triage" and r.kind != "attempt"]
    assert len(tagged) == 100
    assert {r.kind for r in tagged} == {"llm"}


def test_a_render_with_no_guarded_call_tags_the_span_it_was_made_in() -> None:
    """A raw SDK call inside a span: the span is the call, so it carries the prompt."""
    llm = FakeLLM(["ok"], shape="text")
    with capture() as records:
        with lg.span("raw call"):
            llm(TRIAGE.render(ticket="x"))
        with lg.span("other"):
            pass
    tagged, other = records
    assert (tagged.name, tagged.prompt_name) == ("raw call", "triage")
    assert other.prompt_name is None


def test_a_span_is_tagged_with_its_first_render_no_call_claimed() -> None:
    """Of two renders in a span, one fed to a guarded call, the span takes the other."""
    ask = _guarded(1)
    other = Prompt("other", "Say {x}")
    with capture() as records, lg.span("request"):
        ask(TRIAGE.render(ticket="a"))
        other.render(x="b")  # sent by a raw call
    by_kind = {record.kind: record for record in records}
    assert by_kind["llm"].prompt_name == "triage"
    assert by_kind["span"].prompt_name == "other"


def test_a_span_that_ends_before_the_call_claims_its_render_is_tagged_too() -> None:
    """Whether a span is tagged is settled when it ends: a call after it does not undo it."""
    ask = _guarded(1)
    with capture() as records:
        with lg.span("prepare"):
            prompt = TRIAGE.render(ticket="a")
        ask(prompt)
    assert [(r.kind, r.prompt_name) for r in records if r.kind != "attempt"] == [
        ("span", "triage"),
        ("llm", "triage"),
    ]


def test_async_guarded_calls_are_tagged() -> None:
    """Async guarded calls are tagged by a render before them."""
    llm = FakeLLM(["ok", "ok"], shape="text")

    @lg.guard
    async def ask(prompt: str) -> Any:
        return await llm.acall(prompt)

    async def main() -> None:
        await ask(TRIAGE.render(ticket="a"))
        await ask("b")

    with capture() as records:
        asyncio.run(main())
    assert [r.prompt_name for r in _llm_records(records)] == ["triage", None]


def test_inline_attempts_are_tagged() -> None:
    """The inline form names its prompt too."""
    llm = FakeLLM(["ok"], shape="text")
    policy = lg.guard(prompt=TRIAGE)
    with capture() as records:
        for attempt in policy.attempts(prompt=TRIAGE.render(ticket="a")):
            with attempt:
                attempt.submit(llm(attempt.prompt))
    (record,) = _llm_records(records)
    assert record.prompt_version == TRIAGE.version
