"""Redaction: replace secrets and personal data in records before any sink sees them.

`DEFAULT` is on unless configured otherwise (``lg.configure(redact=None)`` turns it off).
It replaces API keys (OpenAI, Anthropic, AWS access key ids), bearer tokens, JWTs,
email addresses, phone numbers, card numbers (Luhn-checked) and IBANs (mod-97
checked) in a record's input, output, error message, metadata values and attempt
errors. The kinds and counts of what was replaced go in the record's metadata under
``"llmguard.redacted"``; the values never do.

Build your own with `Patterns`, or extend the default::

    ssn = Patterns({**DEFAULT.patterns, "ssn": r"\\b\\d{3}-\\d{2}-\\d{4}\\b"})
    lg.configure(redact=ssn)

`redact_text` applies patterns to one string, for applications that want the same
cleaning elsewhere.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmguard._core.records import Record

__all__ = ["DEFAULT", "METADATA_KEY", "PatternSpec", "Patterns", "Validator", "redact_text"]

METADATA_KEY = "llmguard.redacted"
"""The metadata key holding ``{kind: count}`` of what a `Patterns` redactor replaced."""

Validator = Callable[[str], bool]
"""Decides whether a regex match really is the kind of value it looks like."""

PatternSpec = re.Pattern[str] | str | tuple[re.Pattern[str] | str, Validator | None]
"""A regex (compiled or not), or a regex with a validator of its matches."""

# Replacing the matches of one pass can, rarely, bring new text next to each other --
# a chain of phone-like numbers uncovers one more per pass -- so passes repeat until
# nothing more matches and redacting twice is the same as once. Each pass is linear;
# the cap bounds the whole, and is far above any chain seen by the fuzz tests (~6).
_MAX_PASSES = 32


class Patterns:
    """A redactor replacing the matches of named regular expressions in a record.

    Called with a record, it returns the record with every match in its content
    replaced by ``replacement`` (``"[email]"`` by default) and the counts of each
    kind replaced added to ``metadata["llmguard.redacted"]``; a record with nothing
    to replace comes back as the very same object. Dict keys are left as they are.

    Args:
        patterns: Kind name to pattern: a regex (string or compiled), or a pair
            ``(regex, validator)`` where ``validator(match_text) -> bool`` says whether
            a match is really that kind (e.g. a Luhn check). Patterns apply in order.
        replacement: What a match becomes; ``{kind}`` is replaced by the kind name.
        prefilter: Optional regex that finds something in every text any pattern
            could match (e.g. ``r"[0-9@]"``): text without it is skipped after one
            cheap search. Without it, one search of all patterns combined decides.

    Raises:
        ValueError: ``replacement`` has a placeholder other than ``{kind}``.
        re.error: A pattern is not a valid regular expression.
    """

    __slots__ = ("_compiled", "_quick", "_replacements", "replacement")

    def __init__(
        self,
        patterns: Mapping[str, PatternSpec],
        replacement: str = "[{kind}]",
        *,
        prefilter: re.Pattern[str] | str | None = None,
    ) -> None:
        try:
            replacements = {kind: replacement.format(kind=kind) for kind in patterns}
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"replacement may only use the placeholder {{kind}}, not {replacement!r}"
            ) from exc
        compiled: list[tuple[str, re.Pattern[str], Validator | None]] = []
        for kind, spec in patterns.items():
            regex, validator = spec if isinstance(spec, tuple) else (spec, None)
            compiled.append((kind, re.compile(regex), validator))
        self.replacement = replacement
        self._replacements = replacements
        self._compiled = tuple(compiled)
        self._quick = (
            _combine([regex for _, regex, _ in compiled])
            if prefilter is None
            else re.compile(prefilter)
        )

    @property
    def patterns(self) -> dict[str, tuple[re.Pattern[str], Validator | None]]:
        """The compiled patterns by kind, in order, to build an extended `Patterns`."""
        return {kind: (regex, validator) for kind, regex, validator in self._compiled}

    def __repr__(self) -> str:
        return f"Patterns({list(self._replacements)!r}, replacement={self.replacement!r})"

    def redact(self, text: str) -> tuple[str, dict[str, int]]:
        """The text with every match replaced, and how many of each kind were."""
        if not self._might_match(text):
            return text, {}
        counts: dict[str, int] = {}
        for _ in range(_MAX_PASSES):
            before = sum(counts.values())
            for kind, regex, validator in self._compiled:
                text = self._substitute(text, kind, regex, validator, counts)
            if sum(counts.values()) == before:
                break
        return text, counts

    def __call__(self, record: Record) -> Record:
        """The record with its content redacted (the same object if nothing matched)."""
        counts: dict[str, int] = {}
        changes: dict[str, Any] = {}
        for name in ("input", "output", "error_message"):
            value = getattr(record, name)
            new = self._walk(value, counts)
            if new is not value:
                changes[name] = new
        metadata = record.metadata
        new_metadata = {
            key: value if key == METADATA_KEY else self._walk(value, counts)
            for key, value in metadata.items()
        }
        attempt = record.attempt
        if attempt is not None and "errors" in attempt:
            errors = attempt["errors"]
            new_errors = self._walk(errors, counts)
            if new_errors is not errors:
                changes["attempt"] = {**attempt, "errors": new_errors}
        if not counts:
            return record
        merged = dict(metadata.get(METADATA_KEY) or {})
        for kind, count in counts.items():
            merged[kind] = merged.get(kind, 0) + count
        new_metadata[METADATA_KEY] = merged
        changes["metadata"] = new_metadata
        return dataclasses.replace(record, **changes)

    def _might_match(self, text: str) -> bool:
        quick = self._quick
        if quick is not None:
            return quick.search(text) is not None
        return any(regex.search(text) for _, regex, _ in self._compiled)

    def _substitute(
        self,
        text: str,
        kind: str,
        regex: re.Pattern[str],
        validator: Validator | None,
        counts: dict[str, int],
    ) -> str:
        replacement = self._replacements[kind]
        found = 0

        def replace(match: re.Match[str]) -> str:
            nonlocal found
            if validator is not None and not validator(match.group()):
                return match.group()
            found += 1
            return replacement

        text = regex.sub(replace, text)
        if found:
            counts[kind] = counts.get(kind, 0) + found
        return text

    def _walk(self, value: Any, counts: dict[str, int]) -> Any:
        # Returns the same object when nothing inside it changed.
        if isinstance(value, str):
            new, found = self.redact(value)
            if not found:
                return value
            for kind, count in found.items():
                counts[kind] = counts.get(kind, 0) + count
            return new
        if isinstance(value, Mapping):
            items = {key: self._walk(item, counts) for key, item in value.items()}
            if all(items[key] is item for key, item in value.items()):
                return value
            return items
        if isinstance(value, (list, tuple)):
            walked = [self._walk(item, counts) for item in value]
            if all(new is old for new, old in zip(walked, value, strict=True)):
                return value
            return walked if isinstance(value, list) else tuple(walked)
        return value


def redact_text(
    text: str, patterns: Patterns | Mapping[str, PatternSpec] | None = None
) -> tuple[str, dict[str, int]]:
    """Replace the matches of ``patterns`` (`DEFAULT` if not given) in one string.

    Returns:
        The redacted text and the number of matches replaced by kind, e.g.
        ``("mail [email]", {"email": 1})``.
    """
    if patterns is None:
        patterns = DEFAULT
    elif not isinstance(patterns, Patterns):
        patterns = Patterns(patterns)
    return patterns.redact(text)


def _combine(regexes: list[re.Pattern[str]]) -> re.Pattern[str] | None:
    # One search over the text decides whether any pattern can match at all.
    if not regexes or len({regex.flags for regex in regexes}) != 1:
        return None
    try:
        return re.compile("|".join(f"(?:{r.pattern})" for r in regexes), regexes[0].flags)
    except re.error:
        return None


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _luhn(text: str) -> bool:
    digits = _digits(text)
    if len(set(digits)) == 1:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _iban(text: str) -> bool:
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _bearer(text: str) -> bool:
    token = text.split(None, 1)[1]
    return any(not ch.isalpha() for ch in token.rstrip("=").strip("._~+/-"))


def _phone(text: str) -> bool:
    count = len(_digits(text))
    if text.startswith("+"):
        return 8 <= count <= 15
    if text.startswith("0"):
        # National European forms: one kind of separator throughout, 9 to 12 digits.
        separators = {ch for ch in text if not ch.isdigit()}
        return 9 <= count <= 12 and len(separators) <= 1
    return count == 10


_A = re.ASCII

# Patterns start with their literal text where they have one, and check what comes
# before it in a lookbehind after it, so that the regex engine can skip ahead fast.

_API_KEY = r"sk-(?<![\w-]sk-)(?=[\w-]*\d)[\w-]{20,}"
_AWS_KEY = r"A[KS]IA(?<![A-Za-z0-9]A[KS]IA)[A-Z0-9]{16}(?![A-Za-z0-9])"
_JWT = r"eyJ(?<![\w-]eyJ)[\w-]{8,}\.[\w-]{8,}\.[\w-]*"
_BEARER = r"[Bb]earer(?<!\w[Bb]earer)[ \t]+[\w.~+/-]{6,}=*"
_EMAIL = r"(?<![\w.%+-])[\w.%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}(?![\w-])"
_IBAN = r"[A-Z]{2}(?<!\w[A-Z]{2})\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?(?!\w)"
_CARD = r"\d(?<![\w-]\d)(?:[ -]?\d){12,18}(?![\w-])"
_PHONE = (
    r"(?:"
    # International: +country code, then groups after separators or in parentheses.
    r"\+(?<![\w+.-]\+)(?:\d{7,15}|\d{1,3}(?:[ .-]?\(\d{1,5}\)[ .-]?\d{1,10}|[ .-]\d{1,10}){1,6})"
    # North American: (415) 555-2671, 415-555-2671, 415.555.2671, 415 555 2671.
    r"|(?:\((?<![\w+.-]\()\d{3}\)[ ]?|\d(?<![\w+.-]\d)\d{2}[ .-])\d{3}[ .-]\d{4}"
    # National European forms with a leading 0: 020 7946 0958, 06 12 34 56 78.
    r"|0(?<![\w+.-]0)\d{1,4}(?:[ .-]\d{2,8}){1,4}"
    r")(?![\w-]|\.\d)"
)

DEFAULT = Patterns(
    {
        "api_key": re.compile(_API_KEY, _A),
        "aws_access_key": re.compile(_AWS_KEY, _A),
        "jwt": re.compile(_JWT, _A),
        "bearer_token": (re.compile(_BEARER, _A), _bearer),
        "email": re.compile(_EMAIL, _A),
        "iban": (re.compile(_IBAN, _A), _iban),
        "card": (re.compile(_CARD, _A), _luhn),
        "phone": (re.compile(_PHONE, _A), _phone),
    },
    # Every default kind needs a digit, an @, or one of these words to match.
    prefilter=re.compile(r"[0-9@]|eyJ|[Bb]earer|A[KS]IA"),
)
"""The default redactor: API keys, bearer tokens, JWTs, emails, phones, cards, IBANs."""
