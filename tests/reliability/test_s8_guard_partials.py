"""Partials of an Anthropic stream that writes prose (or JSON-looking text) and then calls
the tool: the final check reads the tool's input, so the partials must follow it too --
not stay cut at an offset found in the prose, and not leave a value the answer is not."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

import llmguard as lg
from tests._helpers.sdk_mocks import anthropic_client, anthropic_events


class Order(BaseModel):
    item: str
    quantity: int


USER = [{"role": "user", "content": "Two bolts, please"}]
TOOL_INPUT = ['{"item": "bo', 'lt", "quan', 'tity": 2}']


def _partials(prose: list[str]) -> list[lg.Partial[Order]]:
    events = anthropic_events(prose, tool=("toolu_1", "Order", TOOL_INPUT), stop_reason="tool_use")
    client, _ = anthropic_client([events])

    def order(messages: Any) -> Any:
        return client.messages.create(
            model="claude-haiku-4-5", max_tokens=200, messages=messages, stream=True
        )

    return list(lg.guard(schema=Order).stream(order, USER))


def test_a_bracket_in_the_prose_does_not_hide_the_tool_partials() -> None:
    shown = _partials(["I will file it [order ", "form] now."])
    final = shown[-1]
    assert final.final
    assert final.value == Order(item="bolt", quantity=2)
    growing = [p.value for p in shown[:-1]]
    assert [(v.item, v.quantity) for v in growing] == [("bo", None), ("bolt", None), ("bolt", 2)]


def test_json_in_the_prose_is_dropped_once_the_tool_call_begins() -> None:
    shown = _partials(['Draft: {"item": "nut", ', '"quantity": 9}'])
    final = shown[-1]
    assert final.value == Order(item="bolt", quantity=2)
    from_prose = [p for p in shown if p.value.item == "nut"]
    from_tool = [p for p in shown[:-1] if p.value.item != "nut"]
    assert from_prose  # shown while only the prose had arrived
    assert from_tool[0].reset  # drop what the prose showed: the answer is the tool's
    assert [p.reset for p in from_tool[1:]] == [False] * (len(from_tool) - 1)
    assert not final.reset
