"""The commands answer as they did before their aggregates moved into SQL.

``tests/cli/data/answers.json`` holds what ``stats``, ``drift`` and ``report`` printed
on the demo store and on generated calls (SQLite and JSON Lines) before the push-down
(see `tests._helpers.cli_answers`); today's answers must be the same, byte for byte,
apart from the ``repaired`` count that ``stats --json`` added since.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests._helpers.cli_answers import answers

_SAVED = Path(__file__).parent / "data" / "answers.json"
# The one figure added since the answers were saved: repaired attempts per group.
_REPAIRED = re.compile(r',\n *"repaired": [0-9.e+-]+')


@pytest.fixture(scope="module")
def today(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Today's answers on freshly written stores."""
    return answers(tmp_path_factory.mktemp("stores"))


def test_every_saved_question_is_asked(today: dict[str, str]) -> None:
    """The questions asked today are the ones whose answers were saved."""
    saved = json.loads(_SAVED.read_text())
    assert sorted(today) == sorted(saved)


@pytest.mark.parametrize("question", sorted(json.loads(_SAVED.read_text())))
def test_answer_is_unchanged(today: dict[str, str], question: str) -> None:
    """Each command prints what it printed before the push-down."""
    saved = json.loads(_SAVED.read_text())[question]
    assert _REPAIRED.sub("", today[question]) == saved
