"""``lg.Prompt``: named, versioned prompt templates whose renders tag the records they feed."""

from __future__ import annotations

import copy
import hashlib
import json
import string
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any, Final

from llmguard._tracing.spans import Span, current_span
from llmguard.exceptions import ConfigurationError

__all__ = ["Prompt"]

#: A chat prompt's message: its role and its content template (other keys are kept as given).
Message = dict[str, Any]


class _Rendered:
    """One render of a Prompt, until a guarded call claims it or its span ends."""

    __slots__ = ("claimed", "group", "prompt", "span")

    def __init__(self, prompt: Prompt, span: Span | None, group: list[_Rendered]) -> None:
        self.prompt = prompt
        self.span = span  # the span it was rendered in, tagged if no call claims it
        self.group = group  # the renders made in that span, in order
        self.claimed = False
        group.append(self)


# The render most recently made in this context and not yet claimed by a guarded call:
# the next guarded call opened in this context takes it (and clears it).
_pending: ContextVar[_Rendered | None] = ContextVar("llmguard.prompt", default=None)
# Spans that are a guarded call's own, tagged by a render made in them at once.
_CALL_KINDS = frozenset({"llm", "attempt"})

_VERSION_CHARS: Final = 12
_formatter = string.Formatter()


class Prompt:
    """A named prompt template with a version, for telling prompt changes apart in traces.

    ``template`` is a string with ``str.format``-style ``{variables}``, or a chat prompt:
    a list of ``{"role": ..., "content": template}`` messages (other keys of a message
    are kept as they are; only ``content`` is a template). ``version`` defaults to the
    first 12 hex digits of the SHA-256 of the template's canonical JSON, so the same
    template has the same version in every process and any change to it, even of one
    character, gives another.

    `render` fills the variables in. Rendering a Prompt tags the LLM call it feeds with
    ``prompt_name`` and ``prompt_version``, so that each call is counted once under its
    prompt: the next guarded call in the same context (the typical
    ``triage(TRIAGE.render(ticket=text))``), or, when it renders inside a guarded
    function, that call. The span open when it renders (a ``lg.span`` or ``@lg.trace``
    around a raw SDK call) is tagged instead only if it ends with no guarded call having
    claimed the render. ``lg.guard(prompt=...)`` tags every call of the guarded
    function explicitly.

    Prompts are immutable and hashable; two prompts are equal when their name, version
    and template are.

    Raises:
        ConfigurationError: ``name`` or ``version`` is not a non-empty string, or the
            template is not a string or a list of role/content messages, or it is not a
            valid format string, or it uses positional fields (``{}``, ``{0}``).
    """

    __slots__ = ("_canonical", "_chat", "_text", "name", "variables", "version")

    name: str
    version: str
    variables: frozenset[str]
    _text: str | None
    _chat: tuple[Message, ...] | None
    _canonical: str

    def __init__(
        self, name: str, template: str | Sequence[Mapping[str, Any]], version: str | None = None
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"a prompt name must be a non-empty string, not {name!r}")
        if version is not None and (not isinstance(version, str) or not version):
            raise ConfigurationError(
                f"prompt {name!r}: version must be a non-empty string, not {version!r}"
            )
        text: str | None = None
        chat: tuple[Message, ...] | None = None
        if isinstance(template, str):
            text = template
            names = _fields(name, template)
            canonical = json.dumps(template, ensure_ascii=False)
        else:
            chat = _messages(name, template)
            names = set()
            for message in chat:
                names |= _fields(name, message["content"])
            canonical = json.dumps(
                list(chat), ensure_ascii=False, sort_keys=True, separators=(",", ":")
            )
        if version is None:
            # surrogatepass: a template read with surrogateescape holds lone surrogates.
            digest = hashlib.sha256(canonical.encode("utf-8", "surrogatepass"))
            version = digest.hexdigest()[:_VERSION_CHARS]
        set_ = object.__setattr__
        set_(self, "name", name)
        set_(self, "version", version)
        set_(self, "variables", frozenset(names))
        set_(self, "_text", text)
        set_(self, "_chat", chat)
        set_(self, "_canonical", canonical)

    @property
    def template(self) -> str | list[Message]:
        """The template as given: a string, or a new list of new message dicts."""
        if self._text is not None:
            return self._text
        return copy.deepcopy(list(self._chat or ()))

    @property
    def is_chat(self) -> bool:
        """Whether this is a chat prompt (a list of messages) rather than a string."""
        return self._chat is not None

    def render(self, **variables: Any) -> Any:
        """The template with ``variables`` filled in.

        A string template gives a string; a chat prompt gives a new list of new message
        dicts (the template itself is never changed). Variables the template does not
        use are allowed and ignored, so one set of values can serve several prompts.
        Rendering tags the call it feeds with this prompt's name and version: the
        guarded call it is made in, or else the next one in this context, or else --
        when the current span ends before any guarded call claimed it -- that span.

        Raises:
            ConfigurationError: A variable the template uses is missing (the message
                names it and the prompt), or a value does not fit its field
                (``{user.name}`` on a value without ``name``, a bad format spec).
        """
        missing = self.variables.difference(variables)
        if missing:
            names = ", ".join(sorted(missing))
            what = "variables" if len(missing) > 1 else "variable"
            raise ConfigurationError(
                f"prompt {self.name!r} (version {self.version}) is missing {what} {names}"
            )
        rendered: Any
        if self._text is not None:
            rendered = self._format(self._text, variables)
        else:
            rendered = []
            for message in self._chat or ():
                copied = copy.deepcopy(message)
                copied["content"] = self._format(message["content"], variables)
                rendered.append(copied)
        opened = current_span()
        if opened is None or opened.kind in _CALL_KINDS:
            if opened is not None:
                tag(opened, self)  # made inside a guarded call: the call it feeds
            _pending.set(_Rendered(self, None, []))
            return rendered
        previous = _pending.get()
        if previous is not None and previous.span is opened:
            _pending.set(_Rendered(self, opened, previous.group))
        else:
            group: list[_Rendered] = []
            _pending.set(_Rendered(self, opened, group))
            # Only a guarded call's own spans have another late filler; this is none.
            opened.fill_later(lambda span: _tag_unclaimed(span, group))
        return rendered

    def _format(self, template: str, variables: Mapping[str, Any]) -> str:
        try:
            return template.format_map(variables)
        except (KeyError, AttributeError, IndexError, TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"prompt {self.name!r} (version {self.version}) could not be rendered: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    # -- immutability and identity ---------------------------------------------------------

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"Prompt is immutable; cannot set {key!r}")

    def __delattr__(self, key: str) -> None:
        raise AttributeError(f"Prompt is immutable; cannot delete {key!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Prompt):
            return NotImplemented
        return (self.name, self.version, self._canonical) == (
            other.name,
            other.version,
            other._canonical,
        )

    def __hash__(self) -> int:
        return hash((Prompt, self.name, self.version, self._canonical))

    def __repr__(self) -> str:
        return f"Prompt({self.name!r}, version={self.version!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Prompt, (self.name, self.template, self.version))


def tag(span: Span, prompt: Prompt) -> None:
    """Put ``prompt``'s name and version on ``span``, unless it already names a prompt."""
    if not span.has_attribute("prompt_name"):
        span.set_fields({"prompt_name": prompt.name, "prompt_version": prompt.version})


def take_pending() -> Prompt | None:
    """The Prompt rendered in this context since the last guarded call took one; clears it.

    The guarded call that takes it claims the render: the span it was rendered in is
    then not tagged with it, unless that span had already ended.
    """
    rendered = _pending.get()
    if rendered is None:
        return None
    _pending.set(None)
    if rendered.span is not None and not rendered.span.ended:
        rendered.claimed = True
    return rendered.prompt


def _tag_unclaimed(span: Span, group: list[_Rendered]) -> None:
    """Tag an ended ``span`` with the first render made in it that no guarded call claimed."""
    for rendered in group:
        if not rendered.claimed:
            if not span.has_attribute("prompt_name"):
                prompt = rendered.prompt
                span.fill_fields({"prompt_name": prompt.name, "prompt_version": prompt.version})
            return


def _messages(name: str, template: object) -> tuple[Message, ...]:
    if isinstance(template, Mapping) or not isinstance(template, Sequence) or not template:
        raise ConfigurationError(
            f"prompt {name!r}: the template must be a string or a non-empty list of "
            f'{{"role": ..., "content": ...}} messages, not {template!r}'
        )
    messages: list[Message] = []
    for message in template:
        if not isinstance(message, Mapping):
            raise ConfigurationError(f"prompt {name!r}: a message must be a dict, not {message!r}")
        role, content = message.get("role"), message.get("content")
        if not isinstance(role, str) or not role:
            raise ConfigurationError(
                f"prompt {name!r}: a message's role must be a non-empty string: {message!r}"
            )
        if not isinstance(content, str):
            raise ConfigurationError(
                f"prompt {name!r}: a message's content must be a template string: {message!r}"
            )
        messages.append(copy.deepcopy(dict(message)))
    try:
        json.dumps(messages)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"prompt {name!r}: messages must hold JSON values only ({exc})"
        ) from exc
    return tuple(messages)


def _fields(name: str, template: str) -> set[str]:
    """The root names of the replacement fields in ``template``, format specs included."""
    names: set[str] = set()
    try:
        parsed = list(_formatter.parse(template))
    except ValueError as exc:
        raise ConfigurationError(f"prompt {name!r}: not a valid template: {exc}") from exc
    for _literal, field, spec, _conversion in parsed:
        if field is None:
            continue
        root = field.split(".", 1)[0].split("[", 1)[0]
        if not root or root.isdigit():
            raise ConfigurationError(
                f"prompt {name!r}: fields must be named, not positional ({{{field}}})"
            )
        if not root.isidentifier():
            raise ConfigurationError(f"prompt {name!r}: {root!r} is not a valid variable name")
        names.add(root)
        if spec:
            names |= _fields(name, spec)
    return names
