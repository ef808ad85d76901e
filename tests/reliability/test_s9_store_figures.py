"""The figures no call can have are left out of a store of any size, in the queries the
commands run anyway: the check used to be one more scan, made only up to 64 MiB, so a
larger store added a weight of -1 or a latency of 'slow' into its figures."""

from __future__ import annotations

import dataclasses
import json
import math
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard.cli._dataset as dataset_module
from llmguard.cli import main
from llmguard.cli._dataset import _FIGURES, Dataset, _figures_sql, _impossible_values
from llmguard.sinks import SQLiteSink
from tests._helpers.cli_stores import _records


def _stores(tmp_path: Path, damage: str) -> tuple[Path, Path]:
    """The same calls in two stores, the second with one more call, damaged."""
    calls = [r for r in _records() if r.kind == "llm"]
    paths = []
    for name, extra in (("healthy", []), ("damaged", [calls[0]])):
        path = tmp_path / f"{name}.db"
        sink = SQLiteSink(path)
        sink.emit([*calls, *(dataclasses.replace(r, span_id="e" * 16) for r in extra)])
        sink.close()
        paths.append(path)
    with sqlite3.connect(paths[1]) as conn:
        conn.execute(damage, ("e" * 16,))
    conn.close()
    return paths[0], paths[1]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize(
    "damage",
    [
        "UPDATE records SET sample_weight = -1 WHERE span_id = ?",
        "UPDATE records SET duration_ms = 'slow' WHERE span_id = ?",
        "UPDATE records SET cost_usd = 1e300 WHERE span_id = ?",
        "UPDATE records SET output_tokens = -8 WHERE span_id = ?",
    ],
)
@pytest.mark.parametrize(
    "command",
    [
        ["stats", "--json"],
        [
            "drift",
            "--baseline",
            "2026-01-01..2026-01-02",
            "--current",
            "2026-01-02..2026-01-04",
            "--min-calls",
            "2",
            "--json",
        ],
    ],
    ids=lambda command: command[0],
)
def test_a_large_store_leaves_impossible_figures_out_too(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    damage: str,
    command: list[str],
) -> None:
    """With every store over the old size limit (patched to 0 bytes, for a store that
    would take long to write), the damaged call is left out and said, as in a small one."""
    monkeypatch.setattr(dataset_module, "FIGURES_CHECK_MAX_BYTES", 0, raising=False)
    healthy, damaged = _stores(tmp_path, damage)
    want = _run([command[0], str(healthy), *command[1:]], capsys)
    got = _run([command[0], str(damaged), *command[1:]], capsys)
    assert (got[0], got[1].replace(str(damaged), str(healthy))) == want[:2]
    (warning,) = got[2].splitlines()
    assert warning.startswith(f"llmguard: warning: {damaged}: skipped 1 record whose figures")
    assert "span 'eeeeeeeeeeeeeeee' has " + damage.split(" SET ")[1].split(" = ")[0] in warning


def test_show_leaves_the_record_out_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``show`` of a trace with a damaged span draws the others and warns once."""
    _, damaged = _stores(tmp_path, "UPDATE records SET sample_weight = 0 WHERE span_id = ?")
    trace_id = _records()[0].trace_id
    status, out, err = _run(["show", str(damaged), trace_id], capsys)
    assert status == 0
    assert "eeeeeeeeeeeeeeee" not in out
    assert "skipped 1 record whose figures" in err


_VALUES = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.sampled_from([0, 0.0, -0.0, 2**53, 2**53 + 1, -(2**53), -(2**53) - 1, math.inf]),
    st.text(max_size=3),
    st.binary(max_size=3),
)


@settings(max_examples=150, deadline=None)
@given(values=st.tuples(*(_VALUES for _ in _FIGURES)))
def test_sql_and_python_apply_one_rule(values: tuple[object, ...]) -> None:
    """The condition a store's queries use and the check of the JSON Lines loader agree
    on every row of values SQLite can hold."""
    names = [name for name, *_ in _FIGURES]
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE TABLE records ({', '.join(names)})")
    conn.execute(f"INSERT INTO records VALUES ({', '.join('?' * len(names))})", values)
    stored = conn.execute(f"SELECT {', '.join(names)} FROM records").fetchone()
    (fits,) = conn.execute(
        f"SELECT coalesce(({_figures_sql(lambda name: name)}), 0) FROM records"
    ).fetchone()
    conn.close()
    assert bool(fits) == (_impossible_values(stored) is None)


def test_the_json_lines_check_names_the_column(tmp_path: Path) -> None:
    """A JSON Lines record breaking the rule is counted at load with its column."""
    record = json.loads(_records()[0].to_json())
    record["usage"]["output"] = -3
    path = tmp_path / "calls.jsonl"
    path.write_text(json.dumps(record) + "\n" + _records()[1].to_json().decode() + "\n")
    with Dataset.open(path) as dataset:
        assert dataset.impossible == 1
        assert dataset.impossible_example == f"span {record['span_id']!r} has output_tokens = -3"


def test_a_store_with_feedback_and_an_impossible_figure_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Feedback scores are joined to their calls through a temporary table that lacks
    the figure columns; the figures are checked as it is made, so a store holding both
    feedback and an impossible figure is read, without the damaged call."""
    path = tmp_path / "store.db"
    sink = SQLiteSink(path)
    sink.emit(_records())
    sink.close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE records SET duration_ms = -1 WHERE span_id = ?", (f"{2:016x}",))
    conn.close()
    status, out, err = _run(["stats", str(path), "--json"], capsys)
    assert status == 0, err
    document = json.loads(out)
    assert document["total"]["records"] == 7
    assert document["total"]["feedback_count"] == 3
    assert "skipped 1 record whose figures" in err
