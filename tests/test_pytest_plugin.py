"""Tests for llmguard's pytest plugin, run as a real plugin in pytester sessions."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

pytest_plugins = ["pytester"]

# The plugin is named on the command line, with entry-point plugins off: the same
# session whether or not the installed llmguard already declares its pytest11 entry.
PLUGIN = ("-p", "llmguard.pytest_plugin", "-p", "no:cacheprovider", "-W", "error")


class KeptImports:
    """A plugin for inner sessions: the modules they imported stay imported after them.

    pytester runs an inner session in this process, then takes every module imported
    since out of ``sys.modules`` (after the session, and again after the test). Modules
    loaded before keep what they got from those: ``llmguard`` its lazily bound names
    (``lg.guard``), `llmguard.pricing` its database of genai-prices objects. The next
    import then makes a second copy, and the copies disagree: the old guard reads with
    the old schema module and lets the new ``NotJSON`` through, pricing meets a
    ``ModelPrice`` class it does not know. A real session never unloads a module, so
    the ones from outside the inner session's directory (installed packages, llmguard
    itself) are put back; its test modules are not.
    """

    def __init__(self) -> None:
        self.modules: dict[str, ModuleType] = {}

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """Note the modules loaded now, at the end of the inner session."""
        inner = config.invocation_params.dir
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            if file is None or not Path(file).is_relative_to(inner):
                self.modules.setdefault(name, module)

    def put_back(self) -> None:
        """Import again, as the same objects, the modules pytester took out."""
        for name, module in self.modules.items():
            sys.modules.setdefault(name, module)


KEPT = KeptImports()


@pytest.fixture(autouse=True)
def _no_autoload(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Inner sessions load only the plugins they are given, and leave one llmguard.

    Being autouse, this is set up before ``pytester`` and so torn down after it: the
    modules its teardown takes out are put back here.
    """
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    KEPT.modules.clear()
    yield
    KEPT.put_back()
    KEPT.modules.clear()


def run_inner(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run pytest in this process with the plugin loaded, keeping what it imported."""
    try:
        return pytester.runpytest(*PLUGIN, *args, plugins=[KEPT])
    finally:
        KEPT.put_back()


def run(pytester: pytest.Pytester, source: str) -> pytest.RunResult:
    """Run ``source`` as a test module with the plugin loaded."""
    pytester.makepyfile(test_inner=textwrap.dedent(source))
    return run_inner(pytester)


def test_llmguard_records_holds_the_test_records_and_settings_reset_after(
    pytester: pytest.Pytester,
) -> None:
    """Records are there as soon as a span ends; a later test starts from default settings."""
    result = run(
        pytester,
        """
        import llmguard as lg
        from llmguard._delivery.settings import settings


        def test_records(llmguard_records):
            lg.configure(service="inner")
            with lg.span("first"):
                pass
            assert [r.name for r in llmguard_records] == ["first"]
            assert llmguard_records[0].service == "inner"
            lg.guard(lambda prompt: "ok")(prompt="hi")
            assert [r.kind for r in llmguard_records] == ["span", "attempt", "llm"]


        def test_after():
            assert settings().service is None
        """,
    )
    result.assert_outcomes(passed=2)


def test_fake_llm_makes_scripted_models_for_guarded_calls(pytester: pytest.Pytester) -> None:
    """fake_llm(answers, model=...) drives a guarded call; a fully used script passes."""
    result = run(
        pytester,
        """
        import llmguard as lg


        def test_retry(fake_llm, llmguard_records):
            model = fake_llm(['{"n": "x"}', '{"n": 2}'], model="gpt-4o-mini")

            @lg.guard(schema=dict[str, int])
            def ask(messages):
                return model(model="gpt-4o-mini", messages=messages)

            assert ask([{"role": "user", "content": "hi"}]) == {"n": 2}
            assert len(model.calls) == 2
            assert [r.kind for r in llmguard_records] == ["attempt", "attempt", "llm"]
            again = fake_llm.from_records(llmguard_records)
            assert (again.answers, again.model) == (['{"n": "x"}', '{"n": 2}'], "gpt-4o-mini")
            again(messages=[])
            again(messages=[])
        """,
    )
    result.assert_outcomes(passed=1)


def test_answers_left_over_fail_a_passing_test_at_teardown(pytester: pytest.Pytester) -> None:
    """Unused answers error the test, naming the fake; allow_unused and failures are exempt."""
    result = run(
        pytester,
        """
        import pytest


        def test_leftover(fake_llm):
            model = fake_llm(["one", "two", "three"], model="m")
            model(prompt="x")


        def test_allowed(fake_llm):
            fake_llm(["one"], allow_unused=True)


        def test_failed_anyway(fake_llm):
            fake_llm(["one"])
            assert False, "the real problem"


        @pytest.mark.xfail(reason="expected")
        def test_expected_failure(fake_llm):
            fake_llm(["one"])
            assert False
        """,
    )
    result.assert_outcomes(passed=2, errors=1, failed=1, xfailed=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leftover*",
            "*fake_llm #1 (m) was called 1 time(s) and has 2 answers left: 'two' …",
        ]
    )
    text = result.stdout.str()
    assert "ERROR at teardown of test_failed_anyway" not in text
    assert "the real problem" in text


def test_a_session_without_the_fixtures_is_untouched(pytester: pytest.Pytester) -> None:
    """Tests that do not ask for the fixtures run as without the plugin; they are listed."""
    result = run(
        pytester,
        """
        def test_plain():
            assert 1 + 1 == 2
        """,
    )
    result.assert_outcomes(passed=1)
    listed = run_inner(pytester, "--fixtures")
    listed.stdout.fnmatch_lines(
        ["*llmguard_records*", "*The records finished while the test runs*", "*fake_llm*"]
    )


def test_importing_the_plugin_imports_nothing_beyond_llmguard() -> None:
    """Loading the plugin at pytest start costs no module that llmguard does not load."""
    code = (
        "import sys, pytest, llmguard; before = set(sys.modules); "
        "import llmguard.pytest_plugin; print(sorted(set(sys.modules) - before))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "['llmguard.pytest_plugin']"


def test_the_entry_point_names_the_plugin_module() -> None:
    """The installed package's pytest11 entry point loads llmguard.pytest_plugin."""
    found = [
        ep for ep in importlib.metadata.entry_points(group="pytest11") if ep.name == "llmguard"
    ]
    assert found, "the installed llmguard declares no pytest11 entry point"
    assert found[0].value == "llmguard.pytest_plugin"


def test_a_test_that_skips_or_xfails_itself_is_not_checked(pytester: pytest.Pytester) -> None:
    """pytest.skip() or pytest.xfail() inside the test leaves its answers unused, quietly."""
    result = run(
        pytester,
        """
        import pytest


        def test_skipped_inside(fake_llm):
            fake_llm(["one", "two"])
            pytest.skip("not today")


        def test_xfailed_inside(fake_llm):
            fake_llm(["one"])
            pytest.xfail("known")


        def test_leftover_still_checked(fake_llm):
            fake_llm(["one"])
        """,
    )
    result.assert_outcomes(passed=1, skipped=1, xfailed=1, errors=1)
    text = result.stdout.str()
    assert "ERROR at teardown of test_leftover_still_checked" in text
    assert "ERROR at teardown of test_skipped_inside" not in text
    assert "ERROR at teardown of test_xfailed_inside" not in text


def test_an_inner_session_leaves_one_llmguard_behind(pytester: pytest.Pytester) -> None:
    """After an in-process session that first loaded the guard, pricing and the fixtures,
    the outer process prices, re-asks and caps a guarded call as a fresh one does."""
    result = run(
        pytester,
        """
        import llmguard as lg


        def test_loads_the_lazy_parts(fake_llm, llmguard_records):
            model = fake_llm(['{"n": "x"}', '{"n": 2}'], model="gpt-4o-mini")
            ask = lg.guard(schema=dict[str, int])(
                lambda messages: model(model="gpt-4o-mini", messages=messages)
            )
            assert ask([{"role": "user", "content": "hi"}]) == {"n": 2}
            assert lg.pricing.price("gpt-4o-mini") is not None
        """,
    )
    result.assert_outcomes(passed=1)

    import llmguard as lg
    from llmguard.exceptions import TokenLimitExceeded
    from llmguard.testing import FakeLLM

    assert lg.pricing.price("gpt-4o") is not None  # not looked up by the inner session
    reviewer = FakeLLM(["Looks fine to me!", '{"approved": true}'], model="gpt-4o-mini")
    review = lg.guard(schema=dict[str, bool], model="gpt-4o-mini")(
        lambda messages, max_tokens=None: reviewer(
            model="gpt-4o-mini", messages=messages, max_tokens=max_tokens
        )
    )
    assert review([{"role": "user", "content": "Approve?"}]) == {"approved": True}
    assert len(reviewer.calls) == 2  # the answer that was not JSON was asked again
    capped = FakeLLM(["Looks fine to me!", '{"approved": true}'], model="gpt-4o-mini")
    review_capped = lg.guard(
        schema=dict[str, bool], model="gpt-4o-mini", max_output_tokens=500, max_total_tokens=550
    )(
        lambda messages, max_tokens=None: capped(
            model="gpt-4o-mini", messages=messages, max_tokens=max_tokens
        )
    )
    with pytest.raises(TokenLimitExceeded) as refused:
        review_capped([{"role": "user", "content": "Approve?"}])
    assert refused.value.limit == "max_total_tokens"
    assert len(capped.calls) == 1  # the re-ask would not fit, so it was not made
