"""Attacks on the commands by the person running them: the report written over its own
records, a report piped into a reader that goes away, a disk that fills mid-report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from llmguard.cli import main
from llmguard.sinks import JSONLSink, SQLiteSink
from tests._helpers.cli_stores import _records
from tests._helpers.reliability import ROOT, unmeasured_env


def _store(path: Path) -> Path:
    sink = SQLiteSink(path) if path.suffix == ".db" else JSONLSink(path)
    sink.emit(_records())
    sink.close()
    return path


@pytest.mark.parametrize("suffix", [".db", ".jsonl"])
@pytest.mark.parametrize("spelling", ["same", "dotted", "symlink", "hardlink"])
def test_a_report_over_its_own_records_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str, spelling: str
) -> None:
    """``report X -o X`` (a typo, or another name for the same file) would replace the
    records with the page: it is refused with exit status 2 and the file is unchanged."""
    path = _store(tmp_path / f"calls{suffix}")
    before = path.read_bytes()
    output = {
        "same": path,
        "dotted": tmp_path / "." / path.name,
        "symlink": tmp_path / "link.html",
        "hardlink": tmp_path / "hard.html",
    }[spelling]
    if spelling == "symlink":
        output.symlink_to(path)
    elif spelling == "hardlink":
        os.link(path, output)
    assert main(["report", str(path), "-o", str(output)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"llmguard: error: {output}: ")
    assert "records" in err
    assert path.read_bytes() == before
    assert main(["stats", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["groups"]


def test_a_report_over_the_stores_write_ahead_log_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The store's ``-wal`` file holds committed records too: writing the page there
    is refused as well."""
    path = _store(tmp_path / "calls.db")
    wal = tmp_path / "calls.db-wal"
    assert main(["report", str(path), "-o", str(wal)]) == 2
    assert "records" in capsys.readouterr().err


def test_a_report_piped_into_a_reader_that_went_away_exits_quietly(tmp_path: Path) -> None:
    """``llmguard report calls.db -o /dev/stdout | head -c 10``: the reader closing the
    pipe ends the command with status 0 and nothing on stderr, like the other commands."""
    path = _store(tmp_path / "calls.db")
    read, write = os.pipe()
    os.close(read)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "llmguard.cli", "report", str(path), "-o", "/dev/stdout"],
        stdout=write,
        stderr=subprocess.PIPE,
        env=env,
        timeout=120,
        check=False,
    )
    os.close(write)
    assert done.stderr == b""
    assert done.returncode == 0


def test_a_report_cut_short_by_a_full_disk_keeps_the_previous_one(tmp_path: Path) -> None:
    """A write that fails midway (a file-size limit, as a full disk) exits with 2 and
    leaves the previous report whole, not a truncated page in its place."""
    path = _store(tmp_path / "calls.db")
    output = tmp_path / "report.html"
    output.write_text("<p>yesterday's report</p>")
    code = f"""
import resource, signal, sys
from llmguard.cli import main
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
# Room for the store's 32 KiB shared-memory file, not for the 64 KiB page.
resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
sys.exit(main(["report", {str(path)!r}, "-o", {str(output)!r}]))
"""
    # Unmeasured: under the file-size limit coverage wrote a cut data file (40,000
    # bytes) that `coverage combine` could not read.
    env = unmeasured_env(PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.decode().startswith(f"llmguard: error: {output}: cannot write: ")
    assert output.read_text() == "<p>yesterday's report</p>"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("report")) == [
        "report.html"
    ]


def test_a_store_that_cannot_be_read_for_a_full_disk_is_not_called_damaged(
    tmp_path: Path,
) -> None:
    """A reader that cannot write the store's shared-memory file (a full disk, a
    file-size limit) is told the store cannot be read now and why, not that it is no
    llmguard store: nothing is wrong with the file."""
    path = _store(tmp_path / "calls.db")
    code = f"""
import resource, signal, sys
from llmguard.cli import main
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
sys.exit(main(["stats", {str(path)!r}]))
"""
    # Unmeasured: coverage could not save its data under the file-size limit either.
    env = unmeasured_env(PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 2
    err = done.stderr.decode()
    assert err == f"llmguard: error: '{path}' cannot be read now: disk I/O error\n"


def _command(argv: list[str], **options: object) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "llmguard.cli", *argv],
        stderr=subprocess.PIPE,
        env=env,
        timeout=120,
        check=False,
        **options,
    )


@pytest.mark.parametrize("command", [["stats"], ["stats", "--json"], ["show"]])
def test_output_to_a_full_device_is_named(tmp_path: Path, command: list[str]) -> None:
    """``llmguard stats calls.db > /dev/full``: exit 2 and one line saying standard output
    could not be written and why, not an unexpected OSError."""
    path = _store(tmp_path / "calls.db")
    argv = [command[0], str(path), *command[1:]]
    if command == ["show"]:
        argv.append(f"{1:032x}")
    with open("/dev/full", "wb") as full:
        done = _command(argv, stdout=full)
    assert done.returncode == 2
    assert done.stderr.decode() == (
        "llmguard: error: cannot write to standard output: No space left on device\n"
    )


def test_a_closed_standard_output_is_named(tmp_path: Path) -> None:
    """A command started with its standard output closed (``>&-``) says so, not
    ``unexpected AttributeError: 'NoneType' object has no attribute 'write'``."""
    path = _store(tmp_path / "calls.db")
    done = _command(["stats", str(path)], stdout=None, preexec_fn=lambda: os.close(1))
    assert done.returncode == 2
    assert done.stderr.decode() == "llmguard: error: standard output is closed\n"


@pytest.mark.parametrize("command", [["stats", "--json"], ["show", f"{1:032x}"]])
def test_records_read_from_a_pipe_are_all_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """``llmguard stats <(zcat calls.jsonl.gz)`` reads a pipe: the answer is the file's,
    with no line lost to the look at the first bytes and no warning of a torn line."""
    path = _store(tmp_path / "calls.jsonl")
    assert main([command[0], str(path), *command[1:]]) == 0
    want = capsys.readouterr()
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    data = path.read_bytes()

    def feed() -> None:
        with open(fifo, "wb") as pipe:
            pipe.write(data)

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        assert main([command[0], str(fifo), *command[1:]]) == 0
    finally:
        writer.join(timeout=30)
    got = capsys.readouterr()
    assert got.err == want.err == ""
    assert got.out.replace(str(fifo), str(path)) == want.out
