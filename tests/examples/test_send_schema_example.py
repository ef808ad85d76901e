"""examples/send_schema.py runs offline and sends OpenAI's strict json_schema format."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "send_schema.py"


def test_the_example_prints_the_sent_format_and_the_validated_value(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The SDK's request carries the strict schema, and the answer comes back validated."""
    namespace = runpy.run_path(str(EXAMPLE), run_name="send_schema_example")
    ticket, response_format = namespace["main"]()
    assert ticket.category == "bug"
    assert ticket.customer_id is None
    assert response_format["type"] == "json_schema"
    schema = response_format["json_schema"]["schema"]
    assert response_format["json_schema"]["strict"] is True
    assert schema["required"] == ["category", "urgency", "summary", "customer_id"]
    assert schema["properties"]["summary"]["description"].endswith("(maxLength=80)")
    printed = capsys.readouterr().out
    assert '"strict": true' in printed
    assert "validated value: Ticket(category='bug'" in printed
