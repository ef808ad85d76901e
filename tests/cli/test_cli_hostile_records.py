"""Attacks on the command line through the records it reads: escapes, quoting, bad times."""

from __future__ import annotations

import contextlib
import dataclasses
import html
import io
import re
import shlex
import sys
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import llmguard as lg
from llmguard._core.records import Record, Usage
from llmguard.cli import main
from llmguard.sinks import JSONLSink, SQLiteSink
from llmguard.testing import FakeLLM, capture

# Sets the window title and writes the clipboard (OSC 52), clears the screen, rings the
# bell, returns the carriage, starts an 8-bit CSI, deletes, tabs and breaks the line.
HOSTILE = "\x1b]0;pwned\x07\x1b]52;c;cHduZWQ=\x07\x1b[2J\x07\rX\x9b31m\x7f\t\nend"
# What a terminal acts on: C0 (newline only between lines of output), DEL and C1.
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def _call(index: int, name: str = "ok", day: int = 1, **fields: Any) -> Record:
    values: dict[str, Any] = {
        "trace_id": f"{index:032x}",
        "span_id": f"{index:016x}",
        "name": name,
        "kind": "llm",
        "start": f"2026-01-{day:02d}T10:{index // 60 % 60:02d}:{index % 60:02d}.000000Z",
        "end": f"2026-01-{day:02d}T10:{index // 60 % 60:02d}:{index % 60:02d}.500000Z",
        "duration_ms": 500.0,
    }
    values.update(fields)
    return Record(**values)


def _write(path: Path, records: Sequence[Record]) -> Path:
    sink = SQLiteSink(path) if path.suffix == ".db" else JSONLSink(path)
    sink.emit(list(records))
    sink.close()
    return path


def _hostile_records() -> list[Record]:
    """Forty calls a day over two days whose every text field is hostile, latency moved."""
    hostile = {
        "model": HOSTILE,
        "prompt_name": HOSTILE,
        "prompt_version": HOSTILE,
        "service": HOSTILE,
        "tags": (HOSTILE,),
        "usage": Usage(input=10, output=5),
        "cost_usd": 0.001,
    }
    records = []
    for index in range(1, 81):
        day = 1 if index <= 40 else 2
        failed = index % 4 == 0
        records.append(
            _call(
                index,
                HOSTILE,
                day,
                duration_ms=10.0 if day == 1 else 1000.0 + index,
                status="error" if failed else "ok",
                error_type=HOSTILE if failed else None,
                error_message=HOSTILE if failed else None,
                **hostile,
            )
        )
    # A group only in the baseline window, which drift names in a note.
    records.append(_call(81, HOSTILE + "only", 1, status=HOSTILE))
    # A child span with hostile errors, limits and a hostile status under the first call.
    records.append(
        _call(
            82,
            HOSTILE,
            1,
            kind="attempt",
            trace_id=f"{1:032x}",
            parent_id=f"{1:016x}",
            status=HOSTILE,
            attempt={"outcome": HOSTILE, "errors": [{"path": HOSTILE, "message": HOSTILE}]},
            limits={HOSTILE: HOSTILE},
        )
    )
    return records


@pytest.fixture(params=[".db", ".jsonl"])
def hostile_store(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A store of hostile records, as either sink writes it."""
    return _write(tmp_path / f"store{request.param}", _hostile_records())


def _assert_inert(text: str) -> None:
    assert not _CONTROL.findall(text), f"raw control characters in: {text!r}"


_COMMANDS = {
    "stats": ["stats"],
    "stats by model": ["stats", "--by", "model"],
    "stats by prompt": ["stats", "--by", "prompt"],
    "stats by status": ["stats", "--by", "status"],
    "stats json": ["stats", "--json"],
    "show": ["show", "PATH", f"{1:032x}"],
    "drift": ["drift", "--baseline", "2026-01-01..2026-01-02", "--current", "2026-01-02.."],
    "drift json": [
        "drift",
        "--json",
        "--baseline",
        "2026-01-01..2026-01-02",
        "--current",
        "2026-01-02..",
    ],
    "report": ["report", "-o", "OUT"],
}


@pytest.mark.parametrize("command", list(_COMMANDS))
def test_record_text_reaches_the_terminal_escaped(
    command: str, hostile_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No command prints a control character from a record; each is shown escaped."""
    argv = list(_COMMANDS[command])
    argv = [str(hostile_store) if a == "PATH" else a for a in argv]
    argv = [str(tmp_path / f"out\x1b[2J{HOSTILE}.html") if a == "OUT" else a for a in argv]
    if "PATH" not in _COMMANDS[command]:
        argv.insert(1, str(hostile_store))
    status = main(argv)
    out, err = capsys.readouterr()
    assert status in (0, 1, 2), err
    _assert_inert(out)
    _assert_inert(err)
    assert "\\x1b]52;c;" in out or "\\u001b]52;c;" in out
    # The newline inside the fields is escaped too: no line starts with what followed it.
    assert not [line for line in out.splitlines() if line.startswith("end")]


def test_show_escapes_a_newline_inside_a_field_but_indents_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tab or newline inside a name is escaped; a message's lines stay under its node."""
    path = _write(
        tmp_path / "store.jsonl",
        [_call(1, "a\tb\nc", status="error", error_type="E", error_message="one\ntwo\x1b[2J")],
    )
    assert main(["show", str(path), f"{1:032x}"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("a\\tb\\nc  [llm]  error")
    assert lines[2:] == ["    error: E: one", "      two\\x1b[2J"]


def test_error_messages_quoting_input_are_escaped(
    hostile_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trace id typed with escapes, and a file named with them, come back escaped."""
    assert main(["show", str(hostile_store), HOSTILE]) == 2
    assert main(["stats", str(hostile_store.parent / HOSTILE)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    _assert_inert(err)
    assert err.count("\n") == 2


def test_a_skipped_line_warning_names_the_file_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The warning about torn lines shows a hostile file name escaped."""
    path = _write(tmp_path / f"{HOSTILE.replace('/', '')}.jsonl", [_call(1)])
    with path.open("a") as file:
        file.write("{torn\n")
    assert main(["stats", str(path)]) == 0
    err = capsys.readouterr().err
    assert "skipped 1 line(s)" in err
    _assert_inert(err)


_APP = textwrap.dedent(
    """
    from typing import Any

    import llmguard as lg
    from llmguard.testing import FakeLLM

    model = FakeLLM(["fine"], model="gpt-4o-mini")


    @lg.guard
    def answer(messages: list[dict[str, str]]) -> Any:
        return model(model="gpt-4o-mini", messages=messages)
    """
)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project directory holding the module ``hostile_app``, as the working directory."""
    (tmp_path / "hostile_app.py").write_text(_APP)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    yield tmp_path
    sys.modules.pop("hostile_app", None)


@pytest.mark.parametrize("json_output", [False, True])
def test_replay_prints_a_hostile_record_escaped(
    json_output: bool, app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both replay outputs show the recorded name, model and error escaped."""
    fake = FakeLLM(["recorded"], model="gpt-4o-mini")
    with capture() as records:
        lg.guard(lambda messages: fake(model="gpt-4o-mini", messages=messages))(
            [{"role": "user", "content": "hi"}]
        )
    recorded = next(r for r in records if r.kind == "llm")
    hostile = dataclasses.replace(
        recorded,
        name=HOSTILE,
        model=HOSTILE,
        status="error",
        error_type=HOSTILE,
        error_message=HOSTILE,
        output=HOSTILE,
    )
    path = _write(app / "store.jsonl", [hostile])
    argv = ["replay", str(path), hostile.span_id, "--call", "hostile_app:answer"]
    status = main([*argv, "--json"] if json_output else argv)
    out, err = capsys.readouterr()
    assert (status, err) == (0, "")
    _assert_inert(out)
    assert "\\x1b]52;c;" in out or "\\u001b]52;c;" in out


# -- 17: the report's suggested commands are shell-quoted


def _suggested_commands(page: str) -> list[list[str]]:
    return [
        shlex.split(html.unescape(title)) for title in re.findall(r'<code title="([^"]*)">', page)
    ]


@pytest.mark.parametrize(
    "trace_id",
    ["x; touch /tmp/PWNED #", "$(touch /tmp/PWNED)", "`id`'\"\n", "-rf --traceback", HOSTILE],
)
def test_report_commands_are_shell_quoted(
    trace_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each trace's command parses to exactly its file and trace id, and shows that trace."""
    folder = tmp_path / "it's a dir; rm -rf ~"
    folder.mkdir()
    store = _write(
        folder / "$(reboot).jsonl",
        [_call(1, trace_id=trace_id, status="error", error_type="E", cost_usd=0.5)],
    )
    output = tmp_path / "report.html"
    assert main(["report", str(store), "-o", str(output)]) == 0
    with output.open(encoding="utf-8", newline="") as page:
        commands = _suggested_commands(page.read())
    assert commands, "the report suggests no command"
    capsys.readouterr()
    # Only an argument that starts with "-" needs "--" before it.
    dashes = ["--"] if trace_id.startswith("-") else []
    for command in commands:
        assert command == ["llmguard", "show", *dashes, str(store), trace_id]
        assert main(command[1:]) == 0
        assert capsys.readouterr().out.startswith("trace ")


# -- 18: records with start times that are not times


_BAD_STARTS = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00.000000Z",
    "yesterday",
    "",
    "1969-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59.999999Z",
    "\x1b[2J",
]


def _store_with_a_bad_start(path: Path, start: str, end: str | None = None) -> Path:
    records = [_call(i, day=1 + i % 2) for i in range(1, 7)]
    bad = _call(9, start=start, end=end if end is not None else start)
    return _write(path, [*records, bad])


_TIME_COMMANDS = [
    ["stats"],
    ["stats", "--by", "day"],
    ["show", "PATH", f"{1:032x}"],
    [
        "drift",
        "--baseline",
        "2026-01-01..2026-01-02",
        "--current",
        "2026-01-02..",
        "--min-calls",
        "2",
    ],
    ["report", "-o", "OUT"],
]


def _run(command: Sequence[str], store: Path, output: Path) -> int:
    argv = [str(store) if a == "PATH" else str(output) if a == "OUT" else a for a in command]
    if "PATH" not in command:
        argv.insert(1, str(store))
    return main(argv)


@pytest.mark.parametrize("suffix", [".db", ".jsonl"])
@pytest.mark.parametrize("start", _BAD_STARTS)
def test_a_record_that_started_at_no_time_is_skipped_with_one_warning(
    start: str, suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every command succeeds and says once how many records it skipped."""
    store = _store_with_a_bad_start(tmp_path / f"store{suffix}", start)
    for command in _TIME_COMMANDS:
        status = _run(command, store, tmp_path / "report.html")
        err = capsys.readouterr().err
        assert status == 0, (command, err)
        warnings = err.splitlines()
        assert len(warnings) == 1, (command, err)
        assert warnings[0].startswith(f"llmguard: warning: {store}: skipped 1 record ")
        _assert_inert(err)


def test_an_unusable_end_time_does_not_stop_show(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record's end that is no time leaves show to print the trace from the starts."""
    store = _write(tmp_path / "store.jsonl", [_call(1, end="never")])
    assert main(["show", str(store), f"{1:032x}"]) == 0
    assert capsys.readouterr().out.startswith(f"trace {1:032x}  2026-01-01T10:00:01.000000Z")


_times = st.one_of(
    st.text(max_size=40),
    st.datetimes().map(lambda t: t.isoformat()),
    st.datetimes().map(lambda t: f"{t.year:04d}-{t:%m-%dT%H:%M:%S.%f}Z"),
    st.sampled_from(_BAD_STARTS),
)


# The hard cases first, each a store of its own and five commands: a good start with an
# end that is no time, or one at the ends of the calendar with an offset; a start that
# is no time with a good end; an end before its start; digits that are not ASCII; a
# start in a year before 1000 (which strftime writes with fewer than four digits) and
# one in 9999.
@example(start="0001-10-01T10:00:09Z", end="0001-10-01T10:00:10Z", suffix=".jsonl")
@example(start="0999-03-01T10:00:09Z", end="0999-03-01T10:00:10Z", suffix=".db")
@example(start="9999-12-31T23:00:00Z", end="9999-12-31T23:00:01Z", suffix=".jsonl")
@example(start="2026-01-01T10:00:09.000000Z", end="never", suffix=".db")
@example(start="2026-01-01T10:00:09.000000Z", end="", suffix=".jsonl")
@example(start="2026-01-01T10:00:09Z", end="0001-01-01T00:00:00+01:00", suffix=".jsonl")
@example(start="2026-01-01T10:00:09Z", end="9999-12-31T23:59:59.999999-01:00", suffix=".db")
@example(start="yesterday", end="2026-01-01T10:00:10.000000Z", suffix=".db")
@example(start="2026-01-01T10:00:09.000000Z", end="2026-01-01T09:00:00Z", suffix=".jsonl")
@example(start="\u0662\u0660\u0662\u0666-01-01T10:00:09Z", end="\uff12026-01-01", suffix=".db")
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(start=_times, end=_times, suffix=st.sampled_from([".db", ".jsonl"]))
def test_no_start_or_end_time_crashes_a_command(
    start: str, end: str, suffix: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Any string as a start or end time: exit 0, 1 or 2 with one line, never a traceback."""
    folder = tmp_path_factory.mktemp("times")
    store = _store_with_a_bad_start(folder / f"store{suffix}", start, end)
    commands = [*_TIME_COMMANDS, ["show", "PATH", f"{9:032x}"]]
    for command in commands:
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            status = _run(command, store, folder / "report.html")
        lines = err.getvalue().splitlines()
        assert status in (0, 1, 2), (command, lines)
        errors = [line for line in lines if not line.startswith("llmguard: warning: ")]
        assert len(errors) == (status == 2), (command, lines)
        assert not any("unexpected" in line for line in errors), (command, lines)


@pytest.mark.parametrize(
    "window",
    [
        ["--current", "0001-01-01..0001-01-02"],
        ["--current", "0001-01-03..0001-01-09"],
        ["--current", "9999-12-31.."],
        ["--since", "0001-01-01", "--until", "9999-12-31T23:59:59"],
    ],
)
def test_report_windows_at_the_ends_of_time_never_crash(
    window: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Windows typed at year 1 or 9999 write the report or fail in one line."""
    store = _write(tmp_path / "store.jsonl", [_call(1), _call(2, day=2)])
    status = main(["report", str(store), "-o", str(tmp_path / "report.html"), *window])
    err = capsys.readouterr().err
    assert status in (0, 2)
    assert err.count("\n") == (status == 2)
    assert "unexpected" not in err


def test_an_ambiguous_prefix_names_hostile_candidates_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Trace ids that share a prefix and hold escapes are listed escaped, on one line."""
    ids = [f"dead{HOSTILE}", f"dead{HOSTILE}2"]
    store = _write(tmp_path / "store.db", [_call(i + 1, trace_id=t) for i, t in enumerate(ids)])
    assert main(["show", str(store), "dead"]) == 2
    err = capsys.readouterr().err
    _assert_inert(err)
    assert err.count("\n") == 1
    assert err.count("dead\\x1b]0;pwned\\x07") == 2


def test_only_the_format_module_writes_to_the_terminal() -> None:
    """Every command prints through llmguard.cli._format, so no output path can skip escaping."""
    import ast

    import llmguard.cli

    folder = Path(llmguard.cli.__file__).parent
    writers = []
    for module in sorted(folder.glob("*.py")):
        if module.name in ("_format.py", "_progress.py"):
            continue
        for node in ast.walk(ast.parse(module.read_text())):
            if not isinstance(node, ast.Call):
                continue
            function = node.func
            if isinstance(function, ast.Name) and function.id == "print":
                writers.append(f"{module.name}:{node.lineno} print")
            if (
                isinstance(function, ast.Attribute)
                and function.attr in ("write", "writelines")
                and isinstance(function.value, ast.Attribute)
                and function.value.attr in ("stdout", "stderr")
            ):
                writers.append(f"{module.name}:{node.lineno} {function.value.attr}")
    assert writers == []


# Trojan Source (CVE-2021-42574): the bidi marks, embeddings, overrides and isolates make a
# line read differently from what it holds; the separators break it without a newline.
BIDI = "\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_BIDI = re.compile(f"[{BIDI}]")


def _bidi_records() -> list[Record]:
    spoofed = f"invoice{BIDI}exe.txt"
    return [
        _call(
            index,
            spoofed,
            1 if index <= 40 else 2,
            duration_ms=10.0 if index <= 40 else 1000.0 + index,
            model=spoofed,
            prompt_name=spoofed,
            prompt_version=spoofed,
            status="error" if index % 4 == 0 else "ok",
            error_type=spoofed if index % 4 == 0 else None,
            error_message=spoofed if index % 4 == 0 else None,
        )
        for index in range(1, 81)
    ]


@pytest.mark.parametrize("suffix", [".db", ".jsonl"])
@pytest.mark.parametrize("command", [c for c in _COMMANDS if c != "report"])
def test_bidi_controls_from_a_record_are_printed_escaped(
    command: str, suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No command prints a bidi control or line separator from a record; each shows as \\uXXXX."""
    store = _write(tmp_path / f"store{suffix}", _bidi_records())
    argv = [str(store) if a == "PATH" else a for a in _COMMANDS[command]]
    if "PATH" not in _COMMANDS[command]:
        argv.insert(1, str(store))
    status = main(argv)
    out, err = capsys.readouterr()
    assert status in (0, 1), err
    assert not _BIDI.findall(out + err), f"raw bidi controls in: {out!r}"
    if command != "stats by status":  # the one output naming no record text
        assert "\\u202e" in out


@given(st.text(alphabet=st.characters(codec="utf-8")))
def test_escaped_text_holds_no_control_or_bidi_character(text: str) -> None:
    """Whatever a record holds, its escaped form is one inert line."""
    from llmguard.cli._format import escaped

    shown = escaped(text)
    assert not _CONTROL.findall(shown)
    assert not _BIDI.findall(shown)
    assert "\n" not in shown
