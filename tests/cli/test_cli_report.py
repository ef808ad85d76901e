"""Tests for ``llmguard report`` (llmguard.cli._report) and its charts (llmguard.cli._charts)."""

from __future__ import annotations

import os
import re
import struct
import zlib
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from llmguard._core.records import Record, Usage
from llmguard.cli import main
from llmguard.cli._charts import PALETTE, Series, chart, legend, ticks
from tests._helpers.cli_report import START, _Records, _report, _write

HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_MESSAGE = '<img src=x onerror="alert(2)"> & "quotes"'
SCHEMA_VIOLATION = "llmguard.exceptions.SchemaViolation"
# Eight metrics, charted once per function and once per prompt version.
CHARTS = 16
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _records() -> list[Record]:
    """Eight days of two functions; on the last, ``summarize@v2`` fails half its calls."""
    out = _Records()
    usage = Usage(input=100, output=20, total=120)
    for day in range(8):
        last = day == 7
        for i in range(40 if last else 10):
            at = START + timedelta(days=day, hours=8, minutes=i * 7)
            failing = last and i % 2 == 0
            call = out.add(
                "summarize",
                at,
                400.0 + i if last else 100.0 + i,
                model="gpt-4o-mini",
                prompt_name="summarize",
                prompt_version="v2" if last else "v1",
                usage=usage,
                cost_usd=0.002 if last else 0.001,
                attempt={"count": 3 if last else (2 if i % 5 == 0 else 1)},
                status="error" if failing else "ok",
                error_type=SCHEMA_VIOLATION if failing else None,
                error_message=HOSTILE_MESSAGE if failing else None,
            )
            out.add(
                "attempt 1",
                at,
                50.0,
                kind="attempt",
                trace_id=call.trace_id,
                parent_id=call.span_id,
                attempt={"number": 1, "outcome": "ok"},
            )
            if i % 3 == 0:
                out.add(
                    "feedback",
                    at + timedelta(seconds=30),
                    0.0,
                    kind="feedback",
                    trace_id=call.trace_id,
                    metadata={"score": 0.2 if last else 0.8},
                )
        for i in range(5):
            at = START + timedelta(days=day, hours=12, minutes=i)
            out.add(HOSTILE_NAME, at, 30.0 + i, model="m", usage=Usage(input=5, output=5))
        out.add("pipeline", START + timedelta(days=day, hours=13), 900.0, kind="span")
    return out.records


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """An SQLite store of `_records`."""
    return _write(tmp_path / "store.db", _records())


class _Tags(HTMLParser):
    """Collects the start tags of a page and their attributes, as a browser parses them."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_report_is_self_contained(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The page references no file or URL, and its policy forbids loading any."""
    html = _report(store)
    assert "wrote " in capsys.readouterr().out
    assert "http://" not in html
    assert "https://" not in html
    tags = _Tags(html).tags
    references = [
        (tag, name, value)
        for tag, attrs in tags
        for name, value in attrs.items()
        if name in ("src", "href", "action", "xlink:href", "srcset", "data")
    ]
    assert references == [("link", "href", "data:,")]
    policy = next(a["content"] for t, a in tags if a.get("http-equiv") == "Content-Security-Policy")
    assert policy is not None
    assert policy.startswith("default-src 'none';")
    assert [t for t, _ in tags].count("script") == 1


def test_report_escapes_record_strings(store: Path) -> None:
    """Names and error messages from records appear escaped, never as markup."""
    html = _report(store)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert HOSTILE_NAME not in html
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt; &amp; &quot;quotes&quot;" in html
    tags = _Tags(html).tags
    assert "img" not in {t for t, _ in tags}
    assert not [name for _, attrs in tags for name in attrs if name.startswith("on")]


def test_report_has_every_section(store: Path) -> None:
    """Headline, drift, both chart sections, both tables and the notable calls are there."""
    html = _report(store, "--title", "Weekly <review>")
    assert "<h1>Weekly &lt;review&gt;</h1>" in html
    for heading in (
        "Drift",
        "Per function",
        "Per prompt version",
        "Functions",
        "Prompt versions",
        "Notable calls",
    ):
        assert f"<h2>{heading}</h2>" in html
    assert html.count('<svg class="chart"') == CHARTS
    assert 'class="plot empty"' not in html
    # 70 + 40 summarize calls, 40 of the other function, 8 spans.
    assert '<div class="v">158</div>' in html
    assert "summarize@v1" in html
    assert "summarize@v2" in html
    assert f"llmguard show {store} " in html
    assert "one point per day" in html


def test_report_shows_the_drift_of_the_last_day(store: Path) -> None:
    """By default the last day is checked against the week before, and the failures show."""
    html = _report(store)
    drift = html[html.index("<h2>Drift</h2>") : html.index("<h2>Per function</h2>")]
    assert "Current window 2026-03-08 00:00 to 2026-03-09 00:00" in drift
    assert "the baseline 2026-03-01 00:00 to 2026-03-08 00:00" in drift
    rows = re.findall(r"<tr>(.*?)</tr>", drift)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows]
    failure = [c for c in cells if c[:3] == ["function", "summarize", "failure rate"]]
    assert failure
    assert failure[0][3:6] == ["0.0%", "50.0%", "+50.0 pp"]
    # Each prompt version is in one window only, so they are noted, not compared.
    assert "prompt/summarize@v2: only in the current window" in drift


def test_report_without_drift_says_so(store: Path) -> None:
    """Two quiet windows give a no-drift line instead of a table."""
    html = _report(
        store, "--baseline", "2026-03-01..2026-03-04", "--current", "2026-03-04..2026-03-08"
    )
    drift = html[html.index("<h2>Drift</h2>") : html.index("<h2>Per function</h2>")]
    assert "No drift: none of the" in drift
    assert "<table>" not in drift


def test_report_with_too_few_calls_compares_nothing(tmp_path: Path) -> None:
    """A store too small for any comparison says that nothing was compared."""
    out = _Records()
    for i in range(3):
        out.add("f", START + timedelta(hours=i), 10.0)
    html = _report(_write(tmp_path / "small.db", out.records))
    assert "Nothing compared" in html
    assert "No call in this window names a prompt version." in html


def test_report_reads_json_lines_alike(store: Path, tmp_path: Path) -> None:
    """A JSON Lines file of the same records gives the same page, but for its name."""
    jsonl = _write(tmp_path / "records.jsonl", _records())
    from_store = _report(store).replace(str(store), "X").replace(store.name, "X")
    from_jsonl = _report(jsonl).replace(str(jsonl), "X").replace(jsonl.name, "X")
    strip = re.compile(r"<footer>.*?</footer>", re.DOTALL)
    assert strip.sub("", from_store) == strip.sub("", from_jsonl)


def test_window_limits_the_report(store: Path) -> None:
    """``--since`` / ``--until`` keep only the calls between them."""
    html = _report(store, "--since", "2026-03-02", "--until", "2026-03-04")
    assert "calls from 2026-03-02 08:00 to 2026-03-03 13:00" in html
    assert "summarize@v2" not in html


def test_drift_windows_are_clipped_to_the_report_window(store: Path) -> None:
    """A drift window reaching outside ``--since`` / ``--until`` is cut down to them."""
    html = _report(store, "--since", "2026-03-02", "--current", "2026-02-01..2026-02-02")
    assert "Current window 2026-03-02 00:00 to 2026-03-02 00:00" in html
    assert "Nothing compared" in html


def test_empty_window_is_an_error(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A window without calls exits 2 with one line saying so."""
    out = store.with_name("report.html")
    assert main(["report", str(store), "-o", str(out), "--since", "2027-01-01"]) == 2
    assert "no calls in" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("option", "message"),
    [("--baseline", "--baseline: a range is START..END"), ("--current", "--current: a range")],
)
def test_bad_drift_window_is_an_error(
    store: Path, capsys: pytest.CaptureFixture[str], option: str, message: str
) -> None:
    """A drift window that is not START..END exits 2 naming the option."""
    assert main(["report", str(store), "-o", str(store.with_name("r.html")), option, "x"]) == 2
    assert message in capsys.readouterr().err


def test_unwritable_output_is_an_error(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An output path in a missing directory exits 2 naming the file."""
    target = store.parent / "missing" / "report.html"
    assert main(["report", str(store), "-o", str(target)]) == 2
    assert f"{target}: cannot write" in capsys.readouterr().err


def test_output_is_required(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without ``-o`` the command is a usage error."""
    assert main(["report", str(store)]) == 2
    assert "-o/--output" in capsys.readouterr().err


# -- charts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0.0, 1.0, [0.0, 0.25, 0.5, 0.75, 1.0]),
        (0.0, 0.37, [0.0, 0.1, 0.2, 0.3, 0.4]),
        (0.0, 0.0, [0.0, 0.25, 0.5, 0.75, 1.0]),
        (-3.0, 7.0, [-5.0, -2.5, 0.0, 2.5, 5.0, 7.5]),
        (0.0, 7.0, [0.0, 2.0, 4.0, 6.0, 8.0]),
        (0.0, 612.0, [0.0, 200.0, 400.0, 600.0, 800.0]),
    ],
)
def test_ticks_are_round_and_cover_the_range(
    low: float, high: float, expected: list[float]
) -> None:
    """Ticks step by 1, 2, 2.5 or 5 times a power of ten and enclose the values."""
    assert ticks(low, high) == expected


def test_line_chart_breaks_at_missing_values() -> None:
    """A bucket without a value splits the line; a lone point still gets a marker."""
    svg = chart(
        "t",
        ["a", "b", "c", "d", "e"],
        ["A", "B", "C", "D", "E"],
        [Series("s", 0, [1.0, 2.0, None, 3.0, None])],
        stacked=False,
        axis=str,
        show=str,
        empty="none",
    )
    path = re.search(r'<path d="([^"]*)"', svg)
    assert path is not None
    assert path.group(1).count("M") == 1
    assert svg.count("<circle") == 3
    assert "<title>C</title>" in svg


def test_long_lines_mark_only_lone_points() -> None:
    """Past 45 buckets points are not marked, except those with no neighbour to join."""
    values: list[float | None] = [1.0] * 50
    values[10] = values[12] = None
    svg = chart(
        "t",
        ["x"] * 50,
        ["X"] * 50,
        [Series("s", 0, values)],
        stacked=False,
        axis=str,
        show=str,
        empty="none",
    )
    assert svg.count("<circle") == 1
    path = re.search(r'<path d="([^"]*)"', svg)
    assert path is not None
    assert path.group(1).count("M") == 2


def test_stacked_chart_puts_bars_on_each_other() -> None:
    """The second series' bar starts where the first one's ends."""
    svg = chart(
        "t",
        ["a"],
        ["A"],
        [Series("one", 0, [1.0]), Series("two", 1, [3.0])],
        stacked=True,
        axis=str,
        show=str,
        empty="none",
    )
    first, second = (
        {k: float(v) for k, v in re.findall(r'(\w+)="([\d.]+)"', rect)}
        for rect in re.findall(r'<g class="s s\d"[^>]*><rect ([^>]*)/>', svg)
    )
    assert first["y"] == pytest.approx(second["y"] + second["height"])
    assert second["height"] == pytest.approx(3 * first["height"])
    assert "one: 1.0\ntwo: 3.0" in svg


def test_chart_without_values_says_so() -> None:
    """A chart whose series have no value shows its empty message and draws nothing."""
    svg = chart(
        "Feedback <mean>",
        ["a"],
        ["A"],
        [Series("s", 0, [None])],
        stacked=False,
        axis=str,
        show=str,
        empty="no feedback",
    )
    assert 'class="plot empty"' in svg
    assert ">no feedback</text>" in svg
    assert "Feedback &lt;mean&gt;" in svg
    assert "<path" not in svg


def test_legend_escapes_labels_and_cycles_colours() -> None:
    """Legend entries are escaped, and colours repeat past the palette."""
    html = legend([f"<{i}>" for i in range(len(PALETTE) + 1)])
    assert "&lt;0&gt;" in html
    assert html.count(PALETTE[0]) == 2


# -- in a browser -----------------------------------------------------------------------------


def _unavailable() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium through Playwright; skipped without them unless ``CI`` is set."""
    reason = _unavailable()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _colours(png: bytes) -> set[tuple[int, int, int]]:
    """The distinct colours of an 8-bit, non-interlaced RGB or RGBA PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, header, data = 8, b"", b""
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        chunk = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            data += chunk
        pos += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0)
    assert colour_type in (2, 6)
    channels = 3 if colour_type == 2 else 4
    raw, stride = zlib.decompress(data), width * channels
    previous = bytearray(stride)
    colours: set[tuple[int, int, int]] = set()
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = previous[i]
            c = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        colours.update(zip(line[0::channels], line[1::channels], line[2::channels], strict=True))
        previous = line
    return colours


def _rgb(colour: str) -> tuple[int, int, int]:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))


_GEOMETRY = """
() => Array.from(document.querySelectorAll("svg.chart")).map((svg) => ({
  width: svg.getBoundingClientRect().width,
  drawn: Array.from(svg.querySelectorAll(".s path, .s rect, .s circle")).filter((mark) => {
    const box = mark.getBBox();
    return box.width > 0 && (box.height > 0 || mark.tagName === "path");
  }).length,
}))
"""


def test_report_draws_in_chromium(browser: Any, store: Path) -> None:
    """The page opens without console errors and draws every chart with visible marks."""
    _report(store)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(store.with_name("report.html").as_uri())
    charts = page.evaluate(_GEOMETRY)
    assert len(charts) == CHARTS
    assert all(c["width"] > 200 and c["drawn"] > 0 for c in charts)
    shot = page.screenshot(full_page=True)
    assert len(shot) > 50_000
    first = page.locator("svg.chart").first.screenshot()
    colours = _colours(first)
    assert _rgb(PALETTE[0]) in colours
    assert _rgb(PALETTE[1]) in colours
    assert len(colours) > 20
    # The script runs (its hash is in the policy): a legend entry brings its series forward.
    page.locator("[data-series] .legend button").first.click()
    section = page.locator("[data-series]").first
    assert section.get_attribute("data-focus") == "0"
    dimmed = section.locator(".s1").first.evaluate("e => getComputedStyle(e).opacity")
    assert float(dimmed) < 0.5
    page.close()
    assert errors == []


def test_report_draws_without_scripts(browser: Any, store: Path) -> None:
    """With JavaScript off the charts are drawn all the same."""
    _report(store)
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.goto(store.with_name("report.html").as_uri())
    assert page.locator("svg.chart").count() == CHARTS
    colours = _colours(page.locator("svg.chart").nth(1).screenshot())
    assert any(colour in colours for colour in map(_rgb, PALETTE[:2]))
    context.close()
