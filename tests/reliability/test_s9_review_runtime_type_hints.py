"""``typing.get_type_hints`` on llmguard's public functions and on the functions users
decorate: a tool handed to another framework (which reads its hints to build a schema)
keeps its function's hints, whoever read ``lg.Tool.__annotations__`` before."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import llmguard as lg
from tests._helpers.reliability import run_child


class Answer(BaseModel):
    """A return type defined in this module, named as a string by the annotations."""

    text: str


_FUNCTIONS = sorted(
    (name, value)
    for name in lg.__all__
    if callable(value := getattr(lg, name)) and not isinstance(value, type)
)


@pytest.mark.parametrize(("name", "function"), _FUNCTIONS, ids=[n for n, _ in _FUNCTIONS])
def test_every_public_function_answers_get_type_hints(name: str, function: Any) -> None:
    """``lg.configure`` named its sinks and redactors by names its module did not have."""
    hints = typing.get_type_hints(function)
    assert all(not isinstance(h, (str, typing.ForwardRef)) for h in hints.values()), name


def test_configure_s_hints_are_the_real_types() -> None:
    """The sinks are the `Sink` protocol, a redactor a callable of records."""
    hints = typing.get_type_hints(lg.configure)
    assert typing.get_args(hints["sinks"])[0] == Sequence[lg.sinks.Sink]
    assert "llmguard.Record" in str(hints["redact"])


def _answer(question: str, tries: int = 1) -> Answer:
    return Answer(text=question * tries)


_EXPECTED = {"question": str, "tries": int, "return": Answer}


def test_a_tool_keeps_its_function_s_hints() -> None:
    """Sync, async and method tools give the function's hints (they gave ``{}``), also
    after ``lg.Tool.__annotations__`` was read, which stored an empty dict in the class."""
    lg.Tool.__annotations__  # noqa: B018 - the read that stored ``{}`` in the class

    @lg.tool
    def answer(question: str, tries: int = 1) -> Answer:
        return _answer(question, tries)

    @lg.tool
    async def aanswer(question: str, tries: int = 1) -> Answer:
        return _answer(question, tries)

    class Desk:
        @lg.tool
        def answer(self, question: str, tries: int = 1) -> Answer:
            return _answer(question, tries)

    assert typing.get_type_hints(answer) == _EXPECTED
    assert typing.get_type_hints(aanswer) == _EXPECTED
    assert typing.get_type_hints(Desk().answer) == _EXPECTED
    assert typing.get_type_hints(Desk.answer) == _EXPECTED
    assert inspect.get_annotations(answer, eval_str=True) == _EXPECTED
    assert answer("hi", tries=2) == Answer(text="hihi")
    assert typing.get_type_hints(lg.Tool) == {}


def test_the_other_decorators_keep_the_function_s_hints() -> None:
    """``@lg.trace``, ``@lg.guard``, ``@lg.agent`` and ``@lg.budget`` keep them too."""
    for decorate in (lg.trace, lg.guard, lg.agent(max_steps=2), lg.budget(max_tokens=9)):

        def answer(question: str, tries: int = 1) -> Answer:
            return _answer(question, tries)

        assert typing.get_type_hints(decorate(answer)) == _EXPECTED


def test_a_tool_keeps_its_hints_with_wrapt_in_pure_python(tmp_path: Path) -> None:
    """With wrapt's C extension turned off (``WRAPT_DISABLE_EXTENSIONS``), tools still
    import, call and give their function's hints."""
    child = run_child(
        """
        import os
        os.environ["WRAPT_DISABLE_EXTENSIONS"] = "1"
        import typing
        import llmguard as lg

        @lg.tool
        def answer(question: str, tries: int = 1) -> str:
            return question * tries

        assert answer("a", tries=2) == "aa"
        hints = typing.get_type_hints(answer)
        assert hints == {"question": str, "tries": int, "return": str}, hints
        assert typing.get_type_hints(lg.Tool) == {}
        """,
        tmp_path,
    )
    _, err = child.communicate(timeout=60)
    assert child.returncode == 0, err.decode()
