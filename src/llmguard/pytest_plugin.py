"""pytest fixtures for testing code that uses llmguard: ``llmguard_records``, ``fake_llm``.

pytest loads this plugin by itself once llmguard is installed (entry point
``pytest11``). It adds two fixtures, no option and nothing autouse, and one hook that
only notes how each test's own body ended (so that ``fake_llm`` leaves a test that
skipped itself alone): a session that does not ask for the fixtures runs as it would
without it.
llmguard's own modules are imported when a fixture is first used, not at startup.

- ``llmguard_records``: the records finished during the test, as sinks would get
  them, built synchronously (see `llmguard.testing.capture`); llmguard's settings
  are reset after the test.
- ``fake_llm``: makes scripted models, ``fake_llm(["answer", ...], model=...)`` or
  ``fake_llm.from_records(records)``, and fails a passing test whose fakes were left
  with answers nobody asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from llmguard._core.records import Record
    from llmguard.testing import Answer, FakeLLM, Shape

__all__ = ["FakeLLMFactory", "fake_llm", "llmguard_records"]

# How the test's own body ended ("passed", "failed" or "skipped"), for fake_llm's teardown.
_BODY_OUTCOME = pytest.StashKey[str]()


class FakeLLMFactory:
    """What the ``fake_llm`` fixture gives a test: a maker of `FakeLLM` scripts.

    Every fake it makes is checked when the test has passed: answers left over mean
    the code made fewer calls than the test expected, and fail the test (pass
    ``allow_unused=True`` for a script that may be cut short).
    """

    def __init__(self) -> None:
        self.made: list[tuple[FakeLLM, bool]] = []

    def __call__(
        self,
        answers: Iterable[Answer],
        *,
        shape: Shape = "openai",
        model: str = "fake-model",
        stream: bool = False,
        allow_unused: bool = False,
    ) -> FakeLLM:
        """A `FakeLLM` with this script; see its documentation for the arguments.

        Args:
            answers: The script.
            shape: ``"openai"``, ``"anthropic"`` or ``"text"``.
            model: The model name reported in responses.
            stream: Answer every call as a stream.
            allow_unused: Do not fail the test when answers are left over.
        """
        from llmguard.testing import FakeLLM

        fake = FakeLLM(answers, shape=shape, model=model, stream=stream)
        self.made.append((fake, allow_unused))
        return fake

    def from_records(
        self,
        records: Iterable[Record],
        *,
        shape: Shape | None = None,
        model: str | None = None,
        stream: bool = False,
        allow_unused: bool = False,
    ) -> FakeLLM:
        """A `FakeLLM` answering with recorded answers (`FakeLLM.from_records`).

        Args:
            records: Records holding the attempts to repeat.
            shape: The response shape; by default the recorded provider's.
            model: The model name; by default the recorded one.
            stream: Answer every call as a stream.
            allow_unused: Do not fail the test when answers are left over.
        """
        from llmguard.testing import FakeLLM

        fake = FakeLLM.from_records(records, shape=shape, model=model, stream=stream)
        self.made.append((fake, allow_unused))
        return fake

    def unused(self) -> list[str]:
        """A sentence for each fake that still has answers and should not."""
        problems = []
        for number, (fake, allow_unused) in enumerate(self.made, 1):
            if fake.answers and not allow_unused:
                left = len(fake.answers)
                problems.append(
                    f"fake_llm #{number} ({fake.model}) was called {len(fake.calls)} "
                    f"time(s) and has {left} answer{'s' if left != 1 else ''} left: "
                    f"{fake.answers[0]!r}{' …' if left > 1 else ''}"
                )
        return problems


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Note how the test's body ended: a fixture cannot see ``pytest.skip()`` otherwise."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.stash[_BODY_OUTCOME] = report.outcome


@pytest.fixture
def llmguard_records() -> Iterator[list[Record]]:
    """The records finished while the test runs, complete as soon as each span ends."""
    import llmguard
    from llmguard._delivery.pipeline import capturing

    try:
        with capturing() as records:
            yield records
    finally:
        llmguard.reset()


@pytest.fixture
def fake_llm(request: pytest.FixtureRequest) -> Iterator[FakeLLMFactory]:
    """Makes scripted models; fails a passing test that left scripted answers unused."""
    factory = FakeLLMFactory()
    failed_before = request.session.testsfailed
    yield factory
    # A test that failed already says what went wrong; leftovers would only add noise.
    if request.session.testsfailed != failed_before:
        return
    if request.node.get_closest_marker("xfail") is not None:
        return
    # pytest.skip() or pytest.xfail() inside the test: its answers were not meant to run.
    if request.node.stash.get(_BODY_OUTCOME, "passed") == "skipped":
        return
    problems = factory.unused()
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)
