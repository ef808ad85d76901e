"""The report's four groupings from one read (`Dataset._one_pass`) against hostile stores.

Each figure the report prints per function and prompt version must be the one the old
way gives -- one aggregate per grouping, as `stats` runs it -- to the bit, or at least
one consistent set of calls when a writer changes the store while the report reads it:
a sink writing to a live store, a store with an index of its own, a column declared
with another collation, a UTF-16 file, keys that print alike.
"""

from __future__ import annotations

import dataclasses
import random
import re
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmguard._core.records import Record, Usage
from llmguard.cli._dataset import Dataset, Window
from llmguard.sinks import SQLiteSink

_Groupings = tuple[tuple[str, ...], ...]
_GROUPINGS: _Groupings = (("name",), ("prompt",), ("day", "name"), ("day", "prompt"))
_HOURLY: _Groupings = (("name",), ("prompt",), ("hour", "name"), ("hour", "prompt"))
_ALL_TIME = Window()
# An SQLite whose sum() adds as the pass does; a later one always takes the old way.
_PASS = sqlite3.sqlite_version_info < (3, 43, 0)
_WINDOWS = (_ALL_TIME, Window.parse("2026-01-02", "2026-01-04"))


def _call(number: int, rng: random.Random, names: tuple[str, ...] = ("a", "b")) -> Record:
    day = 1 + rng.randrange(4)
    at = f"2026-01-{day:02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00.000000Z"
    prompt = rng.choice((None, ("p", "v1"), ("p", "v2")))
    return Record(
        trace_id=f"{number:032x}",
        span_id=f"{number:016x}",
        name=rng.choice(names),
        kind="llm",
        status=rng.choice(("ok", "ok", "error", "limit")),
        start=at,
        end=at,
        duration_ms=rng.random() * 1000,
        # Costs over many magnitudes: their sum depends on the order they are added in.
        cost_usd=rng.random() * 10 ** rng.randint(-6, 3),
        usage=Usage(input=rng.randrange(1000), output=rng.randrange(100)),
        attempt={"count": rng.randrange(3)} if rng.random() < 0.3 else None,
        prompt_name=None if prompt is None else prompt[0],
        prompt_version=None if prompt is None else prompt[1],
        sample_weight=rng.choice((1.0, 1.0, 4.0)),
    )


def _calls(count: int, seed: int, names: tuple[str, ...] = ("a", "b")) -> list[Record]:
    rng = random.Random(seed)
    return [_call(number, rng, names) for number in range(count)]


def _store(path: Path, records: list[Record]) -> Path:
    sink = SQLiteSink(path)
    sink.emit(records)
    sink.close()
    return path


def _snapshot(path: Path, to: Path) -> Path:
    """A copy of the store as it is now, its write-ahead log included."""
    source, copy = sqlite3.connect(path), sqlite3.connect(to)
    source.backup(copy)
    source.close()
    copy.close()
    return to


def _old_way(path: Path, window: Window = _ALL_TIME, groupings: _Groupings = _GROUPINGS) -> str:
    """The figures as one aggregate per grouping gives them (the pass refused)."""
    with Dataset.open(path, second_connection=False) as dataset:
        dataset._one_pass = lambda *_: None  # type: ignore[method-assign]
        return repr(dataset.summaries(groupings, window))


def _stats(path: Path, window: Window = _ALL_TIME, groupings: _Groupings = _GROUPINGS) -> str:
    """The figures as `stats` gives them, one grouping at a time."""
    with Dataset.open(path, second_connection=False) as dataset:
        return repr([dataset.summary(by, window) for by in groupings])


def _report(
    path: Path,
    window: Window = _ALL_TIME,
    groupings: _Groupings = _GROUPINGS,
    *,
    second: bool = False,
) -> str:
    with Dataset.open(path, second_connection=second) as dataset:
        return repr(dataset.summaries(groupings, window))


def _count_aggregates(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Where the groupings' own aggregates (the old way) note each run from now on."""
    asked: list[object] = []
    original = Dataset._sums

    def counted(self: Dataset, *args: object, **kwargs: object) -> object:
        if not kwargs.get("whole"):
            asked.append(args)
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Dataset, "_sums", counted)
    return asked


def test_calls_appended_while_the_report_reads_are_left_to_the_next_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sink appends calls to every group after the sums per combination were started
    and before the pass reads: each group's calls, tokens and cost still come from one
    set of calls (the pass had added the new calls' costs to the older calls' counts),
    the calls there were when the report started, and the pass still answers."""
    path = _store(tmp_path / "live.db", _calls(300, 1))
    before = _snapshot(path, tmp_path / "before.db")
    later = _calls(420, 2)
    batches = [later[300:360], later[360:]]
    original = Dataset._one_pass

    def writer_first(self: Dataset, *args: object) -> object:
        _store(path, batches.pop(0))
        return original(self, *args)  # type: ignore[arg-type]

    for second in (False, True):
        with monkeypatch.context() as patch:
            patch.setattr(Dataset, "_one_pass", writer_first)
            aggregates = _count_aggregates(patch)
            found = _report(path, second=second)
        assert found == _old_way(before)
        if _PASS:
            assert not aggregates
        _snapshot(path, before)


def test_a_span_written_again_between_the_two_reads_leaves_one_set_of_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sink writes a span again (the store's trigger replaces its row) after the pass
    read it and before the sums per combination do: the pass's cost sums would hold the
    old copy's cost beside counts that hold neither copy. Every figure of every grouping
    now comes from one set of calls: those there were when the report started, less the
    span written again meanwhile (its new row came after them; the next report has it)."""
    records = _calls(300, 3)
    path = _store(tmp_path / "live.db", records)
    again = [dataclasses.replace(records[7], cost_usd=123.456)]
    original = Dataset._one_pass

    def writer_after(self: Dataset, *args: object) -> object:
        found = original(self, *args)  # type: ignore[arg-type]
        _store(path, again)
        return found

    with monkeypatch.context() as patch:
        patch.setattr(Dataset, "_one_pass", writer_after)
        found = _report(path)
    without = _snapshot(path, tmp_path / "without.db")
    with sqlite3.connect(without) as conn:
        conn.execute("DELETE FROM records WHERE rowid > 300")
    conn.close()
    assert found == _stats(without) == _old_way(without)
    assert re.search(r"key=\('\(all\)',\), calls=[0-9.]+, records=299,", found)


def test_an_index_of_the_stores_own_does_not_change_the_order_costs_are_added_in(
    tmp_path: Path,
) -> None:
    """An index the store's owner added covers the pass's read but not the aggregate
    of a grouping: the pass would read the calls in the index's order and the aggregate
    in the table's, and the cost sums differ in their last bits."""
    path = _store(tmp_path / "indexed.db", _calls(1500, 4))
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE INDEX wide ON records (name, prompt_name, prompt_version, start, kind, "
            "sample_weight, duration_ms, cost_usd, input_tokens, output_tokens, retries, "
            "score, trace_id, span_id, model)"
        )
    conn.close()
    for window in _WINDOWS:
        assert _report(path, window) == _old_way(path, window) == _stats(path, window)


def _clone(path: Path, source: Path, *, table: str = "", encoding: str = "") -> Path:
    """``source`` copied into a new file whose ``records`` table is made with ``table``
    (the source's own statement, changed) and in ``encoding``."""
    with sqlite3.connect(source) as old:
        made = old.execute(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid"
        ).fetchall()
        (version,) = old.execute("PRAGMA user_version").fetchone()
        columns = [found[1] for found in old.execute("PRAGMA table_info(records)")]
        listed = ", ".join(f'"{column}"' for column in columns)
        rows = old.execute(f"SELECT rowid, {listed} FROM records").fetchall()
        contents = old.execute("SELECT id, body FROM contents").fetchall()
    old.close()
    conn = sqlite3.connect(path)
    if encoding:
        conn.execute(f"PRAGMA encoding = '{encoding}'")
    for name, sql in made:
        conn.execute(table or sql if name == "records" else sql)
    marks = ", ".join("?" * (len(columns) + 1))
    conn.executemany(f"INSERT INTO records (rowid, {listed}) VALUES ({marks})", rows)
    conn.executemany("INSERT INTO contents VALUES (?, ?)", contents)
    conn.commit()
    conn.execute(f"PRAGMA user_version = {version}")
    conn.close()
    return path


def _records_sql(source: Path) -> str:
    with sqlite3.connect(source) as conn:
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'records'").fetchone()
    conn.close()
    return str(sql)


def test_names_declared_case_blind_are_grouped_as_written(tmp_path: Path) -> None:
    """A store whose name column was declared COLLATE NOCASE: SQL grouped 'a' and 'A'
    together, while the calls' latencies (and the pass) took them apart; every command
    groups a name as written, as a JSON Lines file of the same calls does."""
    source = _store(tmp_path / "source.db", _calls(600, 5, ("a", "A", "b", "B")))
    table = _records_sql(source).replace(
        '"name" TEXT NOT NULL', '"name" TEXT NOT NULL COLLATE NOCASE'
    )
    path = _clone(tmp_path / "nocase.db", source, table=table)
    for window in _WINDOWS:
        assert _report(path, window) == _old_way(path, window) == _stats(path, window)
        assert _report(path, window) == _report(source, window)


@pytest.mark.parametrize("encoding", ["UTF-16le", "UTF-16be"])
def test_a_utf16_store_orders_its_groups_as_sql_does(tmp_path: Path, encoding: str) -> None:
    """In a UTF-16 file SQL orders text by its UTF-16 bytes, not by code point as
    Python does: the groups come in the order `stats` prints them."""
    names = ("a", "A", "\u0100", "\uff21", "\U0001f600", "é")
    source = _store(tmp_path / "source.db", _calls(600, 6, names))
    path = _clone(tmp_path / "utf16.db", source, encoding=encoding)
    for window in _WINDOWS:
        assert _report(path, window) == _old_way(path, window) == _stats(path, window)


def test_keys_that_print_alike_are_one_group_with_every_call(tmp_path: Path) -> None:
    """A store made by another tool, with untyped columns, holding the name 1 as a
    number and as text: the two SQL groups print alike and are one group, whose
    figures hold both (the second overwrote the first: its calls were lost)."""
    source = _store(tmp_path / "source.db", _calls(400, 7))
    untyped = re.sub(r'" (TEXT|REAL|INTEGER)( NOT NULL)?', '"', _records_sql(source))
    path = _clone(tmp_path / "untyped.db", source, table=untyped)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE records SET name = 1 WHERE rowid % 4 = 0")
        conn.execute("UPDATE records SET name = '1' WHERE rowid % 4 = 1")
    conn.close()
    with Dataset.open(path, second_connection=False) as dataset:
        for found in (dataset.summary(("name",)), dataset.summaries(_GROUPINGS)[0]):
            groups, total = found
            assert total is not None
            assert total.calls == sum(group.calls for group in groups)
            assert total.records == 400
            assert [group.key for group in groups] == [("1",), ("a",), ("b",)]
            assert groups[0].records == 200
    assert _report(path) == _old_way(path) == _stats(path)


# What a store not written by llmguard may hold in place of a call's figures and keys.
_HOSTILE = (
    "cost_usd = NULL",
    "cost_usd = -0.0",
    "cost_usd = -1.0",
    "cost_usd = 9e999",
    "cost_usd = 'x'",
    "cost_usd = '0.1'",
    "cost_usd = 9007199254740992.0",
    "cost_usd = 1e-300",
    "duration_ms = NULL",
    "duration_ms = -1",
    "duration_ms = 'x'",
    "duration_ms = -0.0",
    "sample_weight = 0.5",
    "sample_weight = NULL",
    "sample_weight = 1e15",
    "name = ''",
    "name = 'A'",
    "name = 'e\u0301'",
    "model = ''",
    "prompt_name = ''",
    "prompt_version = NULL",
    "start = substr(start, 1, 10) || 'T23:59:59.999999Z'",
    "start = substr(start, 1, 10) || 'T00:00:00.000000Z'",
    "start = 'yesterday'",
    "start = '0001-01-01T00:00:00Z'",
    "kind = 'attempt'",
    "input_tokens = 1.5",
    "retries = NULL",
    "output_tokens = 4503599627370496",
)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    count=st.sampled_from((1, 9, 60)),
    seed=st.integers(0, 2**32),
    changes=st.lists(
        st.tuples(st.sampled_from(_HOSTILE), st.integers(2, 7), st.integers(0, 1)), max_size=4
    ),
    hourly=st.booleans(),
)
def test_hostile_figures_and_keys_give_the_figures_of_stats(
    tmp_path: Path,
    count: int,
    seed: int,
    changes: list[tuple[str, int, int]],
    hourly: bool,
) -> None:
    """Calls whose figures and keys a store not written by llmguard may hold (NULL,
    negative, infinite, text, past 2**53, fractional; empty or look-alike names; times
    at a day's edges or no time), one call or many, a window with calls and one without:
    the report's figures are stats' and the old way's, to the bit."""
    path = _store(tmp_path / f"calls-{len(list(tmp_path.iterdir()))}.db", _calls(count, seed))
    with sqlite3.connect(path) as conn:
        for change, every, at in changes:
            conn.execute(f"UPDATE records SET {change} WHERE rowid % {every} = {at}")
    conn.close()
    groupings = _HOURLY if hourly else _GROUPINGS
    for window in (*_WINDOWS, Window.parse("2027-01-01", None)):
        expected = _stats(path, window, groupings)
        assert _report(path, window, groupings) == expected
        assert _old_way(path, window, groupings) == expected


def test_a_sort_that_spills_to_disk_keeps_the_scans_order(tmp_path: Path) -> None:
    """Thousands of calls per group and a page cache of ten pages: SQLite's GROUP BY
    sorts in runs written to disk and merged, and still meets each group's calls in the
    scan's order, which the pass adds the costs in: a function's cost is the running sum
    of its calls' costs in row order, in the report as in the aggregates."""
    path = _store(tmp_path / "many.db", _calls(4000, 8))
    with sqlite3.connect(path) as conn:
        in_order = conn.execute(
            "SELECT name, sample_weight * coalesce(cost_usd, 0) FROM records ORDER BY rowid"
        ).fetchall()
    conn.close()
    running: dict[str, float] = {}
    for name, cost in in_order:
        running[name] = running.get(name, 0.0) + cost
    found = []
    for one_pass in (True, False):
        with Dataset.open(path, second_connection=False) as dataset:
            dataset._conn.execute("PRAGMA cache_size = 10")
            if not one_pass:
                dataset._one_pass = lambda *_: None  # type: ignore[method-assign]
            found.append(dataset.summaries(_GROUPINGS, _ALL_TIME))
    (functions, _), *_ = found[0]
    assert {group.key[0]: group.cost_usd for group in functions} == running
    assert repr(found[0]) == repr(found[1])


@pytest.mark.parametrize("reason", ["sqlite-3.45", "utf-16"])
def test_where_the_pass_cannot_answer_no_sums_are_made_for_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reason: str
) -> None:
    """An SQLite from 3.43 on (its sum() compensates rounding) or a UTF-16 file: the pass
    never answers, so the groupings' own aggregates are the jobs started ahead, as before
    the pass; the sums per combination of keys were made and thrown away, and the four
    aggregates ran after them on the main thread (a million calls: 19.9 s of CPU and
    19.7 s of wall time against 18.4 s and 16.9 s, one run each, busy machine)."""
    path = _store(tmp_path / "calls.db", _calls(200, 9))
    if reason == "utf-16":
        path = _clone(tmp_path / "utf16.db", path, encoding="UTF-16le")
    expected = _old_way(path)
    if reason == "sqlite-3.45":
        monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 45, 1))
    made: list[bool] = []
    original = Dataset._sums

    def noted(self: Dataset, *args: object, **kwargs: object) -> object:
        made.append(bool(kwargs.get("whole")))
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Dataset, "_sums", noted)
    with Dataset.open(path) as dataset:
        dataset.prefetch_summaries(_GROUPINGS, _ALL_TIME)
        assert repr(dataset.summaries(_GROUPINGS, _ALL_TIME)) == expected
    assert made == [False] * len(_GROUPINGS)


def test_row_ids_at_the_ends_of_sqlites_range(tmp_path: Path) -> None:
    """A store not written by llmguard whose rows hold the largest and smallest row ids
    SQLite has: the report's ranges of rows bound them as they are (one past the largest
    is no SQLite integer: the report failed with OverflowError)."""
    path = _store(tmp_path / "ends.db", _calls(100, 10))
    with sqlite3.connect(path) as conn:
        conn.execute(f"UPDATE records SET rowid = {2**63 - 1} WHERE rowid = 50")
        conn.execute(f"UPDATE records SET rowid = {-(2**63)} WHERE rowid = 51")
    conn.close()
    for window in _WINDOWS:
        expected = _stats(path, window)
        assert _report(path, window) == expected
        assert _report(path, window, second=True) == expected
        assert _old_way(path, window) == expected


def test_aggregates_the_pass_leaves_to_the_old_way_run_as_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fractional weights (sampling at 0.3), known only once the pass has read them: the
    four aggregates run as jobs, which the side connection takes while this thread reads
    the latencies again as pairs (they ran one after another on the main thread), with
    the same answers."""
    path = _store(tmp_path / "sampled.db", _calls(200, 11))
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE records SET sample_weight = 1 / 0.3 WHERE rowid % 3 = 0")
    conn.close()
    expected = _stats(path)
    made: list[bool] = []
    original = Dataset._sums

    def noted(self: Dataset, *args: object, **kwargs: object) -> object:
        if not kwargs.get("whole"):
            made.append(kwargs.get("conn") is not None)
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Dataset, "_sums", noted)
    assert _report(path, second=True) == expected
    assert made == [True] * len(_GROUPINGS)


def test_the_four_aggregates_keep_to_the_calls_there_were_when_they_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An SQLite from 3.43 on, where the groupings' own aggregates answer, and a sink
    appending calls after the first of them ran: the four groupings (and the latencies)
    still hold the same calls, those there were when the report started (the functions'
    table and the per-day charts added up to different totals)."""
    path = _store(tmp_path / "live.db", _calls(300, 12))
    before = _snapshot(path, tmp_path / "before.db")
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 45, 1))
    later = _calls(400, 13)[300:]
    original = Dataset._sums

    def appending(self: Dataset, *args: object, **kwargs: object) -> object:
        found = original(self, *args, **kwargs)  # type: ignore[arg-type]
        if later:
            _store(path, later)
            later.clear()
        return found

    with monkeypatch.context() as patch:
        patch.setattr(Dataset, "_sums", appending)
        found = _report(path)
    assert found == _stats(before)
