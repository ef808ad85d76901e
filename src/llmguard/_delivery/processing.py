"""What happens to a record before any sink sees it: sampling, redaction, content bounds."""

from __future__ import annotations

import random
import re
import time
from typing import TYPE_CHECKING, Any, Protocol

from llmguard._core.content import (
    CONTENT_JSON_FACTOR,
    Window,
    encodable,
    holds_view,
    json_size,
    measure,
    safe_repr,
    window,
)
from llmguard._core.records import ContentDigest, Record, encode_with, iso_time, replaced
from llmguard.redact import Patterns

if TYPE_CHECKING:
    from llmguard._delivery.settings import Settings


class Report(Protocol):
    """Warns about a problem of llmguard's own and tells the sinks (see `pipeline.report`)."""

    def __call__(self, problem: str, exc: BaseException | None, *, detail: bool = True) -> None:
        """Report ``problem``; ``detail=False`` names ``exc``'s type but never its message."""


def error_message(exc: BaseException) -> str:
    """``str(exc)`` cut to 300 characters, or a stand-in when that raises; never raises."""
    try:
        return str(exc)[:300]
    except Exception:
        return safe_repr(exc, 300)


def internal_record(
    problem: str, exc: BaseException | None, settings: Settings, *, detail: bool = True
) -> Record:
    """An ``internal`` record describing a failure of llmguard's own machinery.

    With ``detail=False`` it names the exception's type only: the message of an
    exception raised while reading content (a redactor's) may quote that content.
    """
    now = iso_time(time.time_ns())
    return Record(
        trace_id=f"{random.getrandbits(128) or 1:032x}",
        span_id=f"{random.getrandbits(64) or 1:016x}",
        kind="internal",
        name=problem,
        start=now,
        end=now,
        duration_ms=0.0,
        status="error",
        error_type=None if exc is None else type(exc).__name__,
        error_message=None if exc is None or not detail else error_message(exc),
        service=settings.service,
    )


_SAMPLE_SCALE = 2.0**64


def sample(record: Record, rate: float) -> Record | None:
    """Apply ``sample_rate``: the record to deliver, or ``None`` when it is sampled out.

    A trace is in the sample when the low 64 bits of its id, as a fraction of 2**64,
    are below the rate: decided by the trace id alone, so every span of a trace agrees,
    in every process. Records that are always kept (errors, limit hits, retried calls,
    feedback) are delivered whatever the decision, with their weight unchanged; other
    records of a sampled trace are weighted ``1 / rate``.
    """
    if rate >= 1.0 or _always_kept(record):
        return record
    if (int(record.trace_id[-16:], 16) / _SAMPLE_SCALE) >= rate:
        return None
    return replaced(record, sample_weight=record.sample_weight / rate)


def _always_kept(record: Record) -> bool:
    if record.status != "ok" or record.kind in ("feedback", "internal"):
        return True
    attempt = record.attempt
    if attempt is None or record.kind not in ("llm", "attempt"):
        return False
    # A retried call, and the attempts after its first.
    retried = attempt.get("count", 1) if record.kind == "llm" else attempt.get("number", 1)
    return isinstance(retried, int) and retried > 1


def process(
    record: Record,
    settings: Settings,
    report: Report,
    *,
    catch: type[BaseException] = Exception,
) -> Record | None:
    """Sample, bound, then redact a record's captured content; what every sink receives.

    ``None`` when the record is sampled out (see `sample`). Content larger than
    ``max_content_bytes`` is cut *before* the redactors run, so that neither they nor the
    serializer ever read more than about the bound (see `content.window`: the cut
    leaves them a margin, so a secret it splits is still recognized). A redactor that
    raises (any exception of type ``catch``) drops the record's content and says so in
    its metadata: content that could not be cleaned is never delivered.
    """
    return prepare(record, settings, report, catch=catch)[0]


def prepare(
    record: Record,
    settings: Settings,
    report: Report,
    *,
    catch: type[BaseException] = Exception,
    sizes: tuple[int, int] | None = None,
) -> tuple[Record | None, int]:
    """`process`, and how many bytes of JSON the delivered record has.

    ``sizes`` are upper bounds of the JSON size of the input and output, when the span
    knows them from capturing them: content they prove within the bound is then not
    walked again.
    """
    staged = stage(record, settings, sizes)
    if staged is None:
        return None, 0
    redact_all([staged], settings, report, catch=catch)
    return staged.finish()


class Staged:
    """A record sampled in and cut to the bound, on its way through the redactors."""

    __slots__ = (
        "attributes", "before", "error", "index", "limit", "packed", "record", "size",
        "stripped", "windows",
    )  # fmt: skip

    def __init__(
        self,
        record: Record,
        windows: dict[str, Window],
        attributes: dict[str, Window],
        size: int,
        limit: int,
        packed: Packed | None = None,
    ) -> None:
        self.record = record
        self.before = record
        self.windows = windows
        self.attributes = attributes
        self.size = size  # about how many bytes of JSON its content has
        self.limit = limit
        self.packed = packed
        self.error: BaseException | None = None
        self.stripped = False  # a redactor failed on it: no other redactor runs
        self.index = 0  # where it stands in its batch

    def finish(self) -> tuple[Record, int]:
        """The record to deliver and its size; raises what made it undeliverable."""
        if self.error is not None:
            raise self.error
        if self.windows or self.attributes or self.record is not self.before:
            record = _bounded(self.record, self.before, self.windows, self.attributes, self.limit)
        else:
            record = self.record
        packed = self.packed
        if packed is not None:
            # Content still the very value unpacked from JSON was left alone by every
            # redactor (none of which changes a value in place: see `splices`), so
            # its JSON is the JSON it was unpacked from.
            value_in, input_json, value_out, output_json = packed
            encoded = encode_with(
                record,
                input_json if record.input is value_in else None,
                output_json if record.output is value_out else None,
            )
            if encoded is not None:  # written, so every sink can write it
                return record, len(encoded)
        # Lone surrogates (an answer cut mid-emoji) become U+FFFD: every sink can write it.
        record = encodable(record)
        return record, len(record.to_json())  # serialized already, by encodable


Packed = tuple[Any, "bytes | None", Any, "bytes | None"]
"""A staged record's input as unpacked and the JSON it came from, then the same for
its output (``None`` for content that did not come from JSON)."""


def splices(settings: Settings) -> bool:
    """Whether content the redactors leave unchanged may be written from the JSON it was
    unpacked from: when every redactor is llmguard's own `Patterns`, which returns new
    values for what it changes and never alters one in place. Any other redactor may
    edit a dict it was given and return the same one, so its records are written anew."""
    for redactor in settings.redact:
        if not isinstance(redactor, Patterns):
            return False
        cls = type(redactor)
        if cls.__call__ is not Patterns.__call__:
            return False
        if cls.redact_records is not Patterns.redact_records:
            return False
    return True


def stage(
    record: Record,
    settings: Settings,
    sizes: tuple[int, int] | None = None,
    packed: tuple[bytes | None, bytes | None] | None = None,
) -> Staged | None:
    """Sample ``record`` (``None`` when it is sampled out), then cut its content to the
    bound, leaving redactors a margin past each cut (see `prepare`).

    ``packed`` is the JSON the record's input and output were unpacked from, if any
    (``None`` each when not): what stays unchanged is written from it (see
    `Staged.finish`); pass it only when `splices` says so.
    """
    kept: Packed | None = None
    if packed is not None and (packed[0] is not None or packed[1] is not None):
        kept = (record.input, packed[0], record.output, packed[1])
    if settings.sample_rate < 1.0:
        sampled = sample(record, settings.sample_rate)
        if sampled is None:
            return None
        record = sampled
    limit = settings.max_content_bytes
    windows: dict[str, Window] = {}
    attributes: dict[str, Window] = {}
    size = len(record.error_message or "")
    for key, value in record.metadata.items():
        cls = type(value)
        if cls is str and len(value) <= limit // 8:  # its JSON fits: 6 bytes a character
            size += len(value)
        elif value is None or cls is bool or cls is int or cls is float:
            size += 8
        else:
            cut, measured = measure(value, limit)
            if cut is None:
                size += measured
            else:
                attributes[key] = cut
                size += limit
    if attributes:
        metadata = {
            k: cut.value if (cut := attributes.get(k)) else v for k, v in record.metadata.items()
        }
        record = replaced(record, metadata=metadata)
    in_bound, out_bound = sizes or (_UNKNOWN, _UNKNOWN)
    for name, value, bound in (
        ("input", record.input, in_bound),
        ("output", record.output, out_bound),
    ):
        if value is None:
            continue
        # Proven within the bound by what the span knew, or small enough that
        # serializing it to weigh it takes a few microseconds at most.
        if bound <= limit:
            size += bound
            continue
        if bound <= CONTENT_JSON_FACTOR * limit and json_size(value) <= limit:
            size += limit
            continue
        cut, measured = measure(value, limit)
        if cut is None:
            size += measured
        else:
            windows[name] = cut
            size += limit
    if windows:
        views: dict[str, Any] = {name: cut.value for name, cut in windows.items()}
        record = replaced(record, **views)
    return Staged(record, windows, attributes, size, limit, kept)


_UNKNOWN = 1 << 62  # the size bound of content whose size the span did not know

# Content read by one batched redactor call at most: the call holds the GIL throughout,
# and about this much text takes a millisecond or two.
_REDACT_GROUP_BYTES = 256 * 1024


def redact_all(
    batch: list[Staged],
    settings: Settings,
    report: Report,
    *,
    catch: type[BaseException] = Exception,
) -> None:
    """Run every redactor over the batch, in order, each record in its `Staged`.

    A redactor with a ``redact_records(records) -> records`` method (the default one,
    `llmguard.redact.Patterns`) is called once per group of records, which reads all
    their strings in one search; should that call fail, the group goes through the
    redactor one record at a time, so that only the record it fails on loses its
    content. Any other redactor is called record by record.
    """
    for redactor in settings.redact:
        live = [staged for staged in batch if staged.error is None and not staged.stripped]
        many = getattr(redactor, "redact_records", None)
        if many is None or len(live) < 2:
            for staged in live:
                _redact_one(redactor, staged, settings, report, catch)
            continue
        for group in _groups(live):
            try:
                results = many([staged.record for staged in group])
                if len(results) != len(group):
                    raise TypeError(f"{len(results)} records back for {len(group)}")
            except catch:
                for staged in group:
                    _redact_one(redactor, staged, settings, report, catch)
                continue
            for staged, result in zip(group, results, strict=True):
                _accept(redactor, staged, result)


def _groups(batch: list[Staged]) -> list[list[Staged]]:
    groups: list[list[Staged]] = [[]]
    size = 0
    for staged in batch:
        if size + staged.size > _REDACT_GROUP_BYTES and groups[-1]:
            groups.append([])
            size = 0
        groups[-1].append(staged)
        size += staged.size
    return groups


def _redact_one(
    redactor: Any, staged: Staged, settings: Settings, report: Report, catch: type[BaseException]
) -> None:
    try:
        result = redactor(staged.record)
    except catch as exc:
        if settings.strict:
            raise
        report("a redactor failed; the record's content was dropped", exc, detail=False)
        staged.record = staged.before = _without_content(staged.record, exc)
        staged.windows, staged.attributes = {}, {}
        staged.stripped = True
        return
    _accept(redactor, staged, result)


def _accept(redactor: Any, staged: Staged, result: Any) -> None:
    if isinstance(result, Record):
        staged.record = result
    else:
        staged.error = TypeError(
            f"redactor {redactor!r} returned {type(result).__name__}, not Record"
        )


def _bounded(
    record: Record,
    before: Record,
    windows: dict[str, Window],
    attributes: dict[str, Window],
    limit: int,
) -> Record:
    """The record with its cut content finished, and any content that redaction made
    larger than the bound cut too (``before`` is the record the redactors were given).

    Cut attribute values are found by their key, or, when a redactor renamed the key,
    by the mark that ends a cut view (see `content.holds_view`), in order.
    """
    changes: dict[str, Any] = {}
    truncated: dict[str, ContentDigest] = {}
    if attributes:
        metadata = dict(record.metadata)
        renamed = [cut for key, cut in attributes.items() if key not in metadata]
        for key, value in metadata.items():
            cut = attributes.get(key)
            if cut is None and renamed and holds_view(value):
                cut = renamed.pop(0)
            if cut is not None:
                metadata[key] = cut.finish(value)
                truncated[f"metadata.{key}"] = cut.digest()
        changes["metadata"] = metadata
    for name in ("input", "output"):
        value = getattr(record, name)
        cut = windows.get(name)
        if cut is None:
            if value is None or value is getattr(before, name):
                continue
            # Redaction changes little: what was within the bound before mostly still
            # is, which one serialization of the value says.
            if json_size(value) <= limit:
                continue
            if (cut := window(value, limit)) is None:
                continue
            # Fitted before the redactors ran, grew with their replacements: what is
            # cut now is redacted text, and the digest describes it.
            value = cut.value
        changes[name] = cut.finish(value)
        truncated[name] = cut.digest()
    if not changes:
        return record
    if truncated:
        changes["truncated"] = truncated
    return replaced(record, **changes)


_OWN_METADATA = ("llmguard.", "otel.")


def _without_content(record: Record, exc: BaseException) -> Record:
    """The record stripped of everything a redactor cleans, for when one failed.

    That is what `llmguard.redact.DEFAULT` cleans: input, output, the error message,
    tags, text in metadata keys and values, numbers long enough to be a card or phone
    number, and the offending values in an attempt's errors. Short numbers, booleans and
    None under plain keys stay, and so does llmguard's own metadata (keys starting with
    ``llmguard.`` or ``otel.``).
    """
    metadata = {
        k: v
        for k, v in record.metadata.items()
        if k.startswith(_OWN_METADATA) or (_PLAIN_KEY.fullmatch(k) and _plain_value(v))
    }
    metadata["llmguard.redaction"] = f"failed: {type(exc).__name__}"
    attempt = record.attempt
    if attempt is not None and "errors" in attempt:
        attempt = {k: v for k, v in attempt.items() if k != "errors"}
    return replaced(
        record,
        input=None,
        output=None,
        error_message=None,
        tags=(),
        metadata=metadata,
        attempt=attempt,
    )


# A key that is a name, not text: no @, no spaces, no digit runs a phone could hide in.
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z_.-]{0,63}[0-9]{0,3}")


def _plain_value(value: object) -> bool:
    """Whether a metadata value holds no text and is too short to be a card or phone."""
    if value is None or isinstance(value, (bool, float)):
        return True
    return isinstance(value, int) and -(10**6) < value < 10**6
