"""Encodings for ``count_tokens``: loaded once, never downloaded, or else an estimate.

llmguard asks tiktoken for an encoding only after checking that the file is in tiktoken's
cache and passes tiktoken's hash check, because otherwise tiktoken would download it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["Counter", "counter", "estimate", "reset"]

logger = logging.getLogger("llmguard")

Counter = Callable[[str], int]

# Where tiktoken (0.7 to 0.14, ``tiktoken_ext/openai_public.py``) downloads each encoding
# from, and the SHA-256 it checks: a cached file that fails the check is downloaded again.
_URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"
_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
_PIECE = re.compile(r"[^\W\d_]+|\d{1,3}|[^\w\s]+|_+|\n\s*")

_lock = threading.Lock()
_counters: dict[str, tuple[Counter, bool]] = {}


def counter(encoding: str) -> tuple[Counter, bool]:
    """A function counting the tokens of a text, and whether its counts are exact."""
    found = _counters.get(encoding)
    if found is None:
        with _lock:
            found = _counters.get(encoding)
            if found is None:
                found = _counters[encoding] = _load(encoding)
    return found


def reset() -> None:
    """Forget the loaded encodings (for tests)."""
    with _lock:
        _counters.clear()


def _load(encoding: str) -> tuple[Counter, bool]:
    """A counter for ``encoding``, exact if tiktoken can load it without the network."""
    try:
        import tiktoken
        import tiktoken.registry
    except ImportError:
        return _unavailable(encoding, "tiktoken is not installed")
    loaded = getattr(tiktoken.registry, "ENCODINGS", {}).get(encoding)
    if loaded is None:
        problem = _cache_problem(encoding)
        if problem:
            return _unavailable(encoding, problem)
        try:
            loaded = tiktoken.get_encoding(encoding)
        except Exception as exc:
            return _unavailable(encoding, f"tiktoken could not load it: {exc!r}")
    encode = loaded.encode_ordinary

    def count(text: str) -> int:
        return len(encode(text))

    return count, True


def _cache_problem(encoding: str) -> str | None:
    """Why tiktoken would have to download ``encoding``, or None if it is cached."""
    url = _URL.format(encoding)
    try:
        from tiktoken_ext import openai_public  # type: ignore[import-untyped]

        if url not in Path(str(openai_public.__file__)).read_text(encoding="utf-8"):
            return "this tiktoken version reads it from another place"
    except (ImportError, OSError, TypeError):
        return "tiktoken's openai_public plugin was not found"
    # The same order tiktoken.load.read_file_cached follows; "" means no cache at all.
    for variable in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if variable in os.environ:
            cache_dir = os.environ[variable]
            break
    else:
        cache_dir, variable = os.path.join(tempfile.gettempdir(), "data-gym-cache"), ""
    if not cache_dir:
        return f"{variable} is empty, which turns tiktoken's cache off"
    path = os.path.join(cache_dir, hashlib.sha1(url.encode()).hexdigest())
    try:
        data = Path(path).read_bytes()
    except OSError:
        return f"{path} does not exist"
    if hashlib.sha256(data).hexdigest() != _SHA256[encoding]:
        return f"{path} is not the expected file"
    return None


def _unavailable(encoding: str, reason: str) -> tuple[Counter, bool]:
    url = _URL.format(encoding)
    how = (
        f"download {url} into a directory as a file named "
        f"{hashlib.sha1(url.encode()).hexdigest()} and set TIKTOKEN_CACHE_DIR to that "
        f"directory, or run tiktoken.get_encoding({encoding!r}) once with network access"
    )
    logger.warning(
        "llmguard: token counts for %s are estimates (%s). To count exactly, %s",
        encoding,
        reason,
        how,
    )
    return estimate, False


def estimate(text: str) -> int:
    """Tokens in ``text`` without an encoding: see `count_tokens` for how close it is."""
    total = 0
    for piece in _PIECE.findall(text):
        size = len(piece)
        first = piece[0]
        if first.isalpha():
            if not piece.isascii():  # CJK is about a token a character, other scripts less
                wide = sum(char >= "\u2e80" for char in piece)
                total += wide + 1 + (size - wide) // 3
            elif size > 1 and piece.isupper():
                total += (size + 3) // 4
            else:
                total += 1 if size <= 11 else 1 + (size - 8) // 4
        elif first.isdigit() or first in "_\n":
            total += 1
        else:
            total += 1 + (size - 1) // 3
    return total if total or not text else 1
