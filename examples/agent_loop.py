"""A small tool-using agent, bounded by llmguard, on a scripted model (offline).

The first run answers after one tool call. The second model is stuck: it asks for the
same search again and again, and the run stops with `LoopDetected`, keeping what it had
done. Records go to a JSON Lines file (``agent.jsonl`` or the path given)::

    python examples/agent_loop.py [path/to/trace.jsonl]
"""

from __future__ import annotations

import json
import sys
from typing import Any

import llmguard as lg
from llmguard.sinks import JSONLSink, read_records
from llmguard.testing import FakeLLM, ToolAnswer


@lg.tool
def search(query: str, limit: int = 3) -> list[str]:
    """Search the help center; returns article titles."""
    return [f"{query}: article {i}" for i in range(1, limit + 1)]


@lg.guard(model="gpt-4o-mini")
def think(model: FakeLLM, messages: list[dict[str, Any]]) -> Any:
    return model(model="gpt-4o-mini", messages=messages, tools=[search.definition()])


@lg.agent(max_steps=6, max_tool_calls=4, max_repeats=2, max_tokens=5_000)
def support_agent(model: FakeLLM, question: str) -> str:
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    for _ in lg.steps():
        message = think(model, messages).choices[0].message
        calls = getattr(message, "tool_calls", None)
        if not calls:
            return str(message.content)
        # The assistant turn that asked for the tools goes first: the API rejects a
        # `tool` message whose tool_call_id no earlier assistant turn carries.
        messages.append(
            {
                "role": "assistant",
                "content": message.content,
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {
                            "name": call.function.name,
                            "arguments": call.function.arguments,
                        },
                    }
                    for call in calls
                ],
            }
        )
        for call in calls:
            result = lg.call_tool([search], call.function.name, call.function.arguments)
            messages.append(
                {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}
            )
    return "no answer"


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else "agent.jsonl"
    lg.configure(sinks=[JSONLSink(path)], service="agent-example")

    helpful = FakeLLM(
        [ToolAnswer("search", {"query": "refund"}), "Refunds take 5 days (see article 1)."]
    )
    print("answer:", support_agent(helpful, "How long do refunds take?"))

    stuck = FakeLLM([ToolAnswer("search", {"query": "refund"})] * 10)
    try:
        support_agent(stuck, "How long do refunds take?")
    except lg.LoopDetected as error:
        state = error.state
        assert state is not None
        print(f"stopped: {error}")
        print(f"  after {state.steps} steps, {state.tool_calls} tool calls, {state.tokens} tokens")

    lg.flush(timeout=5)
    kinds: dict[str, int] = {}
    for record in read_records(path):
        kinds[record.kind] = kinds.get(record.kind, 0) + 1
    print("records:", ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())))


if __name__ == "__main__":
    main()
