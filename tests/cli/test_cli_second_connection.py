"""The store's second connection: the report's aggregates run on it in a thread, and
every answer is the one a single connection gives, bit for bit."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmguard._core.records import Record, Usage
from llmguard.cli import main
from llmguard.cli._dataset import Dataset, DatasetError, Window
from llmguard.sinks import JSONLSink, SQLiteSink
from llmguard.sinks.table import REPAIRED

# The report's groupings, and a window that cuts the three days of calls.
_GROUPINGS = (("name",), ("prompt",), ("day", "name"), ("day", "prompt"))
_WINDOW = Window("2026-01-02T00:00:00.000000Z", "2026-01-03T12:00:00.000000Z")
# Sample weights, whole and not (a third has no exact double).
_WEIGHTS = (1.0, 4.0, 10.0, 0.5, 1 / 3, 2.5)


def _call(
    number: int,
    name: str,
    weight: float,
    duration: float,
    cost: float | None,
    status: str,
    prompt: tuple[str, str] | None,
) -> Record:
    day, second = 1 + number % 3, number % 60
    return Record(
        trace_id=f"{number % 7:032x}",
        span_id=f"{number:016x}",
        name=name,
        kind="llm",
        status=status,  # type: ignore[arg-type]
        start=f"2026-01-0{day}T{number % 24:02d}:{second:02d}:00.000000Z",
        end=f"2026-01-0{day}T{number % 24:02d}:{second:02d}:01.000000Z",
        duration_ms=duration,
        cost_usd=cost,
        usage=Usage(input=10 * number, output=number % 13),
        attempt={"count": 1 + number % 3},
        prompt_name=None if prompt is None else prompt[0],
        prompt_version=None if prompt is None else prompt[1],
        sample_weight=weight,
        model=f"m{number % 2}",
    )


def _extras(count: int) -> list[Record]:
    """Repaired attempts and feedback scores on some of the calls' traces."""
    found = []
    for number in range(count):
        trace = f"{number % 7:032x}"
        found.append(
            Record(
                trace_id=trace,
                span_id=f"{10_000 + number:016x}",
                name="attempt 1",
                kind="attempt",
                start=f"2026-01-0{1 + number % 3}T05:00:00.000000Z",
                end=f"2026-01-0{1 + number % 3}T05:00:01.000000Z",
                duration_ms=1.0,
                attempt={"repair": REPAIRED, "function": "a" if number % 2 else "b"},
                sample_weight=_WEIGHTS[number % len(_WEIGHTS)],
            )
        )
        found.append(
            Record(
                trace_id=trace,
                span_id=f"{20_000 + number:016x}",
                name="feedback",
                kind="feedback",
                start="2026-01-02T06:00:00.000000Z",
                end="2026-01-02T06:00:00.000000Z",
                duration_ms=0.0,
                metadata={"score": (number % 5) / 4},
            )
        )
    return found


_calls = st.lists(
    st.tuples(
        st.sampled_from(("a", "b", "c")),
        st.sampled_from(_WEIGHTS),
        st.floats(0.0, 1e6, allow_nan=False),
        st.none() | st.floats(0.0, 10.0, allow_nan=False),
        st.sampled_from(("ok", "ok", "error", "limit")),
        st.none() | st.tuples(st.sampled_from(("p", "q")), st.sampled_from(("v1", "v2"))),
    ),
    min_size=1,
    max_size=60,
)


def _store(path: Path, calls: list[tuple[object, ...]], *, damage: bool = False) -> Path:
    records = [_call(number, *call) for number, call in enumerate(calls)]  # type: ignore[arg-type]
    sink = SQLiteSink(path) if path.suffix == ".db" else JSONLSink(path)
    sink.emit([*records, *_extras(len(calls) // 3 + 1)])
    sink.close()
    if damage:
        # What a store not written by llmguard may hold: a missing latency, and text
        # where a number belongs.
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE records SET duration_ms = NULL WHERE rowid % 5 = 1")
            conn.execute("UPDATE records SET output_tokens = 'many' WHERE rowid % 7 = 2")
        conn.close()
    return path


def _answers(dataset: Dataset) -> list[object]:
    """Everything the report asks of a dataset, as plain data."""
    found: list[object] = [dataset.span(), dataset.span(_WINDOW), dataset.span(kinds=("tool",))]
    for window in (Window(), _WINDOW):
        dataset.prefetch_summaries(_GROUPINGS, window)
        for calls in dataset.calls(window, order_by="duration_ms", limit=5):
            found.append(calls.span_id)
        found.append(repr(dataset.summaries(_GROUPINGS, window)))
        found.append(repr(dataset.summary(("day",), window)))
        found.append(repr(dataset.feedback_scores_by([("name",), ("prompt",)], window)))
    return found


def _both(path: Path) -> tuple[list[object], list[object]]:
    with Dataset.open(path, second_connection=False) as alone:
        one = _answers(alone)
    with Dataset.open(path) as shared:
        two = _answers(shared)
    return one, two


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(calls=_calls, damage=st.booleans())
def test_answers_are_those_of_one_connection(
    tmp_path: Path, calls: list[tuple[object, ...]], damage: bool
) -> None:
    """Generated calls (fractional weights, costs, NULL latencies, text in a numeric
    column): summaries, notable calls and feedback groups are the same, bit for bit."""
    path = tmp_path / f"calls-{len(list(tmp_path.iterdir()))}.db"
    one, two = _both(_store(path, calls, damage=damage))
    assert two == one


def test_report_is_the_same_with_one_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report's HTML, written with and without the second connection, is the same."""
    calls = [("a", 1.0, 10.0 * n, 0.001 * n, "ok", ("p", "v1")) for n in range(40)]
    calls += [("b", 4.0, 3.0 * n, None, "error", None) for n in range(40)]
    path = _store(tmp_path / "calls.db", calls)
    pages = []
    for second in (False, True):
        monkeypatch.setattr(Dataset, "open", _opener(second))
        out = tmp_path / f"report-{second}.html"
        assert main(["report", str(path), "-o", str(out)]) == 0
        pages.append(out.read_text().split("<footer>")[0])
        monkeypatch.undo()
    assert pages[0] == pages[1]


def _opener(second: bool) -> object:
    """`Dataset.open` with or without the second connection."""
    opened = Dataset.open

    def open_with(file: str, progress: object = None) -> Dataset:
        return opened(file, progress, second_connection=second)  # type: ignore[arg-type]

    return open_with


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads `Dataset._sums` runs on."""
    names: list[str] = []
    sums = Dataset._sums

    def spied(self: Dataset, *args: object, **kwargs: object) -> object:
        names.append(threading.current_thread().name)
        return sums(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Dataset, "_sums", spied)
    return names


def test_a_store_runs_aggregates_on_the_second_connection(
    tmp_path: Path, threads: list[str]
) -> None:
    """The report's aggregates started ahead run on the side thread, not the main one."""
    path = _store(tmp_path / "calls.db", [("a", 1.0, 5.0, 0.1, "ok", None)] * 5)
    with Dataset.open(path) as dataset:
        dataset.prefetch_summaries(_GROUPINGS, Window())
        # The side thread has taken the jobs by the time it answers one question.
        dataset.span()
        dataset.summaries(_GROUPINGS, Window())
    assert len(threads) == 4
    assert any(name.startswith("llmguard-query") for name in threads)


def test_jsonl_records_use_one_connection(tmp_path: Path, threads: list[str]) -> None:
    """Records loaded into memory have no second connection: all runs on the caller's
    thread, with the same answers as the same calls in a store."""
    calls: list[tuple[object, ...]] = [
        ("a", 0.5, 5.0, 0.1, "ok", None),
        ("b", 1.0, 7.0, None, "error", ("p", "v1")),
    ]
    jsonl = _store(tmp_path / "calls.jsonl", calls)
    with Dataset.open(jsonl) as dataset:
        assert dataset.side_file is None
        from_jsonl = _answers(dataset)
    assert set(threads) == {threading.current_thread().name}
    one, _ = _both(_store(tmp_path / "calls.db", calls))
    assert from_jsonl == one


def test_an_error_on_the_second_connection_is_raised(tmp_path: Path) -> None:
    """A grouping no query knows fails with the same error as on one connection."""
    path = _store(tmp_path / "calls.db", [("a", 1.0, 5.0, 0.1, "ok", None)] * 3)
    for second in (False, True):
        with (
            Dataset.open(path, second_connection=second) as dataset,
            pytest.raises(DatasetError, match="cannot group by 'colour'"),
        ):
            dataset.summaries((("name",), ("colour",)), Window())


def test_closing_stops_the_jobs_started_ahead(tmp_path: Path) -> None:
    """Aggregates started ahead and never asked for end with the dataset: closing
    returns, and the side thread is gone."""
    path = _store(tmp_path / "calls.db", [("a", 1.0, 5.0, 0.1, "ok", None)] * 50)
    dataset = Dataset.open(path)
    dataset.prefetch_summaries(_GROUPINGS, Window())
    dataset.prefetch_calls(Window(), order_by="cost_usd", limit=3)
    dataset.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("llmguard-query")]


def test_a_store_that_cannot_be_opened_again_is_read_on_one_connection(
    tmp_path: Path,
) -> None:
    """A store moved away after it was opened: the main connection, which still holds
    it, answers everything."""
    path = _store(tmp_path / "calls.db", [("a", 1.0, 5.0, 0.1, "ok", None)] * 5)
    with Dataset.open(path, second_connection=False) as alone:
        expected = repr(alone.summaries(_GROUPINGS, Window()))
    with Dataset.open(path) as dataset:
        path.rename(tmp_path / "moved.db")
        assert repr(dataset.summaries(_GROUPINGS, Window())) == expected
        assert dataset.side_file is None


def test_a_store_replaced_after_it_was_opened_is_read_on_one_connection(
    tmp_path: Path,
) -> None:
    """Another store put at the path after the first was opened (a rotation): the
    answers are the first store's, which the main connection holds."""
    path = _store(tmp_path / "calls.db", [("a", 1.0, 5.0, 0.1, "ok", None)] * 5)
    with Dataset.open(path, second_connection=False) as alone:
        expected = repr(alone.summaries(_GROUPINGS, Window()))
    with Dataset.open(path) as dataset:
        path.rename(tmp_path / "old.db")
        _store(path, [("z", 4.0, 9.0, None, "error", None)] * 3)
        assert repr(dataset.summaries(_GROUPINGS, Window())) == expected
        assert dataset.side_file is None


def test_one_grouping_reads_feedback_groups_beside_its_aggregate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`stats`' one grouping: the feedback traces' groups are read on the side thread
    while the aggregate runs, and the scores are those of one connection."""
    names: list[str] = []
    read = Dataset._read_trace_groups

    def spied(self: Dataset, *args: object) -> object:
        names.append(threading.current_thread().name)
        return read(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Dataset, "_read_trace_groups", spied)
    path = _store(tmp_path / "calls.db", [("a", 4.0, 5.0, 0.1, "ok", None)] * 20)
    with Dataset.open(path, second_connection=False) as alone:
        expected = repr(alone.summary(("name",)))
    with Dataset.open(path) as dataset:
        assert repr(dataset.summary(("name",))) == expected
    assert names[0] == threading.current_thread().name
    assert names[1].startswith("llmguard-query")


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(calls=_calls, kinds=st.sampled_from((("llm",), ("tool",), ("llm", "span"))))
def test_span_is_the_first_and_last_start(
    tmp_path: Path, calls: list[tuple[object, ...]], kinds: tuple[str, ...]
) -> None:
    """The span read through the start index from each end is min() and max() of the
    calls' start times, in and out of a window."""
    path = _store(tmp_path / f"calls-{len(list(tmp_path.iterdir()))}.db", calls)
    marks = ", ".join("?" * len(kinds))
    with sqlite3.connect(path) as conn:
        expected = [
            conn.execute(
                f'SELECT min("start"), max("start") FROM records WHERE kind IN ({marks}){bounds}',
                [*kinds, *values],
            ).fetchone()
            for bounds, values in (
                ("", []),
                (' AND "start" >= ? AND "start" < ?', [_WINDOW.since, _WINDOW.until]),
            )
        ]
    conn.close()
    with Dataset.open(path) as dataset:
        found = [dataset.span(window, kinds) for window in (Window(), _WINDOW)]
    assert [(span.since, span.until) for span in found] == [tuple(row) for row in expected]


_LONG_SCAN = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 30000000) "
    "SELECT count(*) FROM c"
)


def test_an_error_on_the_main_thread_stops_the_side_query(tmp_path: Path) -> None:
    """When the main thread's share of the jobs fails (an error, Ctrl-C), the query
    running on the second connection is interrupted, not waited out."""
    path = _store(tmp_path / "calls.db", [("a", 1.0, 5.0, 0.1, "ok", None)] * 3)
    taken = threading.Event()
    ended: list[BaseException | None] = []

    def long_scan(conn: sqlite3.Connection) -> object:
        taken.set()
        try:
            return conn.execute(_LONG_SCAN).fetchone()
        except BaseException as exc:
            ended.append(exc)
            raise

    def failing(conn: sqlite3.Connection) -> object:
        raise KeyboardInterrupt

    with Dataset.open(path) as dataset:
        running = dataset._start([long_scan, failing])
        assert taken.wait(10)
        with pytest.raises(KeyboardInterrupt):
            dataset._finish(running)
        assert running[1].done()
    assert len(ended) == 1
    assert isinstance(ended[0], sqlite3.OperationalError)
    assert str(ended[0]) == "interrupted"


def test_ctrl_c_inside_a_query_exits_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C that reaches Python in SQLite's progress handler (which sqlite3 turns into
    an "interrupted" error ending the query) ends the command as Ctrl-C does: 130, no
    error message."""
    import llmguard.cli._dataset as dataset_module

    path = _store(tmp_path / "calls.db", [("a", 1.0, 5.0, 0.1, "ok", None)] * 400)

    def reporter(progress: object, name: str) -> object:
        def tick() -> int:
            raise KeyboardInterrupt

        return tick

    monkeypatch.setattr(dataset_module, "_reporter", reporter)
    monkeypatch.setattr(dataset_module, "_PROGRESS_STEPS", 100)
    assert main(["stats", str(path)]) == 130
    assert "error" not in capsys.readouterr().err
