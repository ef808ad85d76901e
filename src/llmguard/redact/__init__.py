"""Redaction: replace secrets and personal data in records before any sink sees them.

`DEFAULT` is on unless configured otherwise (``lg.configure(redact=None)`` turns it off).
It replaces API keys (OpenAI, Anthropic, Stripe, Google, GitHub, Slack, AWS access key
ids), private keys, bearer tokens, JWTs, email addresses, phone numbers, US social
security numbers, card numbers (Luhn-checked) and IBANs (mod-97 checked) wherever a
string can hide in a record: the input and output (dictionary keys included), the
name, tags, model, provider and the record's other text, the error message, metadata
keys and values, the attempt and the limits. An integer of ten digits or more is
redacted when its digits are a card or phone number. The kinds and counts of what was
replaced go in the record's metadata under ``"llmguard.redacted"``; the values never do.

Each string is redacted in one linear pass: the patterns are combined into one RE2
regular expression (google-re2, whose search time is linear in the text whatever the
text holds), and validators such as the Luhn check judge its matches in Python. A
candidate met before (text packed with the same near miss) is answered from memory: its
kind, value and llmguard's own check's verdict, by the bytes around it.

Build your own with `Patterns`, or extend the default::

    tickets = Patterns({"ticket": r"\\bTICKET-\\d+\\b", **DEFAULT.patterns})
    lg.configure(redact=tickets)

`redact_text` applies patterns to one string, for applications that want the same
cleaning elsewhere; `Patterns.redact_many` cleans many strings, and
`Patterns.redact_records` many records, in one search.
"""

from llmguard.redact._patterns import SECRET_GROUP, PatternSpec, Validator
from llmguard.redact._records import METADATA_KEY
from llmguard.redact._redactor import DEFAULT, Patterns, redact_text

__all__ = [
    "DEFAULT",
    "METADATA_KEY",
    "SECRET_GROUP",
    "PatternSpec",
    "Patterns",
    "Validator",
    "redact_text",
]

Patterns.__module__ = __name__  # reprs and tracebacks name the module users import
