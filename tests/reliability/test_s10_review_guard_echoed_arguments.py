"""Review of the re-ask's echo of tool-call arguments (4f1b557, 9ac31cc, 214a877), as a
hostile model. Gateways that put an OpenAI face on Claude or Bedrock parse the echoed
arguments into a ``tool_use`` input, which must be a JSON object; they refuse anything
else. Three holes:

- blank arguments (``""``, read as ``{}`` since 214a877) went back as
  ``{"invalid_json": ""}``: the model saw a call it never made, beside a correction
  about missing fields;
- arguments that are JSON but not an object (``null``, ``[1]``, ``"x"``) went back raw,
  and no ``tool_use`` input can hold them;
- ``NaN`` / ``Infinity``, which Python's ``json`` reads but JSON does not have, went back
  raw too, and a gateway's strict parser refuses the whole request.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import (
    calls_completion,
    openai_client,
    responses_response,
)

USER = [{"role": "user", "content": "It crashes"}]
GOOD = {"category": "bug", "urgency": 2}


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _strict_object(text: str) -> dict[str, Any]:
    """What a gateway's strict parser makes of echoed arguments: an object, or it fails."""
    value = json.loads(text, parse_constant=_no_constants)
    assert isinstance(value, dict), text
    return value


def _chat_echo(arguments: str) -> tuple[dict[str, Any], list[Any]]:
    """The call the Chat Completions re-ask echoed, and all the messages it sent (an
    empty call and no messages when the arguments passed, repaired maybe)."""
    client, sent = openai_client(
        [calls_completion(("Ticket", arguments)), calls_completion(("Ticket", GOOD))]
    )

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="m", messages=messages)

    assert triage(list(USER)) == Ticket(category="bug", urgency=2)
    if len(sent) == 1:
        return {}, []
    messages = sent[1].json["messages"]
    return messages[1]["tool_calls"][0]["function"], messages


def test_blank_arguments_are_echoed_as_the_empty_object_they_were_read_as() -> None:
    for blank in ("", "  \n"):
        function, messages = _chat_echo(blank)
        assert function["arguments"] == "{}"
        correction = messages[2]["content"]
        assert "$.category: Field required" in correction
        assert "$.urgency: Field required" in correction


@pytest.mark.parametrize("arguments", ["null", "[1]", '"bug"', "2", "true"])
def test_json_that_is_not_an_object_goes_back_inside_one(arguments: str) -> None:
    function, messages = _chat_echo(arguments)
    assert _strict_object(function["arguments"]) == {"invalid_json": arguments}
    assert "Input should be an object" in messages[2]["content"]


@pytest.mark.parametrize("arguments", ["NaN", '{"category": "bug", "urgency": Infinity}'])
def test_python_only_constants_go_back_inside_an_object(arguments: str) -> None:
    function, _ = _chat_echo(arguments)
    assert _strict_object(function["arguments"]) == {"invalid_json": arguments}


def test_a_responses_api_reask_echoes_an_object_too() -> None:
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "Ticket"}
    first = responses_response([{**call, "arguments": "[1]", "status": "completed"}])
    second = responses_response([{**call, "arguments": json.dumps(GOOD), "status": "completed"}])
    client, sent = openai_client([first, second])

    @lg.guard(schema=Ticket, retries=1)
    def triage(input: str) -> Any:
        return client.responses.create(model="m", input=input)

    assert triage("It crashes") == Ticket(category="bug", urgency=2)
    echoed = [item for item in sent[1].json["input"] if item.get("type") == "function_call"]
    assert _strict_object(echoed[0]["arguments"]) == {"invalid_json": "[1]"}


_PIECES = st.sampled_from(['{"category": "bug"', ', "urgency": 2', "}", "]", "NaN", " ", "null"])


@settings(max_examples=60, deadline=None)
@given(
    arguments=st.one_of(
        st.lists(_PIECES, max_size=6).map("".join),
        st.text(max_size=30, alphabet=st.characters(blacklist_categories=("Cs",))),
    )
)
def test_whatever_the_arguments_the_echo_is_a_json_object(arguments: str) -> None:
    """Valid object JSON goes back byte for byte; anything else inside an object."""
    function, messages = _chat_echo(arguments)
    if not messages:
        return
    echoed = _strict_object(function["arguments"])
    try:
        given_value = json.loads(arguments, parse_constant=_no_constants)
    except ValueError:
        given_value = None
    if isinstance(given_value, dict):
        assert function["arguments"] == arguments
    elif arguments.strip():
        assert echoed == {"invalid_json": arguments}
    else:
        assert echoed == {}
