"""examples/agent_loop.py sends message lists the real Chat Completions API accepts."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from llmguard.testing import FakeLLM, ToolAnswer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agent_loop.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("agent_loop_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _tool_turns_follow_their_calls(messages: list[dict[str, Any]]) -> bool:
    asked: set[str] = set()
    for message in messages:
        if message["role"] == "assistant":
            asked |= {call["id"] for call in message.get("tool_calls", [])}
        elif message["role"] == "tool" and message["tool_call_id"] not in asked:
            return False
    return True


def test_every_tool_message_answers_an_earlier_assistant_tool_call() -> None:
    """Each `tool` turn sent to the model follows the assistant turn carrying its call id."""
    example = _load()
    model = FakeLLM([ToolAnswer("search", {"query": "refund"}), "Refunds take 5 days."])
    assert example.support_agent(model, "How long do refunds take?") == "Refunds take 5 days."
    second = model.calls[1]["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "tool"]
    assert _tool_turns_follow_their_calls(second)
