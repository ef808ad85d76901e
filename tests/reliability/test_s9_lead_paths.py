"""A sink made while its file is renamed away (log rotation) is not refused.

`check_file_path` stats the file, then asks whether it is writable. A file renamed
away in between made the second question fail, and the sink's constructor raised
"it is not writable" (seen once in ten runs of the rotation attack test under load).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llmguard.exceptions import ConfigurationError
from llmguard.sinks import JSONLSink, SQLiteSink, _paths


def _renamed_on_access(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    real = _paths._access

    def access(target: Path, mode: int) -> bool:
        if Path(target) == path and path.exists():
            path.rename(path.with_suffix(".moved"))
            return False
        return real(target, mode)

    monkeypatch.setattr(_paths, "_access", access)


@pytest.mark.parametrize("sink", [JSONLSink, SQLiteSink])
def test_a_file_renamed_away_during_the_check_is_a_new_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sink: type[JSONLSink] | type[SQLiteSink]
) -> None:
    path = tmp_path / "out.db"
    path.write_bytes(b"")
    _renamed_on_access(monkeypatch, path)
    sink(path).close()
    assert path.with_suffix(".moved").exists()


def test_a_file_still_there_and_not_writable_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b"")
    monkeypatch.setattr(_paths, "_access", lambda target, mode: Path(target) != path)
    with pytest.raises(ConfigurationError, match="it is not writable"):
        JSONLSink(path)
    assert os.path.exists(path)
