"""Price data for the tests that fetch newer prices through a mock transport."""

from __future__ import annotations

from typing import Any

# A small but real genai-prices payload: the shape of the published data.json.
NEWER: list[dict[str, Any]] = [
    {
        "id": "openai",
        "name": "OpenAI",
        "api_pattern": "https://api\\.openai\\.com",
        "model_match": {"starts_with": "gpt-"},
        "models": [
            {
                "id": "gpt-4o",
                "match": {"equals": "gpt-4o"},
                "prices": {"input_mtok": 2.0, "output_mtok": 8.0, "cache_read_mtok": 0.5},
            },
            {
                "id": "gpt-9",
                "match": {"starts_with": "gpt-9"},
                "prices": [
                    {"prices": {"input_mtok": 1, "output_mtok": 2}},
                    {
                        "constraint": {"start_date": "2027-01-01"},
                        "prices": {"input_mtok": 3, "output_mtok": 6},
                    },
                ],
            },
        ],
    }
]
