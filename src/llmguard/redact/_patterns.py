"""llmguard's own patterns, the checks of their matches, and what a pattern is."""

from __future__ import annotations

import base64
import binascii
import re
import string
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from itertools import accumulate, compress, repeat
from operator import add, sub
from typing import Any, NamedTuple

SECRET_GROUP = "secret"
"""The name of the group that marks the part of a match to replace.

RE2 has no lookbehind or lookahead: a pattern states what must surround a value by
matching it too, and names the value itself ``(?P<secret>...)``; the rest of the match
is context, which stays. A pattern without this group replaces its whole match.
"""

Validator = Callable[[str], bool]
"""Decides whether a regex match really is the kind of value it looks like."""

PatternSpec = re.Pattern[str] | str | tuple[re.Pattern[str] | str, Validator | None]
"""A regex (compiled or not), or a regex with a validator of its matches."""

AFTER = 64  # how much of the text after a rejected match a splitter reads

# The validators read the value (ASCII, by the patterns) with bytes methods that run in
# C: dense text can hold a candidate every few characters.
_NOT_DIGITS = b" .-()+"
DOUBLED = bytes.maketrans(b"0123456789", b"0246813579")  # Luhn: 2d, less 9 past 9
_DIGITS = frozenset("0123456789")
_DIGIT = re.compile("[0-9]")


def _digits(text: str) -> bytes:
    return text.encode().translate(None, _NOT_DIGITS)


def _luhn(text: str) -> bool:
    digits = _digits(text)
    if digits.count(digits[:1]) == len(digits):
        return False
    doubled = sum(digits[-2::-2].translate(DOUBLED))
    return (sum(digits[-1::-2]) + doubled - 48 * len(digits)) % 10 == 0


def _iban(text: str) -> bool:
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _bearer(text: str) -> bool:
    token = _after_scheme(text).rstrip("=").strip("._~+/-").replace(":", "")
    return bool(token) and not token.isalpha()


def _basic(text: str) -> bool:
    """An HTTP Basic credential that decodes to ``user:password``, or curl's ``-u user:pw``."""
    if text.startswith("-"):  # curl -u user:password: not a uid:gid pair of digits
        option = _CURL_OPTION.match(text)
        assert option is not None  # the pattern starts with one
        user, _, password = text[option.end() :].partition(":")
        return bool(password) and not (user.isdigit() and password.isdigit())
    token = _after_scheme(text)
    try:
        decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
        credential = decoded.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return ":" in credential and len(credential) > 1 and _CONTROL.search(credential) is None


_CONTROL = re.compile("[\x00-\x1f\x7f]")  # one character class: linear
# What may stand between an authorization scheme's name and its value: spaces and tabs,
# a no-break space and JSON's escapes of them (\t, \n, \u00a0); before Basic
# credentials, a URL's %20 too (a bearer token may hold percent escapes: bearer%20bonds%20...
# is prose). Kept apart from the value's characters, so that a repetition of it never
# backtracks. The scheme's name may come once or more: a header built from a token that
# held it already (Bearer Bearer TOKEN) left the token after the second name.
_GAP_CHARACTERS = "[ \t]|\u00a0|\\\\[tn]|\\\\u00[aA]0"
_GAP = f"(?:{_GAP_CHARACTERS})+"
# Before Basic credentials, a header's value folded onto the next line too (a line break,
# then the space or tab that continues the header).
_BASIC_GAP = f"(?:{_GAP_CHARACTERS}|%20|\r?\n[ \t])+"
_SCHEME = re.compile(f"(?:(?i:bearer){_GAP})+|(?:(?i:basic){_BASIC_GAP})+")  # disjoint: linear


# An unquoted password of curl's: to whitespace or a quote, or a JSON string's escape of
# a line break, tab or quote, whose backslash is no part of it.
_CURL_PASSWORD = r"(?:[^\s'\"\\]|\\[^\s'\"nrtu])+"


def _after_scheme(text: str) -> str:
    """The value of ``Bearer ...`` or ``Basic ...``: what follows the scheme's names and gaps."""
    scheme = _SCHEME.match(text)
    assert scheme is not None  # the kinds' patterns start with one
    return text[scheme.end() :]


# curl's option and what comes before the user: a separator, in an argument list the
# quotes and comma between two arguments, and the quote opening the value.
_CURL_OPTION = re.compile(r"(?:-[uU]|--user|--proxy-user)(?:[ \t]+|=|\\?[\"'],[ \t]*)?\\?[\"']?")


def _discord(text: str) -> bool:
    """A Discord bot token's lengths: its id part 24 to 26 characters, its HMAC 27 to 38.

    The id part is the bot's id in base64, which decodes to digits; a token of some
    other origin (detect-secrets' examples) is taken when both its id part and its HMAC
    hold a digit, as random base64 does and names in code (``Client.notify.handle...``)
    seldom do.
    """
    first, _, rest = text.partition(".")
    if not (24 <= len(first) <= 26 and 27 <= len(rest) - 7 <= 38):
        return False
    try:
        digits = base64.b64decode(first + "=" * (-len(first) % 4), b"-_", validate=True)
    except binascii.Error:
        digits = b""
    return digits.isdigit() or (_has_digit(first) and _has_digit(rest[7:]))


def _phone(text: str) -> bool:
    if text.startswith("+"):  # the first of a chain glued by + must be a number
        return 8 <= len(_digits(text[1:].split("+", 1)[0])) <= 15
    count = len(_digits(text))
    if text.startswith("0"):
        # National European forms: one kind of separator throughout, 9 to 12 digits.
        return 9 <= count <= 12 and len(set(text) - _DIGITS) <= 1
    return count == 10 or text.isdigit()  # North American, or a line of digits alone


def _phone_head(text: str, after: str, before: str) -> int:
    """How much of a run of digit groups too long for one phone number is one: 0 if none.

    Two numbers a space apart read as one run, too long to be a number, which would
    leave both. The head kept is the longest that is a number and is followed by
    another (``after`` is the text following the run); a run that is not two numbers
    (``0000 0000 0000 0000``, an IBAN's digits) stays whole, and stays.
    """
    chain = text.find("+", 1)
    first = text if chain < 0 else text[:chain]
    if len(first) <= _PHONE_DIGITS_MAX or len(_digits(first)) <= _PHONE_DIGITS_MAX:
        return 0  # not too long for one number: rejected for another reason
    for cut in range(len(first) - 1, 0, -1):
        if first[cut] != " " or not first[cut - 1].isdigit() or not _phone(text[:cut]):
            continue
        rest = _PHONE_ALONE.match(text[cut:] + after[:AFTER])
        if rest is not None and _phone(rest.group(SECRET_GROUP)):
            return cut
    return 0


def _ssn(text: str) -> bool:
    area, group, serial = text.split("-")
    never_issued = area in ("000", "666") or group == "00" or serial == "0000"
    return not never_issued and len(set(area + group + serial)) > 1


def _has_digit(text: str) -> bool:
    return _DIGIT.search(text) is not None


# RE2 syntax, read by Python's re the same way. RE2 has no lookaround, so the context a
# value needs is matched too and the value is the group named secret: "(?:^|[^\w-])"
# before one reads "at the start of the text, or after a character that is neither a
# word character nor a dash", and "(?:$|[^\w-])" after one likewise. A value whose
# context is wrong is not one (sk-learn in task-sk-learn-..., digits inside a longer
# number); a context of its own before every value also keeps redaction idempotent.

# A JSON string's escape (\n, \t, \r, \u00a0) counts as such a character before a value,
# and is tried first: text holding JSON (a tool call's arguments, an answer in JSON)
# writes a line break as a backslash and an n, which glued the value after it to a letter.
# So does a URL's percent escape (%22, %20, %2B): a value in a query string stood right
# after the escape's hex digits.
_ESCAPE = r"\\(?:[nrt]|u[0-9A-Fa-f]{4})|%[0-9A-Fa-f]{2}"
_BEFORE = rf"(?:^|{_ESCAPE}|[^\w-])"  # before most kinds' values
_BEFORE_ANY = rf"(?:^|{_ESCAPE}|\W)"  # before a value starting with its own prefix

_PRIVATE_KEY = (
    _BEFORE_ANY + r"(?P<secret>-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
    r"(?:[A-Za-z0-9+/=\r\n\t ]|\\[rnt]|(?:Proc-Type|DEK-Info|Comment|Version|Hash):[^\r\n\\]*)*"
    r"(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----)?"
    # PuTTY key files: the lines after "Private-Lines: N" are the key.
    r"|Private-Lines:(?:[A-Za-z0-9+/=\r\n\t ]|\\[rnt])*)"
)
_API_KEY = _BEFORE + r"(?P<secret>sk-[\w-]{20,})"
_STRIPE_KEY = _BEFORE + r"(?P<secret>(?:[rs]k_(?:live|test)_|whsec_)[0-9A-Za-z]{16,})"
_GITHUB_TOKEN = _BEFORE + r"(?P<secret>gh[oprsu]_[0-9A-Za-z]{36,}|github_pat_\w{22,})"
_SLACK_TOKEN = (
    _BEFORE + r"(?P<secret>(?:xox[abeoprs]|xapp)-[0-9A-Za-z-]{10,}"
    r"|xoxe\.xox[a-z]-[0-9A-Za-z-]{10,}"
    r"|(?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/[\w/+-]{10,})"
)
# The password of a URL's user information (scheme://user:password@host). The user
# and the password hold none of the characters a URL reserves, nor quotes. Each is at
# most 128 characters: unbounded, after every other kind's match (a phone number) the
# next search read on to the end of the text to learn whether a URL begun before it
# ended in an @ (quadratic: 256 KB of "+14155552671(https://a:" took 2.6 s). Wider
# bounds multiply the states of RE2's DFA past its memory (256: realistic text 12 ->
# 1,500 us/KB), and it falls back to a far slower engine.
_URL_NAMES = (
    r"(?i:https?|s?ftps?|wss?|postgres(?:ql)?|mysql|mariadb|mssql|sqlserver"
    r"|oracle|mongodb(?:\+srv)?|redis|rediss|amqps?|mqtts?|kafka|nats|ldaps?|smtps?|imaps?"
    r"|pop3s?|git|ssh|svn|jdbc:[a-z0-9]+|clickhouse|cassandra|couchdb|elasticsearch|neo4j"
    r"|snowflake|bolt)"
)
_URL_SCHEME = _URL_NAMES + "://"
_URL_PART = r"[^\s:/?#\[\]@{}\"';]"  # a character of a URL's user
# The password runs from the user's colon to the last @ of the authority: an unencoded
# @ or : inside it (p@ss, pa:ss) is part of it, as URL parsers read it; cut at the first
# @, the rest of it was left as the host.
_URL_SECRET = r"[^\s/?#\[\]{}\"']"  # a character of a URL's password
# A URL may stand percent-encoded in another's query (next=https%3A%2F%2Fuser%3Apw%40host),
# and in JSON whose encoder escapes its slashes (PHP's json_encode: https:\/\/user:pw@host).
_URL_SLASHES = r"(?:://|:\\/\\/|%3[Aa]%2[Ff]%2[Ff])"
# A password may hold a / ? or # left unencoded (postgres://u:pa/ss@host), which URL
# parsers read as the end of the authority: such a password runs to the nearest @ after
# it (lazily: the host and path after that @ stay), and `_url_secret` rejects a port and
# a path (https://host:443/@scope/pkg), which read alike.
_URL_PASSWORD = (
    rf"(?:^|{_ESCAPE}|[^\w+.-]){_URL_NAMES}{_URL_SLASHES}{_URL_PART}{{0,128}}(?::|%3[Aa])"
    rf"(?P<secret>{_URL_SECRET}{{1,128}}"
    rf"|{_URL_SECRET}{{0,128}}[/?#][^\s\"'{{}}\[\]]{{0,128}}?)(?:@|%40)"
)
_PORT = re.compile(r"[0-9]{1,5}[/?#]")  # a port, then the path: one class, bounded


def _url_secret(text: str) -> bool:
    """A URL's password, not its port before a path holding an @."""
    return _PORT.match(text) is None


# A URL whose user is an email address (smtp://me@mail.com:password@host): the user
# and the password go together, since one value cannot be two pieces of a match, and
# the user alone as context would keep the address. A kind of its own, listed before
# url_password (whose user may hold %40, as a user's characters may be escaped) and
# emails.
_URL_USER = r"[^\s:/?#\[\]{}\"';]"  # a character of a user that holds an @
_URL_CREDENTIALS = (
    rf"(?:^|{_ESCAPE}|[^\w+.-]){_URL_NAMES}{_URL_SLASHES}"
    rf"(?P<secret>{_URL_PART}{{0,128}}(?:@|%40){_URL_USER}{{0,128}}(?::|%3[Aa])"
    rf"{_URL_SECRET}{{1,128}})(?:@|%40)"
)
_GOOGLE_API_KEY = _BEFORE + r"(?P<secret>AIza[\w-]{35,})"
_AWS_KEY = rf"(?:^|{_ESCAPE}|[^A-Za-z0-9])" r"(?P<secret>A[KS]IA[A-Z0-9]{16})(?:$|[^A-Za-z0-9])"
# An AWS secret access key has no prefix: 40 base64 characters, after the name of the
# setting that holds it (aws_secret_access_key = ..., "SecretAccessKey": "...").
_AWS_SECRET = (
    rf"(?:^|{_ESCAPE}|[^A-Za-z0-9])"
    r"(?i:aws[_.-]?secret[_.-]?(?:access[_.-]?)?key|secret[_.-]?access[_.-]?key)"
    r"(?:\\?[\"'])?(?:[ \t]*(?:=>|:=|[:=])[ \t]*|[ \t]+)(?:\\?[\"'])?"
    r"(?P<secret>[A-Za-z0-9/+]{40})(?:$|[^A-Za-z0-9/+=])"
)
# Tokens with a prefix of their own, as detect-secrets knows them: GitLab's (personal,
# deploy, feed, runner, trigger... tokens), npm's, PyPI's (a macaroon whose first bytes
# name pypi.org or test.pypi.org), SendGrid's, Twilio API keys, Mailchimp's (a
# datacenter after the key), Square's. (Discord bot tokens, below, have no prefix.)
_GITLAB_TOKEN = _BEFORE + r"(?P<secret>gl(?:pat|dt|ft|soat|rt|cbt|imt|agent|ptt|oas)-[\w-]{20,})"
_NPM_TOKEN = _BEFORE + r"(?P<secret>npm_[A-Za-z0-9]{36})(?:$|[^\w-])"
_PYPI_TOKEN = _BEFORE + r"(?P<secret>pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[\w-]{50,})"
_SENDGRID_KEY = rf"(?:^|{_ESCAPE}|[^\w.-])" r"(?P<secret>SG\.[\w-]{22}\.[\w-]{43})(?:$|[^\w.-])"
_TWILIO_KEY = _BEFORE + r"(?P<secret>SK[0-9a-fA-F]{32})(?:$|[^\w-])"
_MAILCHIMP_KEY = _BEFORE + r"(?P<secret>[0-9a-f]{32}-us\d{1,2})(?:$|[^\w-])"
_SQUARE_TOKEN = _BEFORE + r"(?P<secret>sq0(?:csp-[\w-]{43}|atp-[\w-]{22}))(?:$|[^\w-])"
# A Telegram bot token: the bot's id, 8 to 10 digits, a colon, and 35 characters. Its
# digits first keep RE2's automaton small on base64-like text, which holds no colon.
# The Bot API takes it in the path of its URLs, after "bot" (.../bot<token>/getMe),
# where HTTP clients' logs write it down.
_TELEGRAM_TOKEN = rf"(?:^|{_ESCAPE}|[^\w-]|/bot)" r"(?P<secret>\d{8,10}:[\w-]{35})(?:$|[^\w-])"
# A Discord bot token: the bot's id in base64 (24 to 26 characters, led by M, N or O), a
# timestamp of 6, an HMAC of 27 (38 in newer tokens), dot-separated. Its first part is
# unbounded here and its length left to the check: bounded runs of word characters with
# no prefix multiplied the states of RE2's DFA past its memory on base64 text; after a
# dot, which base64 never holds, bounds cost nothing.
_DISCORD_TOKEN = _BEFORE + r"(?P<secret>[MNO][\w-]+\.[\w-]{6}\.[\w-]{27,})"
# An Azure storage account's key, after its name in a connection string.
_AZURE_STORAGE_KEY = _BEFORE + r"AccountKey=(?P<secret>[A-Za-z0-9+/]{86}==)"
# Three parts or more (five when encrypted), or two when the second is JSON too (unsigned).
_JWT = _BEFORE + r"(?P<secret>eyJ[\w-]{8,}\.(?:eyJ[\w-]{5,}|[\w-]{8,}\.[\w-]*)(?:\.[\w-]*)*)"
# A token may hold colons between its characters (id:secret, as a Telegram bot's): cut
# at the first, the secret half was left after the value replaced. It may be
# percent-encoded (abc%2Bdef), as one copied out of a URL is.
_BEARER = _BEFORE_ANY + rf"(?P<secret>(?:(?i:bearer){_GAP})+[\w.~+/%-]{{6,}}(?::[\w.~+/%-]+)*=*)"
# HTTP Basic credentials (base64 of user:password, which the check decodes) after the
# scheme's name, in a header, JSON or a dict's repr; and curl's user:password options:
# -u glued to its value (-uuser:pw) too, and in an argument list ("-u", "user:pw"). A
# quoted value runs to its closing quote (a password may hold spaces), which stays, as
# does the backslash of a JSON string's escaped quote or line break, so the JSON reads.
_CURL_SEPARATOR = r"(?:[ \t]+|=|\\?[\"'],[ \t]*)"
_BASIC_AUTH = (
    _BEFORE_ANY + rf"(?P<secret>(?:(?i:basic){_BASIC_GAP})+[A-Za-z0-9+/]{{2,}}=*"
    rf"|(?:-[uU]{_CURL_SEPARATOR}?|(?:--user|--proxy-user){_CURL_SEPARATOR})"
    r"(?:\\?'(?:[^':\r\n\\]|\\[^'\r\n])*:(?:[^'\r\n\\]|\\[^'\r\n])*"
    r"|\\?\"(?:[^\":\r\n\\]|\\[^\"\r\n])*:(?:[^\"\r\n\\]|\\[^\"\r\n])*"
    rf"|[^\s:'\"\\]*:{_CURL_PASSWORD}))"
)
# The local part is at most 64 characters, as RFC 5321 has it. Unbounded, a search for
# the next value could not stop before the end of a long run of such characters. An
# apostrophe may stand inside it (o'brien@...), never first: a quote before an address
# ('ann@example.com') stays, as context. A URL writes the @ as %40.
_EMAIL = (
    rf"(?:^|{_ESCAPE}|[^\w.%+-])"
    r"(?P<secret>[\w.%+-][\w.%+'-]{0,63}(?:@|%40)(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})"
    r"(?:$|[^\w-])"
)
_IBAN = (
    _BEFORE_ANY + r"(?P<secret>[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?)(?:$|\W)"
)
_SSN = _BEFORE + r"(?P<secret>\d{3}-\d{2}-\d{4})(?:$|[^\w-])"
# The groupings cards are printed in: 13 to 19 digits together; 4-6-5 and 4-6-4;
# 4-4-4-4, or 4-4-4-4-3 when the shorter reading fails the Luhn check; 4-4-4-1 to
# 4-4-4-3. A looser grouping would join a card to the digits printed after it (an
# expiry date, a phone number) into a number that fails the check.
_CARD = (
    _BEFORE + r"(?P<secret>\d{13,19}|\d{4}[ -]\d{6}[ -]\d{4,5}"
    r"|\d{4}(?:[ -]\d{4}){3}(?:[ -]\d{3})??|\d{4}(?:[ -]\d{4}){2}[ -]\d{1,3})(?:$|[^\w-])"
)
_PHONE = (
    rf"(?:^|{_ESCAPE}|[^\w+.-])(?P<secret>"
    # International: +country code, then groups after separators or in parentheses;
    # what is glued to it by another + is part of it, so a chain is one value.
    r"\+(?:\d{7,15}|\d{1,3}(?:[ .-]?\(\d{1,5}\)[ .-]?\d{1,10}|[ .-]\d{1,10}){1,6})"
    r"(?:\+[\d .()-]{0,24}\d)*"
    # North American: (415) 555-2671, 415-555-2671, 415.555.2671, 415 555 2671.
    r"|(?:\(\d{3}\)[ ]?|\d{3}[ .-])\d{3}[ .-]\d{4}"
    # National European forms with a leading 0: 020 7946 0958, 06 12 34 56 78.
    r"|0\d{1,4}(?:[ .-]\d{2,8}){1,4}"
    # A line that is a number alone (a field holding just the number, an integer's
    # digits): North American, or international without its +.
    r"|(?m:^)(?:1?[2-9]\d{2}[2-9]\d{6}|[2-9]\d{10,12})(?m:$)"
    r")(?:$|[^\w-])"
)

# A value under a secret's name: password=..., "client_secret": "...", DB_PASSWORD=...,
# --password ..., api_key = "...". The names are detect-secrets' KeywordDetector's, less
# those that name public parts (access_key, an AWS key id's) or LLM settings (token:
# logprobs and tokenizers' bos_token, eos_token), and a name must end with one
# (password_hint, max_tokens stay). The name needs no context before it (DB_PASSWORD,
# userPassword); the value runs from the separator to a double quote, a line break or a
# JSON string's escape, and the check and `_keyword_head` find where it really ends: at
# its closing quote, or, unquoted, at whitespace, & or ; (a query string, a connection
# string), less a closing bracket or comma after it.
# pass alone only as a word of its own (pass=, db_pass=, "pass":): not bypass, compass
_PASSWORD_NAMES = r"(?i:pass(?:word|wd|phrase)s?|pwd|(?:^|[^A-Za-z0-9])pass)"
# An uppercase setting ending in _TOKEN, _SECRET, _KEY or _PAT (GITHUB_TOKEN, HF_TOKEN,
# STRIPE_KEY) names a secret too, in that letter case only: max_tokens, bos_token stay.
_SECRET_NAMES = (
    r"(?:(?i:secrets?|api[_.-]?keys?|(?:secret|private|priv|auth|client|account|encryption"
    r"|signing|master|service)[_.-]?key|(?:access|refresh|auth|id|api|session|security|oauth"
    r"|bot|bearer|secret|client|private|app|personal|service|webhook|deploy|csrf|xsrf|sso"
    r"|github|gitlab|hf|npm|pypi|slack|discord|telegram)[_.-]?token|(?:set-)?cookies?)"
    r"|[A-Z0-9]_(?:TOKEN|SECRET|KEY|PAT))"
)
# A value's first piece and what may cut it short: whitespace, &, ;, ' and a JSON
# string's escapes of a line break, a tab or a quote (not \\u's, which JSON writes for
# any character past ASCII). The regex reads no further: a quoted value holding such a
# character runs on to its closing quote, which `_keyword_head` finds in the text after
# the match (up to `AFTER` characters), so that values one after another on one line
# are read in linear time, and RE2's automaton stays as small as before.
_PIECE = r"(?:[^\s\"\\&;']|\\[^\snrt\"])+"
_CUT = r"(?:[ \t&;']|\\[nrt\"])"
# The regex's piece ends right after its first <, % or ( (escaped or not), where the
# check may find the value ends sooner than the next whitespace: an XML element's text
# ends at the next <, an unquoted value at a URL's escape of a quote, & or ; (%22, %26,
# %3B), and code calls (get_password()). A piece read on to whitespace and cut there
# made a line of such values glued together quadratic: "<password>+14155552671(" (64 KB
# in 8.5 s), "password=%22x" (7 s), "+14155552671(password=f()" (7.5 s). Elsewhere a
# value holding one runs on as `_PIECE` reads it: `_keyword_reach` and `_keyword_head`
# read on in the text after the match, no further than what decides the value.
_PIECE_TO_CUT = rf"(?:(?:[^\s\"\\&;'<%(]|\\[^\snrt\"<%(])+(?:\\?[<%(]|{_CUT}*)|\\?[<%(])"
_KEYWORD_VALUE = rf"(?:\\?[\"']|%22)?(?P<secret>{_CUT}*{_PIECE_TO_CUT}|{_CUT}+)"
_CUT_AT = frozenset(b"<%(")  # the bytes the regex's piece ends after
# A value as read on past its cut (a class at a time, the classes disjoint: linear)
_RUNS_ON = rf"{_CUT}*{_PIECE}{_CUT}*|{_CUT}+"
_RUNS_ON_TEXT, _RUNS_ON_BYTES = re.compile(_RUNS_ON), re.compile(_RUNS_ON.encode())
# What of it an unquoted value's word is: up to its first stop (`_KEYWORD_STOP`), read
# a character or a pair at a time, each looking three ahead (linear)
_STOP_AHEAD = r"%2[26]|%3[Bb]"
_WORD_ON = re.compile(
    rf"'*(?:(?!{_STOP_AHEAD})[^\s\"\\&;']|\\(?!{_STOP_AHEAD})[^\snrt\"])*"
    rf"(?:\\(?={_STOP_AHEAD})|'*)".encode()
)


# An XML element's text (<password>...</password>, <db:Password>, or an element named by
# an attribute: <entry name="password">...), and a .NET setting's value attribute
# (<add key="Password" value="..."/>).
_ELEMENT = (
    r"<[\w.:-]*{names}>|(?i:key|name)=\\?[\"'][\w.:-]*{names}\\?[\"']"
    r"(?:[ \t]+(?i:value)[ \t]*=[ \t]*|[ \t]*>)"
)
# An Authorization header's value after a scheme other than Bearer and Basic (token,
# Api-Key, Key)
_AUTHORIZATION = (
    r"(?i:authorization)(?:\\?[\"'])?[ \t]*[:=][ \t]*(?:\\?[\"'])?(?i:token|api-?key|key)[ \t]+"
)
# A .netrc's password after its login, sshpass -p, and mysql's -p glued to its value
# (mysql -u root -phunter2; -p alone, which prompts, has none) within four options of
# the command's name: options of one word each and no spaces, so that a search never
# reads on far past a mysql that no -p follows (a lazy run to the line's end made a
# megabyte of "mysql 123-45-6789 " take 50 s)
_PASSWORD_OPTIONS = (
    r"(?i:login)[ \t]+[^\s]+[ \t]+(?i:password|passwd)[ \t]+|sshpass[ \t]+-p[ \t]*"
    r"|(?:mysql(?:dump|admin)?|mariadb)(?:[ \t]+--?[A-Za-z][\w-]*(?:[ \t=]+[\w.@:/-]+)?){0,4}"
    r"[ \t]+-p"
)


def _keyword_pattern(names: str, others: str) -> str:
    # In an element's name, pass alone follows a character of the name (db_pass), never
    # a line break or a space: "<pwd:abc\npass>" is no element, but pwd's value
    element = _ELEMENT.format(names=names.replace("[^A-Za-z0-9]", "[_.:-]"))
    return (
        rf"(?:{names}(?:\\?[\"']|%22)?[ \t]*(?:=>|:=|[:=]|%3[DdAa])[ \t]*"
        rf"|--[\w.-]*{names}[ \t]+|{element}|{others})" + _KEYWORD_VALUE
    )


_PASSWORD = _keyword_pattern(_PASSWORD_NAMES, _PASSWORD_OPTIONS)
_SECRET = _keyword_pattern(_SECRET_NAMES, _AUTHORIZATION)
# Where an unquoted value ends: whitespace, & or ;, or a JSON string's escape of a line
# break, a tab or a quote, or a URL's escape of a quote, & or ; (a class, or a few
# characters: linear)
_KEYWORD_STOP = re.compile(r"[\s&;]|\\[nrt\"]|%2[26]|%3[Bb]")
# Where a value may end sooner, or later, than read: a list or an object runs to its
# closing bracket, an element's text to the < after it; code may call or index (below)
_KEYWORD_DOUBT = re.compile(r"[\s&;'\\%<(\[]|^[{|>]")
_NO_SECRETS = frozenset({"", "null", "none", "nil", "true", "false", "undefined"})
_PLACEHOLDER = re.compile(r"\[\w*\]|\*+|<\w*>")  # [password], ***, <redacted>: linear
# Code that reads a secret from elsewhere (get_password(), os.environ["X"], os.getenv('X'),
# getpass.getpass("Password: ")): a name, then a call with no argument or a string's, or
# an index by a string. A value such as Summer(2024)! is none of these. (Linear: a class,
# then a few characters.)
_CODE = re.compile(r"[A-Za-z_][\w.]*(?:\(\)|\([ \t]*[rbf]?[\"']|\[[\"'])")
_CODE_BYTES = re.compile(_CODE.pattern.encode())


# A secret's name in what follows a null (one of a few words: linear)
_NAMED = re.compile(r"(?i:pass|pwd|secret|key|token|cookie)|[A-Z0-9]_PAT")


def _no_secret(value: str) -> bool:
    """Whether a value under a secret's name holds none: null, a boolean, a placeholder."""
    value = value.strip()
    return value.lower() in _NO_SECRETS or _PLACEHOLDER.fullmatch(value) is not None


# A dictionary key that names a secret: the names above, at the key's end (its last 40
# characters are read: linear)
_SECRET_KEY = re.compile(rf"(?:({_PASSWORD_NAMES})|{_SECRET_NAMES})\Z")
_KEY_KINDS: dict[str, str | None] = {}  # by key: a record's keys repeat


def secret_name(key: str) -> str | None:
    """``"password"`` or ``"secret"`` when ``key`` names one, else ``None``."""
    kind = _KEY_KINDS.get(key, "")
    if kind != "":
        return kind
    found = _SECRET_KEY.search(key[-40:])
    kind = None if found is None else "password" if found.group(1) else "secret"
    if len(_KEY_KINDS) > 4096:
        _KEY_KINDS.clear()
    _KEY_KINDS[key] = kind
    return kind


def secret_value(value: object) -> bool:
    """Whether a value under a secret's name is one: not null, a boolean, empty or a
    placeholder (``"***"``, ``"[password]"``)."""
    if value is None or value is True or value is False:
        return False
    if isinstance(value, str):  # a vendor's format keeps its kind: the text's redaction
        return not _no_secret(value) and not _vendor(value)
    if isinstance(value, (Mapping, list, tuple, set, frozenset, bytes, bytearray)):
        return len(value) > 0
    return True


def _keyword(value: str) -> bool:
    """A value under a secret's name that ends where it was read to, quoted or not, and
    is of no vendor's format (which keeps its own kind)."""
    return (
        _KEYWORD_DOUBT.search(value) is None
        and value[-1] not in ",)}]"
        and not _no_secret(value)
        and not _vendor(value)
    )


# Where a value under a secret's name ends, each a class or an escape at a time: linear.
# Quoted by " or ', at its closing quote (an escaped one is part of it); in JSON inside
# a JSON string, at the \" that closes it, where \\ is the inner string's backslash,
# which takes the next character or escape with it. Never past a line break (where the
# next of strings read together starts).
# (Each written as a run of plain characters, then escapes each followed by such a run:
# Python's re reads a class repeated in C, 30 times faster than an alternation.)
_DOUBLE_QUOTED = r'[^"\\\r\n]*(?:\\[^\r\n][^"\\\r\n]*)*'
_SINGLE_QUOTED = r"[^'\\\r\n]*(?:(?:\\[^\r\n]|'')[^'\\\r\n]*)*"  # 'a\'b', YAML's, SQL's 'it''s'
_JSON_IN_STRING = r'[^\\\r\n]*(?:(?:\\[^"\\\r\n]|\\\\(?:[^\\\r\n]|\\[^\r\n]))[^\\\r\n]*)*'
_ELEMENT_TEXT = r"[^<\r\n]*"  # an XML element's text, to the < of its closing tag
# On a settings line (YAML, .env, INI, export and set), to the end of the line or a JSON
# string's escape of a line break
_LINE = r"[^\\\r\n]*(?:\\[^nr\r\n][^\\\r\n]*)*"
# A settings line before a value: its name and separator first on the line (the name
# unquoted, after indentation, a list's dash or cmd's set; not a command line's --option,
# nor export, after which a shell ends the value at whitespace). Read in the `BEFORE`
# characters before the value, where a line break must be seen.
_SETTING = (
    r"(?:[\r\n]|\\[nr])[ \t]*(?:-[ \t]+|(?i:set)[ \t]+)?[\w.][\w.-]*[ \t]*(?::=|[:=])[ \t]*\Z"
)
_BRACKET = r"[\[\]{}]"
_ENDS = {source: re.compile(source) for source in (_DOUBLE_QUOTED, _SINGLE_QUOTED)}
_ENDS.update({source: re.compile(source) for source in (_JSON_IN_STRING, _ELEMENT_TEXT, _LINE)})
_BYTE_ENDS = {source: re.compile(source.encode()) for source in _ENDS}
_IS_SETTING = re.compile(_SETTING)
_BRACKETS, _BRACKET_BYTES = re.compile(_BRACKET), re.compile(_BRACKET.encode())
_OPENING = frozenset({"[", "{", b"[", b"{"})
BEFORE = 80  # how much of the text before a rejected value under a secret's name is read


def _ending(quote: str, before: str, value: str) -> str | None:
    """How a value under a secret's name ends, by what stands before it: the source of
    the regex that reads it from its start, ``"["`` for a list or an object, or ``None``
    for an unquoted value of one word."""
    if quote == '"':
        return _JSON_IN_STRING if before[-2:] == '\\"' else _DOUBLE_QUOTED
    if quote == "'":
        return _SINGLE_QUOTED
    if quote == ">" and before[-2:-1] != "=":  # <password>, not password=>
        return _ELEMENT_TEXT
    if value in ("[", "{"):
        return _BRACKET
    return None


def _bracketed(text: Any, brackets: re.Pattern[Any], start: int = 0) -> int:
    """Where the list or object opening ``text[start]`` closes (past its bracket), or the
    text's end when it never does: brackets counted, one match each (linear)."""
    depth = 0
    for found in brackets.finditer(text, start):
        depth += 1 if found.group() in _OPENING else -1
        if depth <= 0:
            end: int = found.end()
            return end
    return len(text)


def _keyword_reach(data: Any, a: int, b: int, before: bytes) -> int:
    """Where the text a splitter reads after the value ``data[a:b]`` ends: past the
    closing quote, bracket or line end `_keyword_head` looks for, or `AFTER` bytes on."""
    ending = _ending(before[-1:].decode("latin-1"), before.decode("latin-1"), chr(data[a]))
    # A settings line as `_keyword_head` reads it, in characters: its name may hold letters
    # past ASCII (the long s of \u017fecret, which RE2 folds to s), which \w of bytes misses
    setting = ending is None and _IS_SETTING.search(before.decode("utf-8", "replace")) is not None
    if data[b - 1] in _CUT_AT and ending != _ELEMENT_TEXT:  # cut by the regex: read on
        if ending is None and not setting:
            # An unquoted word: code, or its head up to its first stop, decides it, as
            # far as `_keyword_head` reads; the whole value only when that is no value.
            code = _CODE_BYTES.match(data, a)
            if code is not None:
                return max(b + AFTER, code.end() + 1)
            word = _WORD_ON.match(data, a)
            end = b if word is None else word.end()
            if _word_head(bytes(data[a:end]).decode("utf-8", "replace")):
                return max(b, end) + AFTER
        read_on = _RUNS_ON_BYTES.match(data, a)
        b = b if read_on is None else read_on.end()
    if ending == _BRACKET:
        return max(_bracketed(data, _BRACKET_BYTES, a), b + AFTER)
    if ending is None:
        if not setting:
            return b + AFTER
        ending = _LINE
    found = _BYTE_ENDS[ending].match(data, a)
    end = a if found is None else found.end()
    if ending == _LINE and _BLOCK_HEAD_BYTES.fullmatch(data, a, end) is not None:
        lines = _block_lines(_indent(before), bytes).match(data, end)
        end = end if lines is None else lines.end()
    return max(b + AFTER, end + 1)


# A YAML block scalar's indicator (password: |, password: >-): its value is the lines
# after it indented deeper than the name's line
_BLOCK_HEAD = r"[|>][-+0-9]{0,2}[ \t]*(?:#[^\r\n]*)?"
_BLOCK_HEAD_TEXT, _BLOCK_HEAD_BYTES = re.compile(_BLOCK_HEAD), re.compile(_BLOCK_HEAD.encode())
_BLOCKS: dict[tuple[int, type], re.Pattern[Any]] = {}


def _indent(before: Any) -> int:
    """How deep the line ending ``before`` is indented (spaces and tabs before its name)."""
    line = before[max(before.rfind("\n" if isinstance(before, str) else b"\n"), -1) + 1 :]
    return len(line) - len(line.lstrip())


def _block_lines(indent: int, kind: type) -> re.Pattern[Any]:
    """The lines of a block scalar under a name indented by ``indent`` (blank ones too)."""
    regex = _BLOCKS.get((indent, kind))
    if regex is None:
        source = rf"(?:\r?\n(?:[ \t]{{{indent + 1},}}[^\r\n]*|[ \t]*(?=\r?\n)))*"
        regex = _BLOCKS[indent, kind] = re.compile(source if kind is str else source.encode())
    return regex


def _keyword_head(value: str, after: str, before: str) -> int:
    """How much of what follows a secret's name is its value: 0 if none.

    ``before`` is the text before it (up to `BEFORE` characters), ``after`` the text
    after it up to where `_keyword_reach` says the value may end. Quoted by ``"``, it
    runs to the closing quote (an escaped one is part of it), or the line's end when
    there is none; by ``\\"`` (JSON in a JSON string) or ``'``, to the next such quote.
    A list or an object runs to its closing bracket, an XML element's text to the ``<``
    after it, an unquoted value on a settings line (``password: two words``) to the end
    of the line (a YAML block scalar, ``password: |``, over its lines). A value the
    regex cut after a ``<`` elsewhere is read on as far as a value runs. Otherwise an
    unquoted value ends at whitespace, ``&``, ``;`` or a JSON string's escape, less the
    commas, quotes and closing brackets after it (``f(password=pw)``); one that is code
    calling or indexing (``get_password()``, ``os.environ["X"]``) is none. A null, a
    boolean, a placeholder or a vendor's format (which keeps its own kind) is no value,
    unless another secret's name follows it in what was read: that goes whole, so that
    no secret after it is passed over.
    """
    text = value + after
    ending = _ending(before[-1:], before, value[:1])
    if ending is None and _CODE.match(text) is not None:
        return 0
    if value[-1:] in ("<", "%", "(") and ending != _ELEMENT_TEXT:
        # The regex cut it there: the value is what a piece reads on to, in the text
        # `_keyword_reach` gave (enough to decide it)
        read_on = _RUNS_ON_TEXT.match(text)
        value = value if read_on is None else text[: read_on.end()]
    if ending is None and _IS_SETTING.search(before) is not None:
        ending = _LINE
    if ending == _BRACKET:
        head = text[: _bracketed(text, _BRACKETS)]
    elif ending is not None:
        found = _ENDS[ending].match(text)
        head = text[: 0 if found is None else found.end()]
        if ending == _LINE and _BLOCK_HEAD_TEXT.fullmatch(head) is not None:
            lines = _block_lines(_indent(before), str).match(text, len(head))
            head = head if lines is None else text[: lines.end()]
        if text[len(head) : len(head) + 1] in ("", "\r", "\n") and not head.strip(_CLOSERS):
            head = ""  # no closing quote, brackets alone: the quote closed a "Password: ")
        if ending in (_LINE, _ELEMENT_TEXT):
            head = head.rstrip()
    else:
        found = _KEYWORD_STOP.search(value)
        head = _word_head(value if found is None else value[: found.start()], False)
    if head and not _no_secret(head) and not _vendor(head):
        return len(head)
    if ending == _ELEMENT_TEXT:
        return 0  # (the closing tag names the secret again)
    named = _NAMED.search(value, len(head))
    if named is None:
        return 0
    # When this value ends right after the later name and its separator, the name's own
    # value runs past it (pwd: \\n X_PAT="a b"): what comes before the name goes, and the
    # search reads on from the name. Else the value goes whole, holding the name's value
    # (a value read on to its end once, not again from every name in it: linear).
    name = _ANY_NAME.search(value, 1, named.end() + _NAME_MAX)
    if name is None:
        return len(value)
    separator = _SEPARATOR.match(text, name.end())
    return len(value) if separator is None or separator.end() < len(value) else name.start()


# A name of either kind, where `_NAMED` saw one (the names' alternatives: linear)
_ANY_NAME = re.compile(f"{_PASSWORD_NAMES}|{_SECRET_NAMES}")
_NAME_MAX = 32  # past a `_NAMED` match, more than any name's letters after it
# The rest of a name's word (" pass" of " password"), its separator and the quote a
# value may open with (a few characters)
_SEPARATOR = re.compile(
    r"[\w.-]*(?:\\?[\"']|%22)?[ \t]*(?:=>|:=|[:=]|%3[DdAa])[ \t]*(?:\\?[\"']|%22)?"
)
_CLOSERS = " \t)]},;"


def _word_head(token: str, judged: bool = True) -> str:
    """An unquoted value's head, its word less the commas, quotes and closing brackets
    after it: ``""`` for a null or a placeholder, or (``judged``) a vendor's format."""
    head = token.rstrip(",)}]'")
    if _no_secret(token.rstrip(",)}'")) or (judged and (_no_secret(head) or _vendor(head))):
        return ""
    return head


_PHONE_ALONE = re.compile(_PHONE, re.A)
_PHONE_DIGITS_MAX = 12  # below 13 digits, no run is two numbers `_phone` accepts
# A validator's way of finding a shorter value in a match it rejects, by validator.
# Each is called with the rejected value, the text after it and the two characters before,
# for values longer than the bound given with it.
SPLITTERS: dict[Validator | None, tuple[Callable[[str, str, str], int], int]] = {
    _phone: (_phone_head, 12),  # below 13 characters, no run is two numbers
    _keyword: (_keyword_head, 0),
}
# How far a splitter reads after a rejected value, by validator, when not `AFTER`
# characters: called with the text, where the value starts and ends, and the `BEFORE`
# bytes before it.
REACHES: dict[Validator | None, Callable[[Any, int, int, bytes], int]] = {
    _keyword: _keyword_reach,
}
# The validators whose verdict depends on the value alone, so may be remembered.
OWN_CHECKS: frozenset[Validator] = frozenset(
    {_has_digit, _bearer, _basic, _discord, _iban, _ssn, _luhn, _phone, _keyword, _url_secret}
)

# The default kinds, in order: their patterns, and the characters each one's value can
# start with (which lets the engine ask Python's re about fewer kinds).
DEFAULT_PATTERNS: dict[str, PatternSpec] = {
    "private_key": _PRIVATE_KEY,
    "api_key": (_API_KEY, _has_digit),
    "stripe_key": _STRIPE_KEY,
    "github_token": _GITHUB_TOKEN,
    "slack_token": _SLACK_TOKEN,
    "google_api_key": _GOOGLE_API_KEY,
    "aws_access_key": _AWS_KEY,
    "aws_secret_key": _AWS_SECRET,
    "password": (_PASSWORD, _keyword),
    "secret": (_SECRET, _keyword),
    "jwt": _JWT,
    "bearer_token": (_BEARER, _bearer),
    "basic_auth": (_BASIC_AUTH, _basic),
    "url_credentials": _URL_CREDENTIALS,
    "url_password": (_URL_PASSWORD, _url_secret),
    "email": _EMAIL,
    "iban": (_IBAN, _iban),
    "ssn": (_SSN, _ssn),
    "card": (_CARD, _luhn),
    "phone": (_PHONE, _phone),
    "gitlab_token": _GITLAB_TOKEN,
    "npm_token": _NPM_TOKEN,
    "pypi_token": _PYPI_TOKEN,
    "sendgrid_key": _SENDGRID_KEY,
    "twilio_key": _TWILIO_KEY,
    "mailchimp_key": _MAILCHIMP_KEY,
    "square_token": _SQUARE_TOKEN,
    "azure_storage_key": _AZURE_STORAGE_KEY,
    "telegram_bot_token": _TELEGRAM_TOKEN,
    "discord_bot_token": (_DISCORD_TOKEN, _discord),
}
DEFAULT_STARTS: dict[str, str] = {
    "private_key": "-P",
    "api_key": "s",
    "stripe_key": "rsw",
    "github_token": "g",
    "slack_token": "xh",
    "google_api_key": "A",
    "aws_access_key": "A",
    "aws_secret_key": "aAsS",  # the name of the setting before one
    # No context before the name, whose second byte `Search.read` looks at: any
    "password": string.ascii_letters + "-",
    "secret": string.ascii_letters + "_-",  # X_TOKEN: its second byte a _
    "jwt": "e",
    "bearer_token": "Bb",
    "basic_auth": "Bb-",
    "url_credentials": "hsfwpmorcalginjkebHSFWPMORCALGINJKEB",
    "url_password": "hsfwpmorcalginjkebHSFWPMORCALGINJKEB",
    "email": string.ascii_letters + string.digits + "_.%+-",
    "iban": string.ascii_uppercase,
    "ssn": string.digits,
    "card": string.digits,
    "phone": "+(" + string.digits,
    "gitlab_token": "g",
    "npm_token": "n",
    "pypi_token": "p",
    "sendgrid_key": "S",
    "twilio_key": "S",
    "mailchimp_key": string.digits + "abcdef",
    "square_token": "s",
    "azure_storage_key": "A",
    "telegram_bot_token": string.digits + "b",  # or the b of the /bot before one
    "discord_bot_token": "MNO",
}


# The kinds of a vendor's format, whose values keep their own kind under a secret's name
# (OPENAI_API_KEY=sk-..., DISCORD_TOKEN=..., private_key: -----BEGIN ...): one regex of
# their values alone, each a group of its own, and their checks.
_VENDOR_KINDS = (
    "private_key", "api_key", "stripe_key", "github_token", "slack_token", "google_api_key",
    "aws_access_key", "jwt", "gitlab_token", "npm_token", "pypi_token", "sendgrid_key",
    "twilio_key", "mailchimp_key", "square_token", "telegram_bot_token", "discord_bot_token",
)  # fmt: skip


def _source(spec: PatternSpec) -> tuple[str, Validator | None]:
    pattern, check = spec if isinstance(spec, tuple) else (spec, None)
    return pattern if isinstance(pattern, str) else pattern.pattern, check


# The sources of the kinds found by a regex of their own (`_search.Search`): their names
# may start at any letter, with no context before them.
APART = frozenset(_source(DEFAULT_PATTERNS[kind])[0] for kind in ("password", "secret"))

_VENDOR_SOURCES = [_source(DEFAULT_PATTERNS[kind]) for kind in _VENDOR_KINDS]
_VENDOR = re.compile(
    "|".join(
        source[source.index("(?P<secret>") :].replace("(?P<secret>", f"(?P<v{i}>", 1)
        for i, (source, _) in enumerate(_VENDOR_SOURCES)
    ),
    re.A,
)
_VENDOR_CHECKS = {f"v{i}": check for i, (_, check) in enumerate(_VENDOR_SOURCES)}


def _vendor(value: str) -> bool:
    """Whether ``value`` is, whole, a value of a vendor's format its kind accepts."""
    found = _VENDOR.fullmatch(value)
    if found is None or found.lastgroup is None:
        return False
    check = _VENDOR_CHECKS[found.lastgroup]
    return check is None or check(found.group(found.lastgroup))


# -- runs: values of one kind one after another -----------------------------------------

# Text packed with values of one kind (a megabyte of emails, of cards that fail Luhn)
# would cost one RE2 call each, about a microsecond whatever the value. A run form says
# what such a stretch looks like: values of a restricted shape of the kind, each after
# whitespace, so that one RE2 match finds the whole stretch and its values are cut apart
# by position. Each shape is narrow enough that the kind's own pattern, from the
# whitespace before a value, matches exactly that value (its quantifiers are greedy and
# stop at whitespace), and no value of any default kind starts with whitespace, so a
# value's end is as good a place to start reading again as the text's start: what the
# engine would do value by value, it can do for the stretch at once. The engine checks
# the rest (no other kind matches in the stretch) before it uses one.


SPACE = frozenset(b" \t\r\n")  # the bytes that end a value of a run


def _opens(firsts: Iterable[int], seconds: Iterable[int] = range(256)) -> frozenset[bytes]:
    """The two bytes a stretch may start with: one of ``firsts``, then one of ``seconds``."""
    return frozenset(bytes([first, second]) for first in firsts for second in seconds)


class RunForm(NamedTuple):
    """A stretch of values of one kind, each after whitespace, and how to cut it.

    A mixed form holds values of several kinds (``kinds``), told apart and judged by
    ``classify``.
    """

    regex: str  # RE2: the separated values, anchored at a separator, then ``after``
    cut: Callable[[bytes], tuple[list[bytes], list[int]]]  # the values, where each starts
    ready: Callable[[bytes, int], bool]  # whether such a stretch may start at data[at:]
    after: int = 1  # the bytes the regex reads past the last value's end
    # The kind's validator on many values of this shape at once, or None to ask it
    # about each (tests hold the two to the same verdicts)
    check: Callable[[list[bytes]], list[bool]] | None = None
    # A mixed form's kinds; which of them each value is (its index in ``kinds``), and
    # the verdict of that kind's validator on it
    kinds: tuple[str, ...] = ()
    classify: Callable[[list[bytes]], tuple[list[int], list[bool]]] | None = None
    # The first two bytes of a stretch, at a value's end: a cheap look before ``ready``
    opens: frozenset[bytes] = _opens(SPACE)
    # Other kinds whose matches in such a stretch change nothing the scan decides, so
    # that the search for other kinds leaves them out
    hides: tuple[str, ...] = ()
    # Whether the last value read, ending at ``data[at]``, ends there for the kind's own
    # pattern too, or None when it always does: a URL's password may run on past the @
    # that ends the run, which the regex's fixed ``after`` cannot see
    whole: Callable[[bytes, int], bool] | None = None
    # RE2: one byte of whitespace, then a value the kind's own pattern may read on past
    # (a bearer token that is the word Bearer, before the next value): the run takes the
    # values before it
    stops: str | None = None


_SPACES = re.compile(rb"([ \t\r\n]+)")  # a run of one character class: linear
_BEFORE_PLUS = re.compile(rb" (?=\+)")  # a space before a +: linear


def _after_one_byte(values: list[bytes]) -> list[int]:
    """Where each value starts in a run that puts one separator byte before each."""
    starts = list(accumulate(map(add, map(len, values), repeat(1)), initial=1))
    starts.pop()
    return starts


def _spaced(run: bytes) -> tuple[list[bytes], list[int]]:
    """The values of a run separated by whitespace, and where each starts."""
    values = run.split()
    if sum(map(len, values)) + len(values) == len(run):  # one byte before each
        return values, _after_one_byte(values)
    parts = _SPACES.split(run)  # b"", separator, value, separator, value, ...
    offsets = list(accumulate(map(len, parts), initial=0))
    return parts[2::2], offsets[2::2]


def _plus_separated(run: bytes) -> tuple[list[bytes], list[int]]:
    """The values of `` +d dd ddd`` repeated, and where each starts."""
    values = _BEFORE_PLUS.split(run)[1:]
    return values, _after_one_byte(values)


def _groups_of_four(run: bytes) -> tuple[list[bytes], list[int]]:
    """The values of `` dddd dddd dddd dddd`` repeated, and where each starts."""
    starts = list(range(1, len(run), 20))
    return [run[at : at + 19] for at in starts], starts


def _email_ready(data: bytes, at: int) -> bool:
    """Whether whitespace at ``at`` comes before a word holding an ``@`` (or ``%40``)."""
    if not (at + 1 < len(data) and data[at] in SPACE):
        return False
    cut = data.find(b"@", at + 1, at + 67)
    if cut < 0:
        cut = data.find(b"%40", at + 1, at + 69)
    return cut > 0 and len(data[at + 1 : cut].split()) == 1


def _bearer_ready(data: bytes, at: int) -> bool:
    return data[at : at + 1] in _SPACE_BYTES and data[at + 2 : at + 7] == b"earer"


def _basic_ready(data: bytes, at: int) -> bool:
    return data[at : at + 1] in _SPACE_BYTES and data[at + 2 : at + 6] in (b"asic", b"ASIC")


def _curl_ready(data: bytes, at: int) -> bool:
    return data[at : at + 1] in _SPACE_BYTES and data[at + 1 : at + 3] in (b"-u", b"-U", b"--")


def _mixed_ready(data: bytes, at: int) -> bool:
    """Whether a ``+`` phone number, or an email not led by a digit, follows whitespace."""
    if data[at : at + 1] not in _SPACE_BYTES or at + 2 >= len(data):
        return False
    first = data[at + 1]
    return first == 43 or (first in _MIXED_EMAIL_HEADS and data.find(b"@", at + 2, at + 67) > 0)


def _url_ready(data: bytes, at: int) -> bool:
    head = data[at : at + 40]
    return head[:1] == b"@" and head[1:2].isalpha() and b"://" in head


def _url_whole(data: bytes, at: int) -> bool:
    """Whether the host after the @ at ``at`` holds no other @ (nor %): the password ends here.

    Reads at most `_HOST_READ` bytes; a longer host is left to the scan, value by value.
    """
    host = _HOST.match(data, at + 1)
    stop = at + 1 if host is None else host.end()
    return stop == len(data) or (data[stop] not in b"@%" and stop - at - 1 < _HOST_READ)


_HOST_READ = 256
_HOST = re.compile(rb"[^\s/?#\[\]{}\"'@%%]{0,%d}" % _HOST_READ)  # one class, bounded: linear


def _digits_ready(data: bytes, at: int) -> bool:
    return at + 14 < len(data) and data[at] in SPACE and data[at + 1 : at + 14].isdigit()


def _four_ready(data: bytes, at: int) -> bool:
    return data[at : at + 1] == b" " and data[at + 5 : at + 6] == b" "


def _plus_ready(data: bytes, at: int) -> bool:
    return data[at : at + 2] == b" +"


def _plus_numbers(values: list[bytes]) -> list[bool]:
    """`_phone` on ``+d dd ddd`` shapes: 8 to 15 digits, counted and judged in C for all.

    Each value holds one +, its first byte: the values joined, less their spaces, and
    cut at each + are their digits. The verdict is looked up by their count (the run's
    shape keeps a value under 64 digits).
    """
    digits = b"".join(values).translate(None, b" ").split(b"+")[1:]
    return list(map(_PLUS_VERDICTS.__getitem__, map(len, digits)))


_PLUS_VERDICTS = tuple(8 <= count <= 15 for count in range(80))  # by the digits counted
_SPACE_BYTES = frozenset(bytes([byte]) for byte in SPACE)
# What a mixed run's email may start with: not a digit, which after a phone number and a
# space would read as more of the number, nor a +, which starts a phone number there.
_MIXED_EMAIL_HEADS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_.%-")
# A bearer run's values, each after one byte of whitespace: two words and the space or
# tab between them, repeated (no backtracking past a word: linear).
_BEARER_VALUES = re.compile(rb"[^ \t\r\n]+[ \t][^ \t\r\n]+")
# Whitespace a mixed run's value starts after: not before a digit, which only a phone
# number's next group starts with there (one byte, then one more looked at: linear).
_BEFORE_A_VALUE = re.compile(rb"[ \t\r\n](?![0-9])")
_BEFORE_A_PLUS = re.compile(rb"[ \t\r\n](?=\+)")  # one byte, then a +: linear


def _scheme_twice(name: str) -> str:
    """`RunForm.stops` for a run of ``name`` and a token: a token that is ``name`` again."""
    return rf"[ \t\r\n](?i:{name})[ \t](?i:{name})(?:$|[ \t\r\n])"


def _bearer_pairs(run: bytes) -> tuple[list[bytes], list[int]]:
    """The values of `` Bearer token`` repeated, and where each starts."""
    values = _BEARER_VALUES.findall(run)
    return values, _after_one_byte(values)


def _emails_and_phones(run: bytes) -> tuple[list[bytes], list[int]]:
    """The values of a run of emails and ``+`` phone numbers, and where each starts."""
    if b"+" not in run:
        values = run.split()  # emails alone
    elif b"@" not in run and b"%40" not in run:  # an email may write its @ as %40
        values = _BEFORE_A_PLUS.split(run)[1:]  # phone numbers alone
    else:
        values = _BEFORE_A_VALUE.split(run)[1:]
    return values, _after_one_byte(values)


def _emails_and_plus_numbers(values: list[bytes]) -> tuple[list[int], list[bool]]:
    """Which kind each value is (1 for a phone number, 0 for an email), and its verdict:
    an email is accepted, a phone number judged as `_plus_numbers` judges it."""
    phones: list[Any] = [value[0] == 43 for value in values]  # True == 1
    if False not in phones:
        return phones, _plus_numbers(values)
    verdicts = [True] * len(values)
    if True in phones:
        digits = b"".join(compress(values, phones)).translate(None, b" ").split(b"+")[1:]
        places = compress(range(len(values)), phones)
        judged = map(_PLUS_VERDICTS.__getitem__, map(len, digits))
        deque(map(verdicts.__setitem__, places, judged), 0)
    return phones, verdicts


def _url_passwords(run: bytes) -> tuple[list[bytes], list[int]]:
    """The passwords of ``@scheme://user:password`` repeated, and where each starts.

    Neither the user nor the password holds a ``:``, and the user no ``@``: each password
    is what follows the last ``:`` of its piece, which ends at the ``@`` before the next
    scheme (a password's own ``@`` is followed by none).
    """
    parts = run.split(b"@")[1:]
    if len(parts) != run.count(b"://"):  # a password holds an @
        parts = _BEFORE_A_SCHEME.split(run)[1:]
    values = [part.rpartition(b":")[2] for part in parts]
    ends = accumulate(map(add, map(len, parts), repeat(1)))
    return values, list(map(sub, ends, map(len, values)))


# An @ before a scheme: in a run, an @ followed by letters, digits, + and : up to ://,
# since a password there holds no : (nor a user any @). A lookahead of one class,
# which ends at the next @ at the latest: linear. (Python's re with the schemes' names
# in any letter case took twice as long.)
_BEFORE_A_SCHEME = re.compile(rb"@(?=[A-Za-z][A-Za-z0-9+:]*://)")
_URL_RUN_SECRET = r"[^\s:/?#\[\]{}\"';]"  # a password's character in a run: @ too
_EMAIL_DOMAIN = r"(?:@|%40)(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}"
# A + and up to 15 digits alone: fewer than 8 are no phone number, and no other kind's
# value can start inside one (a card needs 13 digits), so such a number in a run is
# judged rejected where the scan finds nothing; more than 15 would be read as a card.
_PLUS_NUMBER = r"\+(?:\d{1,15}|\d{1,3}(?: \d{1,10}){1,6})"

# A run of name=value pairs under one kind's names (password=a password: b ...), each
# after one space, with a plain word for its value: one the check takes or leaves as
# reading the pair alone would (no character it doubts, none of ,)}] at its end, a
# null or a placeholder left; a vendor's format, longer, is left to the scan, as the
# value the engine splits). On a line, after a value: never a settings line's first.
_PAIR_WORD = r"[A-Za-z0-9_.@!#$^~*+/?-][A-Za-z0-9_.@!#$^~*+/?=:-]{0,127}"
_PAIR_VALUES = re.compile(rb"[:=][ \t]*([^ \t\r\n]+)")  # the value after each name: linear
_NAME_BYTES = (string.ascii_letters + string.digits + "_.-").encode()


def _pair_run(names: str) -> str:
    """`RunForm.regex` of name=value pairs under ``names``."""
    return rf"(?: [\w.-]*(?:{names})[ \t]*[:=][ \t]*{_PAIR_WORD})+[ \t\r\n]"


def _name_value_pairs(run: bytes) -> tuple[list[bytes], list[int]]:
    """The values of `` name=value`` repeated, and where each starts."""
    spans = [found.span(1) for found in _PAIR_VALUES.finditer(run)]
    return [run[a:b] for a, b in spans], [a for a, _ in spans]


def _named_next(data: bytes, at: int, separators: tuple[bytes, ...], names: Any) -> bool:
    """Whether one of ``separators`` at ``at`` comes before a name of ``names`` (a bytes
    regex: a word ending in a kind's name, then an = or a :)."""
    return data[at : at + 1] in separators and names.match(data, at + 1) is not None


# A word ending in a name of the kind, then its separator (bounded, a few classes: linear)
_PASSWORD_NEXT = re.compile(rb"[\w.-]{0,40}?(?i:pass(?:word|wd|phrase)s?|pwd)[ \t]*[:=]")
_SECRET_NEXT = re.compile(rb"[\w.-]{0,40}?(?:(?i:secrets?|keys?|token|cookies?)|_PAT)[ \t]*[:=]")
_password_pair = partial(_named_next, separators=(b" ",), names=_PASSWORD_NEXT)
_secret_pair = partial(_named_next, separators=(b" ",), names=_SECRET_NEXT)
_password_line = partial(_named_next, separators=(b"\r", b"\n"), names=_PASSWORD_NEXT)
_secret_line = partial(_named_next, separators=(b"\r", b"\n"), names=_SECRET_NEXT)


# A run of settings lines under one kind's names (password: a b c, GITHUB_TOKEN=x), one a
# line with no indentation: each line's value runs to its end, as reading it alone would
# (none of the characters that start a quote, a list, code, a block or an escape, none
# after which the value's regex reads on differently; no space at its end).
_LINE_VALUE = r"[A-Za-z0-9_.@!$^~*+/?-](?:[^\r\n\"\\(<%\[]*[^\s\"\\(<%\[])?"
_LINE_VALUES = re.compile(rb"\n[^\r\n:=]*[:=][ \t]*([^\r\n]*)")  # each line's value: linear


def _setting_run(names: str) -> str:
    """`RunForm.regex` of settings lines under ``names``."""
    return rf"(?:\r?\n(?:[\w.][\w.-]*)?(?:{names})[ \t]*[:=][ \t]*{_LINE_VALUE})+[\r\n]"


def _setting_lines(run: bytes) -> tuple[list[bytes], list[int]]:
    """The values of ``\\nname: value`` repeated, and where each starts."""
    spans = [found.span(1) for found in _LINE_VALUES.finditer(run)]
    return [run[a:b] for a, b in spans], [a for a, _ in spans]


def _setting_values(values: list[bytes]) -> list[bool]:
    """`_keyword_head`'s verdict on whole settings lines: not a null, a placeholder or a
    vendor's format (a line ending in , ) } or ] is a value too)."""
    return [not _no_secret(text) and not _vendor(text) for text in map(bytes.decode, values)]


RUNS: dict[str, tuple[RunForm, ...]] = {
    "email": (
        RunForm(
            rf"(?:[ \t\r\n]+[\w.%+-][\w.%+'-]{{0,63}}{_EMAIL_DOMAIN})+[ \t\r\n]",
            _spaced,
            _email_ready,
        ),
    ),
    "card": (
        RunForm(r"(?:[ \t\r\n]+\d{13,19})+[ \t\r\n]", _spaced, _digits_ready),
        RunForm(r"(?: \d{4} \d{4} \d{4} \d{4})+ ", _groups_of_four, _four_ready),
    ),
    "phone": (
        # Spaced groups or digits alone (+4155552671). A space can continue a phone
        # number: the last value of a run is followed by the next one's " +", which
        # cannot.
        RunForm(
            rf"(?: {_PLUS_NUMBER})+ \+",
            _plus_separated,
            _plus_ready,
            2,
            _plus_numbers,
            opens=frozenset({b" +"}),
        ),
    ),
    # A bearer token ends at whitespace; the word of the next one may be its token.
    "bearer_token": (
        RunForm(
            r"(?:[ \t\r\n][Bb]earer[ \t][\w.~+/-]{6,}=*)+[ \t\r\n]",
            _bearer_pairs,
            _bearer_ready,
            opens=_opens(SPACE, b"Bb"),
            stops=_scheme_twice("bearer"),
        ),
    ),
    # Basic credentials, and curl's -u options, each two words like a bearer token.
    "basic_auth": (
        RunForm(
            r"(?:[ \t\r\n](?:[Bb]asic|BASIC)[ \t][A-Za-z0-9+/]{2,}=*)+[ \t\r\n]",
            _bearer_pairs,
            _basic_ready,
            opens=_opens(SPACE, b"Bb"),
            stops=_scheme_twice("basic"),
        ),
        RunForm(
            rf"(?:[ \t\r\n](?:-[uU]|--user)[ \t][^\s:'\"\\]*:{_CURL_PASSWORD})+[ \t\r\n]",
            _bearer_pairs,
            _curl_ready,
            opens=_opens(SPACE, b"-"),
        ),
    ),
    # Passwords of URLs glued together, each ending at the @ that starts the next; a
    # password may hold an @ that no scheme follows.
    "url_password": (
        RunForm(
            rf"(?:@{_URL_SCHEME}{_URL_PART}*:{_URL_RUN_SECRET}+)+@",
            _url_passwords,
            _url_ready,
            opens=_opens(b"@", string.ascii_letters.encode()),
            whole=_url_whole,
        ),
    ),
    "password": (
        RunForm(
            _pair_run(r"(?i:pass(?:word|wd|phrase)s?|pwd)"),
            _name_value_pairs,
            _password_pair,
            opens=_opens(b" ", _NAME_BYTES),
        ),
        RunForm(
            _setting_run(r"(?i:pass(?:word|wd|phrase)s?|pwd)"),
            _setting_lines,
            _password_line,
            check=_setting_values,
            opens=_opens(b"\r\n", _NAME_BYTES + b"\n"),
        ),
    ),
    "secret": (
        RunForm(
            _pair_run(_SECRET_NAMES),
            _name_value_pairs,
            _secret_pair,
            opens=_opens(b" ", _NAME_BYTES),
        ),
        RunForm(
            _setting_run(_SECRET_NAMES),
            _setting_lines,
            _secret_line,
            check=_setting_values,
            opens=_opens(b"\r\n", _NAME_BYTES + b"\n"),
        ),
    ),
}

# Runs of values of several kinds, each form listed once: the engine tries one after a
# value of any of its kinds, when that kind's own forms do not fit what follows.
# Emails and + phone numbers in any order, one byte of whitespace before each. A space
# and a digit or ( would carry a phone number on: the run ends before any other byte.
MIXED_RUNS: tuple[RunForm, ...] = (
    RunForm(
        rf"(?:[ \t\r\n](?:{_PLUS_NUMBER}|[A-Za-z_.%-][\w.%+'-]{{0,63}}{_EMAIL_DOMAIN}))+"
        r"[ \t\r\n][^0-9(]",
        _emails_and_phones,
        _mixed_ready,
        2,
        kinds=("email", "phone"),
        classify=_emails_and_plus_numbers,
        opens=_opens(SPACE, _MIXED_EMAIL_HEADS | {43}),
        # A card's digits can stand only inside a value here (none starts with a digit),
        # and inside an accepted one, which the scan steps over whole: a rejected phone
        # number of the run is 12 characters at most, too short to hold a card.
        hides=("card",),
    ),
)


# -- contexts: where a long match's value lies ------------------------------------------

# What may stand before (and after) the value of llmguard's kinds that have one character
# of context or the text's edge on each side, as byte classes. With them the engine finds
# a long match's value without asking RE2 to fill in groups, which takes it a pass of its
# slowest engine over the whole match (95 ms for a megabyte of glued phone numbers).
_WORD_OR_DASH = re.compile(rb"[^\w-]")
CONTEXTS: dict[str, tuple[re.Pattern[bytes], re.Pattern[bytes] | None]] = {
    "private_key": (re.compile(rb"\W"), None),
    "api_key": (_WORD_OR_DASH, None),
    "stripe_key": (_WORD_OR_DASH, None),
    "github_token": (_WORD_OR_DASH, None),
    "slack_token": (_WORD_OR_DASH, None),
    "google_api_key": (_WORD_OR_DASH, None),
    "aws_access_key": (re.compile(rb"[^A-Za-z0-9]"), re.compile(rb"[^A-Za-z0-9]")),
    "jwt": (_WORD_OR_DASH, None),
    "bearer_token": (re.compile(rb"\W"), None),
    "basic_auth": (re.compile(rb"\W"), None),
    "discord_bot_token": (_WORD_OR_DASH, None),
    "email": (re.compile(rb"[^\w.%+-]"), _WORD_OR_DASH),
    "iban": (re.compile(rb"\W"), re.compile(rb"\W")),
    "ssn": (_WORD_OR_DASH, _WORD_OR_DASH),
    "card": (_WORD_OR_DASH, _WORD_OR_DASH),
    "phone": (re.compile(rb"[^\w+.-]"), _WORD_OR_DASH),
}
