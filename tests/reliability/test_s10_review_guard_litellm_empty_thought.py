"""Review of LiteLLM's thinking blocks joined from a stream (50647ea), as a hostile
model. A signed thinking block whose text is empty (every piece ``""``) is whole --
Anthropic sends such blocks, and a whole message keeps them -- but the stream's joiner
skipped empty pieces, so the block had no ``thinking`` field and was dropped: the tool
re-ask then went out without the thinking that led to the call, which Anthropic refuses
under extended thinking."""

from __future__ import annotations

import types
from typing import Any

import llmguard as lg
from tests._helpers.schemas import Ticket

BAD = '{"category": "bug", "urgency": 9}'
GOOD = '{"category": "bug", "urgency": 2}'
SIGNED_EMPTY = {"type": "thinking", "thinking": "", "signature": "sig-1"}


def _litellm(class_name: str, **attributes: Any) -> Any:
    """An object whose class is LiteLLM's by its module, without importing litellm."""
    cls = type(class_name, (types.SimpleNamespace,), {"__module__": "litellm.types.utils"})
    return cls(**attributes)


def _chunk(**delta: Any) -> Any:
    fields = {"content": None, "tool_calls": None, "role": None} | delta
    finish = fields.pop("finish_reason", None)
    choice = _litellm("StreamingChoices", index=0, delta=_litellm("Delta", **fields))
    choice.finish_reason = finish
    return _litellm(
        "ModelResponseStream", id="chatcmpl-1", model="claude-sonnet-4-5", choices=[choice]
    )


def _stream(blocks: list[dict[str, Any]]) -> list[Any]:
    call = {"index": 0, "id": "call_1", "type": "function"}
    return [
        *(_chunk(role="assistant", thinking_blocks=[block]) for block in blocks),
        _chunk(tool_calls=[call | {"function": {"name": "Ticket", "arguments": BAD}}]),
        _chunk(finish_reason="tool_calls"),
    ]


def _whole(content: str) -> Any:
    message = _litellm(
        "Message", role="assistant", content=content, tool_calls=None, function_call=None
    )
    choice = _litellm("Choices", index=0, message=message, finish_reason="stop")
    usage = types.SimpleNamespace(prompt_tokens=20, completion_tokens=10, total_tokens=30)
    return _litellm(
        "ModelResponse",
        id="c-2",
        object="chat.completion",
        model="m",
        choices=[choice],
        usage=usage,
    )


def _reasked_turn(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    seen: list[list[dict[str, Any]]] = []
    answers = [iter(_stream(blocks)), _whole(GOOD)]

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        seen.append([dict(m) for m in messages])
        return answers[len(seen) - 1]

    assert triage([{"role": "user", "content": "It crashes"}]) == Ticket(category="bug", urgency=2)
    turn: dict[str, Any] = seen[1][1]
    return turn


def test_a_signed_thinking_block_with_no_text_goes_back() -> None:
    pieces = [{"type": "thinking", "thinking": "", "signature": None}, SIGNED_EMPTY]
    assert _reasked_turn(pieces)["thinking_blocks"] == [SIGNED_EMPTY]


def test_one_piece_holding_both_goes_back_too() -> None:
    assert _reasked_turn([SIGNED_EMPTY])["thinking_blocks"] == [SIGNED_EMPTY]


def test_a_block_cut_before_its_signature_is_still_left_out() -> None:
    unsigned = {"type": "thinking", "thinking": "half", "signature": None}
    empty_signature = {"type": "thinking", "thinking": "", "signature": ""}
    assert "thinking_blocks" not in _reasked_turn([unsigned])
    assert "thinking_blocks" not in _reasked_turn([unsigned, empty_signature])
