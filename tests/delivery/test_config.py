"""Process-wide settings: configure(), reset() and LLMGUARD_SINK."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

import llmguard as lg
from llmguard._delivery import settings as _config
from llmguard.sinks import JSONLSink, SQLiteSink
from tests.conftest import ListSink


class NotASink:
    """Has emit() but neither flush() nor close()."""

    def emit(self, batch: object) -> None:
        """Accept a batch."""

    def __repr__(self) -> str:
        return "<NotASink>"


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("sinks", [NotASink()]),
        ("sinks", "jsonl:///trace.jsonl"),
        ("sinks", 42),
        ("service", 42),
        ("capture_content", "yes"),
        ("capture_content", 1),
        ("redact", 42),
        ("redact", [str.upper, "not callable"]),
        ("max_content_bytes", 255),
        ("max_content_bytes", 1024.0),
        ("queue_size", 0),
        ("batch_size", True),
        ("batch_size", 0),
        ("exit_timeout", -1),
        ("exit_timeout", "5"),
        ("exit_timeout", float("nan")),
        ("exit_timeout", float("inf")),
        ("strict", "true"),
        ("strict", 0),
    ],
)
def test_invalid_option_raises_configuration_error_naming_option_and_value(
    option: str, value: Any
) -> None:
    """Every invalid option value raises ConfigurationError naming the option and the value."""
    bad = value[-1] if isinstance(value, list) else value
    with pytest.raises(lg.ConfigurationError) as info:
        lg.configure(**{option: value})
    message = str(info.value)
    assert option in message
    assert repr(bad) in message


def test_invalid_option_leaves_settings_unchanged() -> None:
    """A configure() call that fails changes nothing, not even its valid options."""
    before = _config.settings()
    with pytest.raises(lg.ConfigurationError):
        lg.configure(service="svc", queue_size=0)
    assert _config.settings() == before


def test_configuration_error_is_an_llmguard_error() -> None:
    """ConfigurationError belongs to llmguard's error tree."""
    with pytest.raises(lg.LLMGuardError):
        lg.configure(queue_size=0)


def test_valid_options_are_accepted_and_normalised() -> None:
    """Valid values are stored; exit_timeout becomes a float, one redactor a tuple."""
    sink = ListSink()
    settings = lg.configure(
        sinks=[sink],
        service="bot",
        capture_content=False,
        redact=str,
        max_content_bytes=256,
        queue_size=1,
        batch_size=1,
        exit_timeout=0,
        strict=True,
    )
    assert settings == lg.types.Settings(
        sinks=(sink,),
        service="bot",
        capture_content=False,
        redact=(str,),
        max_content_bytes=256,
        queue_size=1,
        batch_size=1,
        exit_timeout=0.0,
        strict=True,
    )
    assert isinstance(settings.exit_timeout, float)
    assert _config.settings() is settings


def test_configure_changes_only_the_options_given() -> None:
    """Options not passed keep the values an earlier configure() set."""
    lg.configure(service="first", exit_timeout=0.5, redact=[str, repr])
    settings = lg.configure(batch_size=7)
    assert settings.service == "first"
    assert settings.exit_timeout == 0.5
    assert settings.redact == (str, repr)
    assert settings.batch_size == 7
    assert settings.queue_size == lg.types.Settings().queue_size


def test_none_values_mean_env_sinks_no_service_and_no_redactors() -> None:
    """sinks=None, service=None and redact=None are accepted and clear earlier values."""
    lg.configure(sinks=[ListSink()], service="svc", redact=str)
    settings = lg.configure(sinks=None, service=None, redact=None)
    assert settings.sinks is None
    assert settings.service is None
    assert settings.redact == ()


def test_empty_sink_list_is_kept_apart_from_none() -> None:
    """An empty sink list (records go nowhere) is stored as (), not as None."""
    assert lg.configure(sinks=[]).sinks == ()


def test_reset_restores_defaults() -> None:
    """reset() brings every option back to its default."""
    lg.configure(
        sinks=[ListSink()],
        service="svc",
        capture_content=False,
        redact=str,
        max_content_bytes=300,
        queue_size=5,
        batch_size=2,
        exit_timeout=1,
        strict=True,
    )
    lg.reset()
    assert _config.settings() == lg.types.Settings()


def test_reset_flushes_and_closes_sinks_in_use() -> None:
    """reset() delivers what was emitted to the configured sinks, then closes them."""
    sink = ListSink()
    lg.configure(sinks=[sink])
    with lg.span("work"):
        pass
    lg.reset()
    assert [r.name for r in sink.records] == ["work"]
    assert sink.closed


def test_sinks_from_env_builds_every_comma_separated_sink(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """LLMGUARD_SINK with several URLs gives one sink per URL, in order."""
    jsonl_path = tmp_path / "traces.jsonl"
    sqlite_path = tmp_path / "traces.db"
    monkeypatch.setenv("LLMGUARD_SINK", f" jsonl:///{jsonl_path} , sqlite:///{sqlite_path} ,")
    sinks = _config.sinks_from_env()
    assert [type(s) for s in sinks] == [JSONLSink, SQLiteSink]
    assert isinstance(sinks[0], JSONLSink)
    assert isinstance(sinks[1], SQLiteSink)
    assert sinks[0].path == jsonl_path
    assert sinks[1].path == sqlite_path


@pytest.mark.parametrize("value", ["", "   "])
def test_sinks_from_env_without_a_value_gives_no_sinks(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    """An empty or blank LLMGUARD_SINK gives no sinks and no warning."""
    monkeypatch.setenv("LLMGUARD_SINK", value)
    with caplog.at_level(logging.DEBUG, logger="llmguard"):
        assert _config.sinks_from_env() == ()
    assert caplog.records == []


def test_sinks_from_env_unset_gives_no_sinks() -> None:
    """Without LLMGUARD_SINK (removed by the autouse fixture) there are no sinks."""
    assert _config.sinks_from_env() == ()


@pytest.mark.parametrize("value", ["bogus", "redis://host, ftp://host"])
def test_sinks_from_env_bad_value_logs_one_warning_naming_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    """A value with no usable part gives no sinks and exactly one warning naming each."""
    monkeypatch.setenv("LLMGUARD_SINK", value)
    with caplog.at_level(logging.DEBUG, logger="llmguard"):
        assert _config.sinks_from_env() == ()
    assert len(caplog.records) == 1
    (entry,) = caplog.records
    assert entry.name == "llmguard"
    assert entry.levelno == logging.WARNING
    for part in value.split(","):
        assert repr(part.strip()) in entry.getMessage()
