"""The guard's options are written once: the typed dict, the defaults and the docs agree."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import llmguard as lg
from llmguard._guard.policy import OPTION_DEFAULTS, GuardOptions

DOCS = Path(__file__).resolve().parents[2] / "docs" / "guard.md"


def _docs_table() -> dict[str, str]:
    section = DOCS.read_text().split("## Options", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| (.+?) \|", section, flags=re.MULTILINE)
    return dict(rows)


def test_every_option_has_a_default() -> None:
    """OPTION_DEFAULTS names exactly the options GuardOptions types, in the same order."""
    assert list(OPTION_DEFAULTS) == list(GuardOptions.__annotations__)


def test_the_docs_table_lists_every_option_with_its_default() -> None:
    """docs/guard.md's table: schema, context, then each option with its real default."""
    table = _docs_table()
    assert list(table) == ["schema", "context", *OPTION_DEFAULTS]
    assert table["schema"] == table["context"] == "`None`"
    for name, default in OPTION_DEFAULTS.items():
        shown = repr(default).replace("'", '"')
        assert table[name] == f"`{shown}`", name


def test_guard_and_guard_init_take_the_same_options() -> None:
    """lg.guard(**options) and Guard(**options) accept every documented option."""
    options: dict[str, Any] = dict(OPTION_DEFAULTS)
    assert lg.guard(**options).retries == lg.Guard(**options).retries == 1


@pytest.mark.parametrize("build", [lg.guard, lg.Guard])
def test_an_unknown_option_is_a_configuration_error(build: Any) -> None:
    """A misspelt option fails when the guard is built, naming it and the known ones."""
    with pytest.raises(lg.ConfigurationError, match=r"unknown option\(s\) retires;.*retries"):
        build(retires=2)
