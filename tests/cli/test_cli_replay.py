"""Tests for ``llmguard replay``: a recorded call run again against a module's function."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

import llmguard as lg
from llmguard.cli import main
from llmguard.sinks import JSONLSink, SQLiteSink, SQLiteStore
from llmguard.testing import FakeLLM

MESSAGES = [{"role": "user", "content": "The app crashes when I open my invoices."}]


class Ticket(BaseModel):
    category: Literal["billing", "bug", "other"]
    urgency: int = Field(ge=1, le=5)


# The application module the command imports: the fixed triage, and broken neighbours.
APP = textwrap.dedent(
    """
    from typing import Any, Literal

    from pydantic import BaseModel, Field

    import llmguard as lg
    from llmguard.testing import FakeLLM


    class Ticket(BaseModel):
        category: Literal["billing", "bug", "other"]
        urgency: int = Field(ge=1, le=5)


    fixed_model = FakeLLM(['{"category": "bug", "urgency": 4}'], model="gpt-4o-mini")
    still_broken = FakeLLM(['{"category": "bug", "urgency": 9}'] * 2, model="gpt-4o-mini")


    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, str]]) -> Any:
        return fixed_model(model="gpt-4o-mini", messages=messages)


    @lg.guard(schema=Ticket, retries=1)
    def triage_unfixed(messages: list[dict[str, str]]) -> Any:
        return still_broken(model="gpt-4o-mini", messages=messages)


    @lg.guard(schema=Ticket, retries=1)
    async def triage_async(messages: list[dict[str, str]]) -> Any:
        return await fixed_model.acall(model="gpt-4o-mini", messages=messages)


    class Handlers:
        triage = staticmethod(triage)


    VERSION = 3
    """
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project directory holding the module ``replay_app`` and the working directory,
    with sys.path and sys.modules restored afterwards."""
    (tmp_path / "replay_app.py").write_text(APP)
    (tmp_path / "replay_broken.py").write_text("raise RuntimeError('no config\\nsecond line')\n")
    (tmp_path / "replay_needs.py").write_text("import replay_missing_dependency\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    yield tmp_path
    for name in ("replay_app", "replay_broken", "replay_needs"):
        sys.modules.pop(name, None)


def record_failure(path: Path) -> lg.Record:
    """A triage call that failed the schema twice, written to ``path``; its llm record."""
    sink = SQLiteSink(path) if path.suffix == ".db" else JSONLSink(path)
    lg.configure(sinks=[sink])
    fake = FakeLLM(['{"category": "bug", "urgency": 7}'] * 2, model="gpt-4o-mini")

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, str]]) -> Any:
        return fake(model="gpt-4o-mini", messages=messages)

    with pytest.raises(lg.SchemaViolation):
        triage(MESSAGES)
    assert lg.flush(timeout=5)
    lg.configure(sinks=[])
    if path.suffix == ".db":
        with SQLiteStore(path) as store:
            return next(store.records(kind="llm"))
    lines = [lg.Record.from_json(line) for line in path.read_text().splitlines()]
    return next(r for r in lines if r.kind == "llm")


@pytest.mark.parametrize("suffix", [".db", ".jsonl"])
def test_replay_runs_the_recorded_failure_against_the_fixed_function(
    suffix: str, project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: the failed call succeeds with today's triage; exit 0, both sides shown."""
    monkeypatch.setenv("COLUMNS", "120")  # the table's width, whatever runs the tests
    path = project / f"store{suffix}"
    record = record_failure(path)

    status = main(["replay", str(path), record.span_id, "--call", "replay_app:triage"])

    out, err = capsys.readouterr()
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith(f"replay of span {record.span_id} (")
    assert lines[0].endswith(" against triage")
    assert lines[3].split() == ["status", "*", "error", "ok"]
    assert lines[4].split()[:3] == ["error", "*", "llmguard.exceptions.SchemaViolation:"]
    value = next(line for line in lines if line.startswith("value"))
    assert value.endswith('{"category": "bug", "urgency": 4}')
    assert next(line for line in lines if line.startswith("attempts")).split() == [
        "attempts",
        "2",
        "1",
    ]
    assert lines[-1] == "changed: status, error, value"
    app = sys.modules["replay_app"]
    assert app.fixed_model.calls == [{"model": "gpt-4o-mini", "messages": MESSAGES}]


def test_a_new_run_that_still_fails_exits_1(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit status 1 says the replayed call failed again."""
    path = project / "store.db"
    record = record_failure(path)
    status = main(["replay", str(path), record.span_id, "--call", "replay_app:triage_unfixed"])
    out, err = capsys.readouterr()
    assert (status, err) == (1, "")
    assert out.splitlines()[3].split() == ["status", "error", "error"]
    assert out.splitlines()[-1] == "unchanged"


def test_async_functions_and_dotted_attributes_can_be_called(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An async function is awaited; MODULE:Class.attribute reaches into the module."""
    path = project / "store.db"
    record = record_failure(path)
    assert main(["replay", str(path), record.span_id, "--call", "replay_app:triage_async"]) == 0
    assert capsys.readouterr().out.splitlines()[3].split() == ["status", "*", "error", "ok"]
    sys.modules.pop("replay_app")
    spec = "replay_app:Handlers.triage"
    assert main(["replay", str(path), record.span_id.upper(), "--call", spec]) == 0
    assert "changed: status, error, value" in capsys.readouterr().out


def test_json_output_holds_both_outcomes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints the replay as one JSON document."""
    path = project / "store.db"
    record = record_failure(path)
    assert main(["replay", str(path), record.span_id, "--call", "replay_app:triage", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["span_id"] == record.span_id
    assert document["changed"] is True
    assert document["old"]["error_type"] == "llmguard.exceptions.SchemaViolation"
    assert document["new"]["value"] == {"category": "bug", "urgency": 4}
    assert document["new"]["attempts"] == 1


def test_the_help_states_the_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    """replay --help says what 0, 1 and 2 mean."""
    assert main(["replay", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "0 when the new run succeeded, 1 when it failed, 2 when the call could not" in text


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("replay_app", "--call takes MODULE:FUNCTION, e.g. app.triage:triage, not 'replay_app'"),
        (":triage", "--call takes MODULE:FUNCTION"),
        ("replay_app:", "--call takes MODULE:FUNCTION"),
        ("replay_nowhere:triage", "no module named 'replay_nowhere' (from "),
        ("replay_app:nothing", "module replay_app has no attribute 'nothing'"),
        ("replay_app:Handlers.nothing", "replay_app:Handlers has no attribute 'nothing'"),
        ("replay_app:VERSION", "replay_app:VERSION is not callable (it is a int)"),
        ("replay_broken:triage", "importing replay_broken failed: RuntimeError: no config"),
        (
            "replay_needs:triage",
            "importing replay_needs failed: ModuleNotFoundError: "
            "No module named 'replay_missing_dependency'",
        ),
    ],
)
def test_a_bad_call_is_one_line_and_exit_2(
    spec: str, message: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whatever is wrong with --call, the command says it in one line, without a traceback."""
    path = project / "store.db"
    record = record_failure(path)
    assert main(["replay", str(path), record.span_id, "--call", spec]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"llmguard: error: {message}")
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_records_that_cannot_be_replayed_are_one_line_and_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An attempt, an unknown span, a missing file: one line each, and the app not imported."""
    path = project / "store.db"
    record = record_failure(path)
    with SQLiteStore(path) as store:
        attempt = next(store.records(kind="attempt"))
    cases = [
        ([str(path), attempt.span_id], f"span {attempt.span_id} is attempt 1 of a guarded call"),
        ([str(path), "0123456789abcdef"], "no span '0123456789abcdef' in "),
        (["nothing.db", record.span_id], "nothing.db: no such file"),
    ]
    for arguments, message in cases:
        assert main(["replay", *arguments, "--call", "replay_app:triage"]) == 2
        out, err = capsys.readouterr()
        assert out == ""
        assert err.startswith(f"llmguard: error: {message}")
        assert err.count("\n") == 1
    assert "replay_app" not in sys.modules


def test_a_redacted_record_needs_allow_redacted(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record with redacted content is refused in one line; --allow-redacted replays it."""
    path = project / "store.db"
    lg.configure(sinks=[SQLiteSink(path)])
    lg.guard(lambda messages: "ok")([{"role": "user", "content": "mail ann@example.com"}])
    assert lg.flush(timeout=5)
    lg.configure(sinks=[])
    with SQLiteStore(path) as store:
        span_id = next(store.records(kind="llm")).span_id
    spec = "replay_app:triage"
    assert main(["replay", str(path), span_id, "--call", spec]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"llmguard: error: span {span_id}'s content was redacted (email)")
    assert err.count("\n") == 1
    assert main(["replay", str(path), span_id, "--call", spec, "--allow-redacted"]) == 0
    app = sys.modules["replay_app"]
    assert app.fixed_model.calls[0]["messages"] == [{"role": "user", "content": "mail [email]"}]


def test_a_required_call_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --call the parser stops with its one-line usage error."""
    assert main(["replay", "store.db", "0123456789abcdef"]) == 2
    err = capsys.readouterr().err
    assert "the following arguments are required: --call" in err
    assert err.count("\n") == 1
