"""The commands answer as they did before their aggregates moved into SQL.

``tests/cli/data/answers.json`` holds what ``stats``, ``drift`` and ``report`` printed
on the demo store and on generated calls (SQLite and JSON Lines) before the push-down
(see `tests._helpers.cli_answers`); today's answers must be the same, byte for byte,
apart from the ``repaired`` count that ``stats --json`` added since.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmguard.cli import _dataset
from tests._helpers.cli_answers import answers

_SAVED = Path(__file__).parent / "data" / "answers.json"
# The one figure added since the answers were saved: repaired attempts per group.
_REPAIRED = re.compile(r',\n *"repaired": [0-9.e+-]+')


@pytest.fixture(scope="module")
def today(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Today's answers on freshly written stores.

    The JSON Lines file is loaded into SQLite by the loader every command uses once
    with a progress callback and once without (the commands pass either), and each
    later command gets a copy of that database: loading 6,600 records took most of
    this module's time, 17 times over the same unchanged file. The loader inserts its
    rows 1,000 at a time here (5,000 in use), so the 1,300 records of the generated file
    go in two batches, with a progress report between them, as 6,600 records did.
    """
    loaded: dict[tuple[Path, bool], _dataset.Loaded] = {}
    load_jsonl = _dataset._load_jsonl

    def load_once(path: Path, progress: _dataset.Progress | None) -> _dataset.Loaded:
        key = path, progress is None
        if key not in loaded:
            loaded[key] = load_jsonl(path, progress)
        first = loaded[key]
        copy = sqlite3.connect(":memory:", check_same_thread=False)
        copy.isolation_level = None
        first.conn.backup(copy)
        return dataclasses.replace(first, conn=copy, skipped_lines=list(first.skipped_lines))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_dataset, "_load_jsonl", load_once)
        patch.setattr(_dataset, "_LOAD_BATCH", 1_000)
        yield answers(tmp_path_factory.mktemp("stores"))
    assert loaded
    for first in loaded.values():
        first.conn.close()


def test_every_saved_question_is_asked(today: dict[str, str]) -> None:
    """The questions asked today are the ones whose answers were saved."""
    saved = json.loads(_SAVED.read_text())
    assert sorted(today) == sorted(saved)


@pytest.mark.parametrize("question", sorted(json.loads(_SAVED.read_text())))
def test_answer_is_unchanged(today: dict[str, str], question: str) -> None:
    """Each command prints what it printed before the push-down."""
    saved = json.loads(_SAVED.read_text())[question]
    assert _REPAIRED.sub("", today[question]) == saved
