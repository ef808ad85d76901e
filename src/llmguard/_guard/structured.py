"""The schema sent to the model with each call (``send_schema=``).

A guard with ``send_schema`` passes the provider's own structured-output parameter to
the function, the way it passes the output cap: OpenAI Chat Completions'
``response_format``, the Responses API's ``text``, a tool built from the schema (with
``tool_choice`` forcing it), or, for a function that takes only ``messages`` or
``prompt``, an instruction holding the JSON Schema. Everything that can be built once is
built when the guard is made (`SchemaRequest`); a `Sender`, made once per guarded
function, only picks the prepared parameter and sets it on each call.

OpenAI's strict mode accepts a subset of JSON Schema. `strict_schema` rewrites a schema
into it: every object lists all its properties as required and forbids others, ``oneOf``
becomes ``anyOf``, ``$ref`` keeps no siblings, a root ``$ref`` is inlined, and keywords
strict mode refuses (``minLength``, ``uniqueItems``...) become words in the
``description``, which the model still reads and llmguard still checks on the answer.
What strict mode cannot express at all -- a free-form ``dict``, ``Any``, a tuple -- is
sent with ``strict: false`` instead, and the reason is kept (`StrictSchema.loose`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from llmguard._guard.schema import tool_name
from llmguard.exceptions import ConfigurationError

if TYPE_CHECKING:
    from llmguard._guard.call import Call, Parameters
    from llmguard._guard.schema import CompiledSchema

__all__ = [
    "RESPONSE_KEY",
    "SchemaRequest",
    "Sender",
    "StrictSchema",
    "flavor",
    "instructed",
    "object_root",
    "strict_schema",
    "tool_name",
]

#: The one property of the object a non-object schema (``list[Item]``) is wrapped in,
#: since structured outputs and tool arguments must be objects; the extraction of an
#: answer unwraps it again.
RESPONSE_KEY = "response"

Mode = Literal["json_schema", "tool", "prompt"]

# Kept as they are in a strict schema: OpenAI's structured outputs accept them.
_STRUCTURE = frozenset(
    {"type", "properties", "required", "additionalProperties", "items", "anyOf", "$ref"}
)
_KEPT = frozenset(
    {
        "enum",
        "const",
        "description",
        "$defs",
        "definitions",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minItems",
        "maxItems",
    }
)
# Dropped: names and annotations that add nothing the model needs (the field names say
# it), or that strict mode refuses and that carry no rule on the answer.
_DROPPED = frozenset(
    {"title", "$schema", "$id", "$comment", "discriminator", "readOnly", "writeOnly"}
)
_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
)
# A pattern with lookaround is refused; looking for the four openers is enough, since a
# false positive (an escaped one) only moves the pattern into the description.
_LOOKAROUND = ("(?=", "(?!", "(?<=", "(?<!")
# What makes a schema node say anything about the value's shape.
_SHAPED = ("type", "anyOf", "$ref", "enum", "const")


@dataclass(frozen=True, slots=True)
class StrictSchema:
    """A schema rewritten for OpenAI's strict mode, and whether strict mode can take it.

    Attributes:
        schema: The rewritten schema; its root is an object.
        wrapped: The original root was not an object, so the value is the
            ``"response"`` property of this one.
        loose: Where strict mode cannot express the schema (a ``dict``, ``Any``, a
            tuple), one line each; empty when ``strict: true`` can be sent.
    """

    schema: dict[str, Any]
    wrapped: bool
    loose: tuple[str, ...]

    @property
    def strict(self) -> bool:
        """Whether the schema can be sent with ``strict: true``."""
        return not self.loose


def object_root(schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """``schema`` with an object at its root, and whether the value had to be wrapped.

    A root that is a ``$ref`` to an object (pydantic's form for a recursive model) is
    inlined, references to it becoming ``"#"``; any other non-object root becomes the
    ``"response"`` property of an object, with ``$defs`` (or ``definitions``) moved up to
    the new root.
    """
    schema = dict(schema)
    defs = schema.get("$defs")
    ref = schema.get("$ref")
    if isinstance(ref, str) and isinstance(defs, dict) and ref.startswith("#/$defs/"):
        key = ref[len("#/$defs/") :]
        target = defs.get(key)
        if isinstance(target, dict) and target.get("type") == "object":
            rest = {k: v for k, v in defs.items() if k != key}
            root = _retarget({**target}, ref)
            for k, v in schema.items():
                if k not in ("$ref", "$defs"):
                    root.setdefault(k, v)
            if rest:
                root["$defs"] = {k: _retarget(v, ref) for k, v in rest.items()}
            return root, False
    if schema.get("type") == "object":
        return schema, False
    wrapper: dict[str, Any] = {
        "type": "object",
        "properties": {RESPONSE_KEY: schema},
        "required": [RESPONSE_KEY],
        "additionalProperties": False,
    }
    for key in ("$defs", "definitions"):  # "#/..." references must still find them
        if key in schema:
            wrapper[key] = schema.pop(key)
    return wrapper, True


def _retarget(node: Any, ref: str) -> Any:
    """A copy of ``node`` whose references to ``ref`` point at the root instead."""
    if isinstance(node, dict):
        return {
            k: ("#" if k == "$ref" and v == ref else _retarget(v, ref)) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_retarget(item, ref) for item in node]
    return node


def strict_schema(schema: dict[str, Any]) -> StrictSchema:
    """Rewrite a JSON Schema for OpenAI's structured outputs in strict mode.

    ``schema`` is not changed. Every object gets ``additionalProperties: false`` and
    lists all its properties in ``required``. A property that was optional stays
    nullable if it accepted ``null`` already; one that did not keeps its type and the
    description says its default, since ``null`` would fail validation. Unsupported
    keywords (``minLength``, ``maxLength``, ``uniqueItems``, ``pattern`` with lookaround,
    a ``format`` outside OpenAI's list...) move into the node's ``description``.
    """
    root, wrapped = object_root(json.loads(json.dumps(schema)))
    loose: list[str] = []
    rewritten = _strict(root, "$", loose)
    return StrictSchema(rewritten, wrapped, tuple(loose))


def _strict(node: Any, path: str, loose: list[str]) -> dict[str, Any]:
    if not isinstance(node, dict):
        loose.append(f"{path}: {json.dumps(node)} is not a schema object strict mode takes")
        return {} if node is True else {"not": {}}
    notes: list[str] = []
    out: dict[str, Any] = {}
    pending = dict(node)
    if "oneOf" in pending and "anyOf" not in pending:
        pending["anyOf"] = pending.pop("oneOf")
    all_of = pending.pop("allOf", None)
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
        for key, value in all_of[0].items():
            pending.setdefault(key, value)
    elif all_of is not None:
        notes.append(f"allOf={_short(all_of)}")
        loose.append(f"{path}: allOf (an intersection) has no strict form")
    default = pending.pop("default", None)
    if default is not None:
        notes.append(f"default: {_short(default)}")
    for key, value in pending.items():
        if key in _STRUCTURE or key in _DROPPED:
            continue
        if (
            key in _KEPT
            or (key == "format" and isinstance(value, str) and value in _FORMATS)
            or (key == "pattern" and isinstance(value, str) and not _looks_around(value))
        ):
            out[key] = value
        elif key == "prefixItems":
            loose.append(f"{path}: a fixed-length array (tuple) has no strict form")
            out[key] = value
        else:
            notes.append(f"{key}={_short(value)}")
    for key in ("$defs", "definitions"):
        defs = out.get(key)
        if isinstance(defs, dict):
            out[key] = {name: _strict(d, f"{key}.{name}", loose) for name, d in defs.items()}
    if "type" in pending:
        out["type"] = pending["type"]
    types = pending.get("type")
    named = types if isinstance(types, list) else [types]
    type_set = {t for t in named if isinstance(t, str)}
    if "object" in type_set or "properties" in pending:
        _strict_object(pending, out, path, loose)
    if "array" in type_set or "items" in pending:
        items = pending.get("items")
        if isinstance(items, dict):
            out["items"] = _strict(items, f"{path}[]", loose)
        elif "prefixItems" not in pending:
            loose.append(f"{path}: an array of any values has no strict form")
    any_of = pending.get("anyOf")
    if isinstance(any_of, list):
        out["anyOf"] = [_strict(v, path, loose) for v in any_of]
    ref = pending.get("$ref")
    if isinstance(ref, str):
        siblings = {k: v for k, v in out.items() if k != "$ref"}
        if siblings or notes:
            # A $ref takes no siblings in strict mode; an anyOf of one does.
            out = {**siblings, "anyOf": [*out.get("anyOf", ()), {"$ref": ref}]}
        else:
            out["$ref"] = ref
    if not any(key in pending for key in _SHAPED):
        loose.append(f"{path}: any value (no type) has no strict form")
    if notes:
        description = out.get("description")
        said = "; ".join(notes)
        out["description"] = f"{description} ({said})" if description else said
    return out


def _strict_object(
    pending: dict[str, Any], out: dict[str, Any], path: str, loose: list[str]
) -> None:
    properties = pending.get("properties")
    extra = pending.get("additionalProperties")
    if not isinstance(properties, dict) or (not properties and extra is not False):
        if isinstance(properties, dict):
            out["properties"] = properties
        if extra is not None:
            out["additionalProperties"] = extra
        loose.append(f"{path}: an object with free-form keys (a dict) has no strict form")
        return
    written: dict[str, Any] = {}
    for name, prop in properties.items():
        written[name] = _strict(prop, name if path == "$" else f"{path}.{name}", loose)
    out["type"] = pending.get("type", "object")
    out["properties"] = written
    out["required"] = list(written)
    out["additionalProperties"] = False


def _looks_around(pattern: str) -> bool:
    return any(opener in pattern for opener in _LOOKAROUND)


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 200 else f"{text[:199]}…"


#: Puts the schema into one call: the call to make, and what was sent, for its record
#: (``"json_schema"``, ``"tool"``, ``"prompt"``, ``"caller"`` when the caller's own
#: parameter was kept, or ``"none"`` when the call had nowhere to put it).
Sender = Callable[["Call"], tuple["Call", str]]

Flavor = Literal["openai", "anthropic"]

_INSTRUCTION = "Answer with only a JSON value that matches this JSON Schema, with no other text:\n"
_TOOL_DESCRIPTION = "Give your answer by calling this tool, with the answer as its input."


def flavor(provider: str | None, model: str | None) -> Flavor | None:
    """Whose API a call goes to, as far as the provider or the model name tell."""
    if provider is not None:
        named = provider.lower()
        if "anthropic" in named or "claude" in named:
            return "anthropic"
        if "openai" in named or "azure" in named:
            return "openai"
    if model is not None:
        named = model.lower()
        if "claude" in named:
            return "anthropic"
        if named.startswith(("gpt", "o1", "o3", "o4", "chatgpt", "ft:gpt", "openai/")):
            return "openai"
    return None


class SchemaRequest:
    """The request parameters that carry one guard's schema, built once with the guard.

    Args:
        schema: The guard's compiled schema.
        mode: ``True`` (chosen per function, and per call when the model decides), or
            ``"json_schema"``, ``"tool"`` or ``"prompt"``.
        provider: The guard's ``provider=`` option.
        model: The guard's ``model=`` option.

    Raises:
        ConfigurationError: The schema cannot be described as JSON Schema.
    """

    def __init__(
        self, schema: CompiledSchema, mode: bool | Mode, *, provider: str | None, model: str | None
    ) -> None:
        self.mode = mode
        self.provider = provider
        self.model = model
        self.name = name = tool_name(schema.name)
        try:
            source = schema.json_schema()
            self.strict = strict = strict_schema(source)
            anthropic_schema = object_root(source)[0]
            instruction = json.dumps(source, ensure_ascii=False, separators=(",", ":"))
        except RecursionError:
            raise ConfigurationError(
                f"schema {schema.name} is nested too deep to send to the model"
            ) from None
        described = source.get("description")
        summary = described if isinstance(described, str) and described else None
        json_schema: dict[str, Any] = {"name": name, "schema": strict.schema}
        if summary is not None:
            json_schema["description"] = summary
        json_schema["strict"] = strict.strict
        self.response_format = {"type": "json_schema", "json_schema": json_schema}
        self.text_format = {"type": "json_schema", **json_schema}
        tool_description = summary or _TOOL_DESCRIPTION
        # Anthropic's tools take JSON Schema as it is; only the root must be an object.
        self.anthropic_tools = [
            {"name": name, "description": tool_description, "input_schema": anthropic_schema}
        ]
        self.anthropic_choice = {"type": "tool", "name": name}
        function = {
            "name": name,
            "description": tool_description,
            "parameters": strict.schema,
            "strict": strict.strict,
        }
        self.chat_tools = [{"type": "function", "function": function}]
        self.chat_choice = {"type": "function", "function": {"name": name}}
        self.responses_tools = [{"type": "function", **function}]
        self.responses_choice = {"type": "function", "name": name}
        self.instruction = _INSTRUCTION + instruction

    # -- which parameter, decided once per function ---------------------------------------

    def sender(self, function: str, params: Parameters) -> Sender:
        """How the schema goes into each call of a function with these parameters.

        Raises:
            ConfigurationError: A forced mode the function cannot take (``"json_schema"``
                without ``response_format`` or ``text``, ``"tool"`` without ``tools``,
                ``"prompt"`` without ``messages`` or ``prompt``), or ``True`` for a
                function that takes none of them; the message names the function.
        """
        takes = params.takes
        anything = takes("**") or not params.names
        mode = self.mode
        if mode is True:
            if takes("response_format"):
                return self._chat
            if takes("text"):
                return self._responses
            if takes("tools"):
                return self._tool_sender(params, forced=False)
            if anything:
                return self._by_provider
            if _takes_input(params):
                return self._prompt
            raise ConfigurationError(
                f"send_schema=True: {function} takes none of response_format, text, tools, "
                "messages or prompt, so the schema has no way to reach the model"
            )
        if mode == "json_schema":
            if takes("response_format"):
                return self._chat
            if takes("text"):
                return self._responses
            if anything:
                return self._openai_format
            raise ConfigurationError(
                f"send_schema='json_schema': {function} takes neither response_format "
                "(Chat Completions) nor text (Responses API); add the one its SDK call uses"
            )
        if mode == "tool":
            if not (takes("tools") or anything):
                raise ConfigurationError(
                    f"send_schema='tool': {function} takes no tools parameter to send the tool in"
                )
            if flavor(self.provider, self.model) is None and not (
                takes("model") or anything or flavor(None, params.model_default)
            ):
                raise ConfigurationError(
                    f"send_schema='tool': nothing tells whether {function} calls Anthropic "
                    "or OpenAI, whose tools differ; give the guard provider= or model=, or "
                    "the function a model parameter"
                )
            return self._tool_sender(params, forced=True)
        if _takes_input(params) or anything:
            return self._prompt
        raise ConfigurationError(
            f"send_schema='prompt': {function} takes neither messages nor prompt, so "
            "there is no text to add the schema to"
        )

    def _tool_sender(self, params: Parameters, *, forced: bool) -> Sender:
        takes_choice = params.takes("tool_choice") or params.takes("**") or not params.names
        fixed = flavor(self.provider, self.model)

        def send(call: Call) -> tuple[Call, str]:
            found = fixed or flavor(None, call.model())
            if found == "anthropic":
                return self._tool(call, self.anthropic_tools, self.anthropic_choice, takes_choice)
            if found == "openai" or forced:
                if _responses_call(call):
                    tools, choice = self.responses_tools, self.responses_choice
                    return self._tool(call, tools, choice, takes_choice)
                return self._tool(call, self.chat_tools, self.chat_choice, takes_choice)
            return self._prompt(call)  # a provider nothing tells: the words work everywhere

        return send

    def _by_provider(self, call: Call) -> tuple[Call, str]:
        """For a function taking ``**kwargs``: the provider's own way, once it is known."""
        found = flavor(self.provider, self.model or call.model())
        if found == "anthropic":
            return self._tool(call, self.anthropic_tools, self.anthropic_choice, True)
        if found == "openai":
            return self._openai_format(call)
        return self._prompt(call)

    # -- each parameter, set on one call ----------------------------------------------------

    def _openai_format(self, call: Call) -> tuple[Call, str]:
        return self._responses(call) if _responses_call(call) else self._chat(call)

    def _chat(self, call: Call) -> tuple[Call, str]:
        if call.argument("response_format") is not None:
            return call, "caller"
        return call.with_argument("response_format", self.response_format), "json_schema"

    def _responses(self, call: Call) -> tuple[Call, str]:
        given = call.argument("text")
        if given is None:
            return call.with_argument("text", {"format": self.text_format}), "json_schema"
        if isinstance(given, dict) and given.get("format") is None:
            # Verbosity or other text options of the caller's, and no format: add ours.
            return call.with_argument("text", {**given, "format": self.text_format}), "json_schema"
        return call, "caller"

    def _tool(
        self, call: Call, tools: list[dict[str, Any]], choice: dict[str, Any], takes_choice: bool
    ) -> tuple[Call, str]:
        if call.argument("tools") is not None or call.argument("tool_choice") is not None:
            return call, "caller"
        call = call.with_argument("tools", tools)
        if takes_choice:
            call = call.with_argument("tool_choice", choice)
        return call, "tool"

    def _prompt(self, call: Call) -> tuple[Call, str]:
        instruction = self.instruction
        system = call.argument("system")
        if isinstance(system, str):  # Anthropic's system prompt, beside the messages
            return call.with_argument("system", _joined(system, instruction)), "prompt"
        messages = call.messages
        if messages is not None:
            return call.with_argument("messages", instructed(messages, instruction)), "prompt"
        prompt = call.prompt
        if prompt is not None:
            return call.with_argument("prompt", _joined(prompt, instruction)), "prompt"
        return call, "none"


def instructed(messages: list[Any], instruction: str) -> list[Any]:
    """A copy of ``messages`` with ``instruction`` added; the caller's objects are kept.

    It goes at the end of the first system (or developer) message, else of the last user
    message (as a text block when that message is a list of blocks), else in a new user
    message.
    """
    for index, message in enumerate(messages):
        if (
            isinstance(message, dict)
            and message.get("role") in ("system", "developer")
            and isinstance(message.get("content"), str)
        ):
            return _replaced(messages, index, _joined(message["content"], instruction))
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        role = message.get("role") if isinstance(message, dict) else getattr(message, "role", None)
        if role != "user":
            continue
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            return _replaced(messages, index, _joined(content, instruction))
        if isinstance(content, list):
            return _replaced(messages, index, [*content, {"type": "text", "text": instruction}])
        break
    return [*messages, {"role": "user", "content": instruction}]


def _replaced(messages: list[Any], index: int, content: Any) -> list[Any]:
    copy = list(messages)
    copy[index] = {**messages[index], "content": content}
    return copy


def _joined(text: str, instruction: str) -> str:
    return f"{text}\n\n{instruction}" if text else instruction


def _takes_input(params: Parameters) -> bool:
    return params.takes("messages") or params.takes("prompt") or params.takes("system")


def _responses_call(call: Call) -> bool:
    """A Responses API call: it has ``input`` and no ``messages``."""
    return call.messages is None and call.argument("input") is not None
