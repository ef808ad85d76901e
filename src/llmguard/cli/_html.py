"""The page around a report: its styles, its one script, and the policy that pins them.

The policy names the style sheet and the script by their SHA-256, so a browser runs
nothing else, whatever text a record slipped into the page.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape

__all__ = ["MAX_SERIES", "page"]

MAX_SERIES = 8
"""Series drawn per chart section; the report's tables list every group."""

_CSS = """
:root{color-scheme:light;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--panel:#f6f8fa;
--bad:#cf222e;--ok:#1a7f37}
*{box-sizing:border-box}
body{margin:0;background:#fff;color:var(--fg);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1320px;margin:0 auto;padding:22px 28px 36px}
h1{font-size:22px;margin:0 0 2px}
h2{font-size:16px;margin:30px 0 8px;padding-bottom:5px;border-bottom:1px solid var(--line)}
h3{font-size:13.5px;margin:16px 0 6px}
.meta,.note,footer{color:var(--muted);font-size:12.5px;margin:4px 0}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(132px,1fr));gap:10px;
margin-top:16px}
.card{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:9px 12px}
.card .k{color:var(--muted);font-size:11.5px;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:21px;font-weight:600;font-variant-numeric:tabular-nums}
.card .d{color:var(--muted);font-size:12px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:10px}
figure.plot{margin:0;border:1px solid var(--line);border-radius:8px;padding:8px 10px 2px}
figcaption{font-weight:600;font-size:13px}
svg.chart{display:block;width:100%;height:auto}
.axis line{stroke:#e4e8ec;stroke-width:1}
.axis line.base{stroke:#8c959f}
.axis text,text.empty{font-size:10px;fill:#59636e}
.s path{stroke-width:1.8;stroke-linejoin:round;stroke-linecap:round}
.hit rect{fill:transparent}
.hit rect:hover{fill:rgba(31,35,40,.07)}
.legend{display:flex;flex-wrap:wrap;gap:6px;margin:4px 0 10px}
.legend button{display:inline-flex;align-items:center;gap:6px;padding:2px 10px;
font:inherit;font-size:12.5px;color:var(--fg);background:#fff;border:1px solid var(--line);
border-radius:999px;cursor:pointer}
.legend button[aria-pressed=true]{border-color:var(--fg);font-weight:600}
[data-focus] .s{opacity:.12}
FOCUS{opacity:1}
table{border-collapse:collapse;width:100%;font-size:12.5px;font-variant-numeric:tabular-nums}
th,td{padding:4px 8px;border-bottom:1px solid #eaeef2;text-align:left;white-space:nowrap;
vertical-align:top}
th{background:var(--panel);color:var(--muted);font-weight:600}
.n{text-align:right}
td.msg{white-space:normal;min-width:240px;max-width:460px;overflow-wrap:anywhere}
.scroll{overflow-x:auto}
.bad{color:var(--bad)}
.ok{color:var(--ok)}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
details{margin-top:6px;font-size:12.5px;color:var(--muted)}
details ul{margin:4px 0}
footer{margin-top:32px}
""".replace("FOCUS", ",".join(f'[data-focus="{i}"] .s{i}' for i in range(MAX_SERIES)))

_SCRIPT = """
document.querySelectorAll("[data-series] .legend button").forEach(function (button) {
  button.addEventListener("click", function () {
    var section = button.closest("[data-series]");
    var pick = button.getAttribute("data-s");
    var on = section.getAttribute("data-focus") !== pick;
    if (on) { section.setAttribute("data-focus", pick); }
    else { section.removeAttribute("data-focus"); }
    section.querySelectorAll(".legend button").forEach(function (other) {
      other.setAttribute("aria-pressed", String(on && other === button));
    });
  });
});
"""


def _digest(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def page(title: str, body: str) -> str:
    """A complete HTML document: ``body`` inside ``<main>``, with the styles and script."""
    policy = (
        f"default-src 'none'; style-src '{_digest(_CSS)}'; script-src '{_digest(_SCRIPT)}'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{escape(title)}</title>\n"
        f"<style>{_CSS}</style>\n"
        f"</head><body><main>\n{body}\n</main>"
        f"<script>{_SCRIPT}</script></body></html>\n"
    )
