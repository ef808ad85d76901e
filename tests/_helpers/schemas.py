"""Schemas shared by the schema tests and the fuzz tests."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from llmguard._guard.schema import compile_schema


class Ticket(BaseModel):
    category: Literal["billing", "bug", "other"]
    urgency: int = Field(ge=1, le=5)


class Answer(BaseModel):
    """Cite a retrieved source or abstain: ``source_id`` must be retrieved, or None."""

    text: str
    source_id: str | None

    @field_validator("source_id")
    @classmethod
    def _cited_source_was_retrieved(cls, value: str | None, info: ValidationInfo) -> str | None:
        doc_ids = (info.context or {}).get("doc_ids", ())
        if value is not None and value not in doc_ids:
            raise ValueError(f"{value!r} was not retrieved; cite one of {sorted(doc_ids)} or null")
        return value


NESTED_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"urgency": {"type": "integer", "maximum": 5}},
                "required": ["urgency"],
            },
        }
    },
}

TICKET = compile_schema(Ticket)
OBJECT = compile_schema({"type": "object"})
