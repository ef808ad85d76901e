"""Type-check the ```python blocks of README.md and docs/*.md with ``mypy --strict``.

Each page's blocks are joined in order into one module, as tests/test_docs.py runs
them, and written to a temporary directory as ``doc_<page>.py``; mypy then checks that
directory with the project's settings. A block keeps its line numbers from the page
(the gaps are blank lines), and mypy's messages name the page, so an error reads as
``docs/tools.md:42: error: ...``. The exit code is mypy's.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The pattern of tests/test_docs.py: a python block, also one indented under a list item.
FENCE = re.compile(r"^( *)```python\n(.*?)^\1```", re.DOTALL | re.MULTILINE)


def page_module(text: str) -> str:
    """The python blocks of a page as one module, each block on its lines of the page."""
    lines: list[str] = []
    for match in FENCE.finditer(text):
        first = text.count("\n", 0, match.start(2))  # 0-based line of the block's body
        lines.extend([""] * (first - len(lines)))
        lines.extend(textwrap.dedent(match.group(2)).splitlines())
    return "\n".join(lines) + "\n" if lines else ""


def main() -> int:
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    with tempfile.TemporaryDirectory(prefix="llmguard-docs-") as tmp:
        directory = Path(tmp)
        names: dict[str, str] = {}  # the module's file name -> the page, relative to REPO
        for page in pages:
            code = page_module(page.read_text(encoding="utf-8"))
            if not code:
                continue
            module = directory / f"doc_{page.stem}.py"
            module.write_text(code, encoding="utf-8")
            names[module.name] = page.relative_to(REPO).as_posix()
        print("checking the python blocks of:", ", ".join(names.values()), flush=True)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "mypy",
                "--strict",
                "--config-file",
                str(REPO / "pyproject.toml"),
                str(directory),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
    output = result.stdout
    for name, shown in names.items():
        output = output.replace(str(directory / name), shown)
    print(output, end="")
    print(result.stderr, end="", file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
