"""Tests for llmguard._guard.call: a call's arguments and the default corrective re-ask."""

from __future__ import annotations

import copy
import functools
from typing import Any

import pytest

from llmguard._core.field_errors import FieldError
from llmguard._core.outcomes import Attempt
from llmguard._guard.call import Call, Parameters, correction, default_reask
from llmguard.adapters import Reply, ToolCall

MESSAGES = [
    {"role": "system", "content": "Classify as JSON."},
    {"role": "user", "content": "The app crashes."},
]
URGENCY = FieldError("$.urgency", "Input should be less than or equal to 5", "9")


def ask(model: str, messages: list[Any], *, temperature: float = 0.0) -> Any:
    return model, messages, temperature


def complete(prompt: str, **options: Any) -> Any:
    return prompt, options


def invalid(
    text: str | None = '{"urgency": 9}',
    *,
    reply: Reply | None = None,
    errors: tuple[FieldError, ...] = (URGENCY,),
) -> Attempt:
    return Attempt(
        number=1, function="ask", outcome="invalid", text=text, errors=errors, reply=reply
    )


def call_of(fn: Any, *args: Any, **kwargs: Any) -> Call:
    return Call(fn, args, kwargs, Parameters.of(fn))


# -- Parameters ---------------------------------------------------------------------------


def test_parameters_know_positions_and_names() -> None:
    """Positions count positional parameters; names include keyword-only ones."""
    params = Parameters.of(ask)
    assert params.positions == {"model": 0, "messages": 1}
    assert params.names == frozenset({"model", "messages", "temperature"})
    assert not params.is_method
    assert params.takes("temperature")
    assert not params.takes("prompt")


def test_var_keyword_parameters_take_anything() -> None:
    """A function with **kwargs is marked as taking any name, as "**"."""
    params = Parameters.of(complete)
    assert params.takes("prompt")
    assert params.takes("**")
    assert "options" not in params.positions


def test_methods_are_recognized_by_self_or_cls() -> None:
    """A plain function whose first parameter is self or cls is a method; a staticmethod is not."""

    class Holder:
        def method(self, messages: Any) -> Any:
            return messages

        @classmethod
        def factory(cls, messages: Any) -> Any:
            return messages

    assert Parameters.of(Holder.__dict__["method"]).is_method
    assert Parameters.of(Holder.__dict__["factory"]).is_method
    assert not Parameters.of(staticmethod(ask)).is_method


def test_callables_without_a_signature_take_everything_by_keyword() -> None:
    """A callable inspect cannot read has no known parameters, and is not a method."""
    no_signature: Any = type("NoSignature", (), {"__signature__": "not a signature"})()
    params = Parameters.of(no_signature)
    assert params == Parameters({}, frozenset(), False)
    assert not params.takes("messages")


def test_partial_hides_what_it_has_bound() -> None:
    """functools.partial's bound arguments are not parameters of the call."""
    params = Parameters.of(functools.partial(ask, "gpt-4o-mini"))
    assert params.positions == {"messages": 0}


# -- Call ---------------------------------------------------------------------------------


def test_argument_reads_positional_and_keyword_arguments() -> None:
    """argument() finds a parameter by name wherever the caller put it."""
    positional = call_of(ask, "gpt-4o-mini", MESSAGES)
    keyword = call_of(ask, model="gpt-4o-mini", messages=MESSAGES, temperature=0.5)
    assert positional.argument("messages") is MESSAGES
    assert keyword.argument("messages") is MESSAGES
    assert keyword.argument("temperature") == 0.5
    assert positional.argument("temperature", "default") == "default"
    assert positional.argument("nothing") is None


def test_with_argument_replaces_in_place_and_never_mutates() -> None:
    """with_argument() keeps the argument where it was, in a new call."""
    args = ("gpt-4o-mini", MESSAGES)
    positional = call_of(ask, *args)
    changed = positional.with_argument("messages", [])
    assert changed.args == ("gpt-4o-mini", [])
    assert positional.args == args
    keyword = call_of(ask, "gpt-4o-mini", messages=MESSAGES)
    assert keyword.with_argument("messages", []).kwargs == {"messages": []}
    assert keyword.kwargs == {"messages": MESSAGES}
    added = positional.with_argument("temperature", 1.0)
    assert (added.args, added.kwargs) == (args, {"temperature": 1.0})


def test_bound_method_positions_skip_self() -> None:
    """For a bound method, args lack self, so positions shift by one."""

    class Bot:
        def ask(self, model: str, messages: list[Any]) -> Any:
            return messages

    params = Parameters.of(Bot.__dict__["ask"])
    call = Call(Bot().ask, ("gpt-4o-mini", MESSAGES), {}, params, bound=True)
    assert call.messages is MESSAGES
    assert call.with_argument("messages", []).args == ("gpt-4o-mini", [])


def test_messages_and_prompt_are_typed_views() -> None:
    """messages is a list or None; prompt is a str or None."""
    assert call_of(ask, "m", MESSAGES).messages is MESSAGES
    assert call_of(ask, "m", ("not", "a", "list")).messages is None
    assert call_of(complete, "hi").prompt == "hi"
    assert call_of(complete, prompt=3).prompt is None
    assert call_of(ask, "m", MESSAGES).prompt is None


def test_with_function_keeps_the_arguments() -> None:
    """A fallback is called with the same arguments."""
    call = call_of(ask, "m", MESSAGES, temperature=1.0)
    other = call.with_function(complete, Parameters.of(complete))
    assert (other.fn, other.args, other.kwargs) == (complete, call.args, call.kwargs)


# -- the correction -----------------------------------------------------------------------


def test_correction_lists_errors_compactly() -> None:
    """The correction names each path, message and value, and asks for corrected JSON."""
    text = correction(invalid(errors=(URGENCY, FieldError("$.category", "Field required", ""))))
    assert text == (
        "Your answer did not match the required schema:\n"
        "- $.urgency: Input should be less than or equal to 5 (got 9)\n"
        "- $.category: Field required\n"
        "Answer again with only the corrected JSON."
    )


def test_correction_of_a_tool_call_names_the_tool() -> None:
    """A failed tool call is asked to be called again with corrected arguments."""
    reply = Reply(tool_calls=(ToolCall("call_1", "file_ticket", '{"urgency": 9}'),))
    text = correction(invalid(reply=reply))
    assert "your call to file_ticket" in text
    assert text.endswith("Call it again with corrected arguments.")


# -- default_reask ------------------------------------------------------------------------


def test_openai_text_answer_becomes_an_assistant_and_a_user_turn() -> None:
    """Messages get the failed answer as assistant and the correction as user; no mutation."""
    messages = copy.deepcopy(MESSAGES)
    call = call_of(ask, "m", messages)
    reasked = default_reask(call, invalid(reply=Reply(text='{"urgency": 9}', provider="openai")))
    assert messages == MESSAGES
    assert reasked.args[1] == [
        *MESSAGES,
        {"role": "assistant", "content": '{"urgency": 9}'},
        {"role": "user", "content": correction(invalid())},
    ]
    assert reasked.args[0] == "m"


def test_reask_is_built_from_the_original_every_time() -> None:
    """Re-asking twice from the original gives the same length: the context never grows."""
    call = call_of(ask, "m", MESSAGES)
    first = default_reask(call, invalid("one"))
    second = default_reask(call, invalid("two"))
    assert len(first.args[1]) == len(second.args[1]) == len(MESSAGES) + 2
    assert second.args[1][-2] == {"role": "assistant", "content": "two"}


def test_openai_tool_call_is_answered_with_a_tool_message() -> None:
    """A failed OpenAI tool call: assistant tool_calls, then a tool message for its id."""
    tool = ToolCall("call_7", "file_ticket", '{"urgency": 9}')
    reply = Reply(tool_calls=(tool,), provider="openai")
    reasked = default_reask(call_of(ask, "m", MESSAGES), invalid(reply=reply))
    assistant, answer = reasked.args[1][-2:]
    assert assistant == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_7",
                "type": "function",
                "function": {"name": "file_ticket", "arguments": '{"urgency": 9}'},
            }
        ],
    }
    assert answer["role"] == "tool"
    assert answer["tool_call_id"] == "call_7"
    assert "$.urgency" in answer["content"]


def test_anthropic_tool_use_is_answered_with_an_error_tool_result() -> None:
    """A failed Anthropic tool_use: the block again, then a tool_result with is_error."""
    tool = ToolCall("toolu_3", "file_ticket", {"urgency": 9})
    reply = Reply(tool_calls=(tool,), provider="anthropic")
    reasked = default_reask(call_of(ask, "m", MESSAGES[1:]), invalid(reply=reply))
    assistant, result = reasked.args[1][-2:]
    assert assistant == {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": "toolu_3", "name": "file_ticket", "input": {"urgency": 9}}
        ],
    }
    (block,) = result["content"]
    assert result["role"] == "user"
    assert block["type"] == "tool_result"
    assert (block["tool_use_id"], block["is_error"]) == ("toolu_3", True)


def test_tool_call_without_an_id_gets_a_placeholder_id() -> None:
    """A tool call the provider gave no id still pairs the assistant turn and the result."""
    reply = Reply(tool_calls=(ToolCall(None, "f", "{}"),), provider="openai")
    assistant, answer = default_reask(call_of(ask, "m", []), invalid(reply=reply)).args[1]
    assert assistant["tool_calls"][0]["id"] == answer["tool_call_id"]


def test_prompt_gets_the_answer_and_the_correction_appended() -> None:
    """A prompt string is extended; other arguments are kept."""
    call = call_of(complete, "Classify: crash", temperature=0.1)
    reasked = default_reask(call, invalid("not json"))
    assert reasked.args[0] == (
        f"Classify: crash\n\nYour previous answer:\nnot json\n\n{correction(invalid())}"
    )
    assert reasked.kwargs == {"temperature": 0.1}


def test_reask_without_messages_or_prompt_is_a_type_error() -> None:
    """With nothing to append to, the default re-ask cannot work and says so."""

    def question(text: str) -> str:
        return text

    with pytest.raises(TypeError, match="neither a messages list nor a prompt or input string"):
        default_reask(call_of(question, "hi"), invalid())


def test_recorded_input_keeps_positional_and_keyword_arguments() -> None:
    """With both kinds of arguments, every one is kept under its parameter's name."""

    def ask(prompt: str, temperature: float = 0.0, *rest: Any, **extra: Any) -> None:
        del prompt, temperature, rest, extra

    params = Parameters.of(ask)
    assert Call(ask, ("hi",), {"temperature": 0.5}, params).recorded_input() == {
        "prompt": "hi",
        "temperature": 0.5,
    }
    assert Call(ask, ("hi", 0.2), {}, params).recorded_input() == ("hi", 0.2)
    assert Call(ask, (), {"prompt": "hi"}, params).recorded_input() == {"prompt": "hi"}
    # Arguments caught by *rest have no name: the positional list stays whole.
    assert Call(ask, ("hi", 0.2, 9), {"seed": 1}, params).recorded_input() == ("hi", 0.2, 9)


def test_recorded_input_of_a_bound_method_skips_self() -> None:
    """A method's positional arguments are named after the parameters following self."""

    class Bot:
        def ask(self, prompt: str, temperature: float = 0.0) -> None:
            del prompt, temperature

    call = Call(Bot().ask, ("hi",), {"temperature": 1.0}, Parameters.of(Bot.ask), bound=True)
    assert call.recorded_input() == {"prompt": "hi", "temperature": 1.0}
