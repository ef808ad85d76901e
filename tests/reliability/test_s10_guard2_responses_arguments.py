"""A Responses API re-ask echoes a function call's arguments as JSON, as a Chat
Completions re-ask does: arguments that are not JSON go back inside
``{"invalid_json": ...}`` (Responses API gateways in front of Claude parse them and
refuse the whole request: "Responses function_call arguments are invalid JSON"); valid
JSON goes back byte for byte; a custom tool's free-form input is never wrapped. Checked
on the request body the real OpenAI SDK sent."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard as lg
from llmguard._core.content import valid_text
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import openai_client, responses_events, responses_response

GOOD = '{"category": "bug", "urgency": 2}'
BROKEN = '{"query": "crash", "ids": [4556]</parameter>\n<parameter name="limit": 8}'


def _call(arguments: str, call_id: str = "call_1", kind: str = "function_call") -> dict[str, Any]:
    field = "input" if kind == "custom_tool_call" else "arguments"
    return {
        "type": kind,
        "id": f"fc_{call_id}",
        "call_id": call_id,
        "name": "Ticket",
        field: arguments,
        "status": "completed",
    }


def _reasked(*calls: dict[str, Any]) -> list[dict[str, Any]]:
    """The input items the re-ask sent after an answer made of ``calls``."""
    client, sent = openai_client(
        [responses_response(list(calls)), responses_events([GOOD])[-1]["response"]]
    )

    @lg.guard(schema=Ticket, retries=1)
    def triage(input: Any) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input)

    assert triage("It crashes") == Ticket(category="bug", urgency=2)
    items: list[dict[str, Any]] = sent[1].json["input"]
    return items


@pytest.mark.parametrize("arguments", [BROKEN, '{"category": "bug", "urg', "not json"])
def test_arguments_that_are_not_json_are_echoed_inside_an_object(arguments: str) -> None:
    """The call goes back as a function_call whose arguments parse, holding the text."""
    items = _reasked(_call(arguments))
    (echoed,) = [item for item in items if item.get("type") == "function_call"]
    assert json.loads(echoed["arguments"]) == {"invalid_json": arguments}
    (output,) = [item for item in items if item.get("type") == "function_call_output"]
    assert output["call_id"] == echoed["call_id"] == "call_1"


def test_json_arguments_go_back_byte_for_byte() -> None:
    """Valid JSON of the wrong shape, odd spacing kept; one call beside it cut short."""
    valid = '{"category":"bug",  "urgency":9}'
    items = _reasked(_call(valid), _call('{"category": "bu', "call_2"))
    echoed = [item["arguments"] for item in items if item.get("type") == "function_call"]
    assert echoed == [valid, json.dumps({"invalid_json": '{"category": "bu'})]


def test_a_custom_tools_free_form_input_is_never_wrapped() -> None:
    """A custom tool takes any text: its input goes back as it came."""
    items = _reasked(_call("category=bug urgency=9", kind="custom_tool_call"))
    (echoed,) = [item for item in items if item.get("type") == "custom_tool_call"]
    assert echoed["input"] == "category=bug urgency=9"


def _refused(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


@settings(max_examples=40, deadline=None)
@given(arguments=st.text(max_size=60))
def test_whatever_the_arguments_the_echo_is_json_holding_them(arguments: str) -> None:
    """Model output of any shape: the echoed arguments always parse as a JSON object,
    and are the text itself when it was one, ``{}`` when blank, else the text inside
    the wrapper (JSON of another type, or NaN, too: a ``tool_use`` input is an object)."""
    items = _reasked(_call(arguments))
    (echoed,) = [item for item in items if item.get("type") == "function_call"]
    sent = echoed["arguments"]
    text = valid_text(arguments)
    try:
        decoded = json.loads(text, parse_constant=_refused)
    except ValueError:
        decoded = None
    if isinstance(decoded, dict):
        assert sent == text
    elif text.strip():
        assert json.loads(sent) == {"invalid_json": text}
    else:
        assert sent == "{}"
