"""Request bodies decoded straight into the wire shapes, then checked against the settings.

msgspec checks what the declarations say; a refusal is translated into the
project's problem wording, naming the field and what it must be. Limits that
depend on the settings (turn size, turn count, metadata size) are checked right
after decoding and name the setting that changes them. Nothing here touches Redis.
"""

from __future__ import annotations

import json
import math
import re
import types
import typing
from typing import Any, TypeVar

import msgspec

from threadkeeper.errors import InvalidInput, InvalidJSON, LimitExceeded
from threadkeeper.keys import ID_PATTERN, ID_RULE
from threadkeeper.settings import Limits
from threadkeeper.wire.nesting import check_nesting, too_deep
from threadkeeper.wire.shapes import NewThread, NewTurns, TurnIn

T = TypeVar("T")

MAX_NESTING = 32
INT_RANGE = (-(2**63), 2**64 - 1)  # what msgpack, and so an old snapshot, can hold
_DECODERS: dict[type, msgspec.json.Decoder[Any]] = {}
# "Object contains unknown field `x` - at `$.turns[0]`" and its siblings; a map's key
# refused: "Expected `str` of length <= 255 - at `key` in `$.idempotency`".
_AT = re.compile(r"^(?P<what>.*?)(?: - at (?:`key` in )?`\$(?P<path>[^`]*)`)?$", re.DOTALL)
_LONGER = re.compile(r"length <= (\d+)")
_QUOTED = re.compile(r"`([^`]*)`")


def decode_body(raw: bytes | object, shape: type[T], limits: Limits) -> T:
    """A request body (bytes, or a Python object: a tool's) as `shape`, or what to fix.

    Nesting past THREADKEEPER_MAX_JSON_DEPTH is refused before decoding; the
    RecursionError guard only catches a limit set past what the decoder can recurse.
    """
    depth = limits.max_json_depth
    try:
        if not isinstance(raw, bytes):
            raw = msgspec.json.encode(raw)
        if not raw.strip():
            raise InvalidJSON("the request body is empty; send a JSON object")
        check_nesting(raw, depth)
        return _decoder(shape).decode(raw)
    except msgspec.ValidationError as exc:
        raise refusal(shape, str(exc)) from None
    except msgspec.DecodeError as exc:
        raise _undecodable(raw, exc) from None  # type: ignore[arg-type]
    except RecursionError:
        raise too_deep(depth) from None


def _decoder(shape: type[T]) -> msgspec.json.Decoder[T]:
    decoder = _DECODERS.get(shape)
    if decoder is None:
        decoder = _DECODERS[shape] = msgspec.json.Decoder(shape)
    return decoder


def _undecodable(raw: bytes, exc: msgspec.DecodeError) -> InvalidInput:
    """Why msgspec refused the JSON: Python's parser says where it breaks, if it does."""
    try:
        loaded = json.loads(raw)  # reads NaN and Infinity, which JSON has not
    except (ValueError, RecursionError) as why:
        return InvalidJSON(f"the request body is not valid JSON: {why}")
    where = _non_finite(loaded, "")
    if where is not None:
        return _not_finite(where)
    # Python reads it, msgspec does not: the \u escapes of a lone surrogate, not text.
    return InvalidInput(
        "the request body is not valid Unicode (an unpaired surrogate such as \\ud800): "
        f"send UTF-8 text ({exc})"
    )


def _non_finite(value: object, path: str) -> str | None:
    """The field holding a NaN or an infinity, named as msgspec names fields, if any."""
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    children: list[tuple[str, object]] = []
    if isinstance(value, list):
        children = [(f"{path}[{i}]", child) for i, child in enumerate(value)]
    elif isinstance(value, dict):
        inside_metadata = path.endswith("metadata") or ".metadata" in path
        children = [
            (path if inside_metadata else f"{path}.{key}".lstrip("."), child)
            for key, child in value.items()
        ]
    for where, child in children:
        found = _non_finite(child, where)
        if found is not None:
            return found
    return None


def _not_finite(where: str) -> InvalidInput:
    return InvalidInput(
        f"{where or 'the request body'} holds NaN, Infinity or a number beyond a 64-bit "
        "float (like 1e999), which JSON answers cannot carry: send finite numbers only "
        "(or the value as a string)",
        field=where or None,
    )


def refused_at(message: str) -> tuple[str, str]:
    """A msgspec refusal's (what, where): the field's path as the problem names it."""
    match = _AT.match(message)
    assert match is not None  # the pattern matches any text
    return match["what"], _path(match["path"] or "")


def refusal(shape: type, message: str) -> InvalidInput:
    """A msgspec refusal of `shape` in the project's words: the field, what it must be."""
    what, path = refused_at(message)
    named = _QUOTED.findall(what)
    if what.startswith("Number out of range") and path.endswith("metadata"):
        return _not_finite(path)  # free-form: its own description ("a JSON object") misleads
    if what.startswith("Object contains unknown field"):
        return _unknown(shape, path, named[0])
    if what.startswith("Object missing required field"):
        path = f"{path}.{named[0]}" if path else named[0]
    longer = _LONGER.search(what)
    if longer and "`str`" in what:
        return LimitExceeded(f"{path} is longer than {longer[1]} characters", field=path)
    wanted = _requirement(shape, path)
    if wanted is None:
        return InvalidInput(f"the request body is refused: {message}", field=path or None)
    return InvalidInput(f"{path or 'the request body'} must be {wanted}", field=path or None)


def _path(raw: str) -> str:
    """`.turns[0].content` -> `turns[0].content`; a metadata key's `[...]` is dropped."""
    return raw.replace("[...]", "").lstrip(".")


def _unknown(shape: type, path: str, name: str) -> InvalidInput:
    where = path or "the request body"
    target = _struct(_declared(shape, path))
    assert target is not None  # msgspec finds unknown fields in Structs only
    allowed = sorted(msgspec.structs.fields(target), key=lambda f: f.encode_name)
    return InvalidInput(
        f"unknown field(s) {name} in {where}; allowed: {', '.join(f.encode_name for f in allowed)}",
        fields=[name],
    )


def _requirement(shape: type, path: str) -> str | None:
    """The description of the field at `path`, which says what it must be."""
    declared = _declared(shape, path)
    if _struct(declared) is not None:
        return _description(declared) or "a JSON object"
    return _description(declared)


def _declared(shape: type, path: str) -> Any:
    """The type `shape` declares at `path` (`turns[0].role`), None if it declares none."""
    target: Any = shape
    for part in path.split(".") if path else ():
        name, _, index = part.partition("[")
        struct = _struct(target)
        if struct is None:
            return None
        fields = {f.encode_name: f for f in msgspec.structs.fields(struct)}
        if name not in fields:
            return None
        target = fields[name].type
        if index:
            target = typing.get_args(_bare(target))[0]  # a list's items
    return target


def _struct(annotation: Any) -> type[msgspec.Struct] | None:
    """The Struct `annotation` declares (`X`, `X | None`, Annotated), if it is one."""
    bare = _bare(annotation)
    return bare if isinstance(bare, type) and issubclass(bare, msgspec.Struct) else None


def _bare(annotation: Any) -> Any:
    """`annotation` without Annotated's metadata and without `| None`."""
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
            annotation = args[0]
            continue
        return annotation


def _description(annotation: Any) -> str | None:
    for arg in (annotation, *getattr(annotation, "__args__", ())):
        for meta in getattr(arg, "__metadata__", ()):
            if isinstance(meta, msgspec.Meta) and meta.description:
                return meta.description
    return None


# -- settings-dependent checks, right after decoding --------------------------------


def check_id(value: object, what: str = "thread id") -> str:
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise InvalidInput(
            f"{what} {value!r} is not valid: use {ID_RULE}",
            field="id",
        )
    return value


def _utf8_size(text: str, where: str) -> int:
    """Bytes as UTF-8; a lone surrogate that reached a str is not text."""
    try:
        return len(text.encode())
    except UnicodeEncodeError:
        raise InvalidInput(
            f"{where} is not valid Unicode (an unpaired surrogate such as \\ud800): "
            "send UTF-8 text",
            field=where,
        ) from None


def _check_values(value: object, where: str, depth: int = 0) -> None:
    """Refuse what a snapshot could not hold: integers past 64 bits, deep nesting."""
    if depth > MAX_NESTING:
        raise InvalidInput(f"{where} nests deeper than {MAX_NESTING} levels", field=where)
    if type(value) is int and not INT_RANGE[0] <= value <= INT_RANGE[1]:
        raise InvalidInput(
            f"{where} holds the integer {value}, beyond 64 bits: send it as a string",
            field=where,
        )
    if type(value) is dict:
        for key, child in value.items():
            _utf8_size(key, where)
            _check_values(child, where, depth + 1)
    elif type(value) is list:
        for child in value:
            _check_values(child, where, depth + 1)
    elif type(value) is str:
        _utf8_size(value, where)


def check_storable(value: object, where: str) -> int:
    """Refuse what a snapshot could not hold; the value's size as compact JSON."""
    _check_values(value, where)
    return len(msgspec.json.encode(value))


def check_metadata(value: dict[str, Any], limits: Limits, where: str) -> dict[str, Any]:
    if not value:
        return value
    _check_values(value, where)
    size = len(msgspec.json.encode(value))
    if size > limits.max_metadata_bytes:
        raise LimitExceeded(
            f"{where} is {size} bytes; the limit is {limits.max_metadata_bytes} bytes "
            "(THREADKEEPER_MAX_METADATA_BYTES)",
            field=where,
            limit=limits.max_metadata_bytes,
            setting="THREADKEEPER_MAX_METADATA_BYTES",
        )
    return value


def check_turn_size(size: int, limits: Limits, where: str, *, per: str = "turn") -> None:
    """A turn (or an OpenAI item: `per`) of `size` bytes fits THREADKEEPER_MAX_TURN_BYTES."""
    if size > limits.max_turn_bytes:
        raise LimitExceeded(
            f"{where} is {size} bytes; the limit is {limits.max_turn_bytes} bytes per {per} "
            "(THREADKEEPER_MAX_TURN_BYTES): split it or raise the limit",
            field=where,
            limit=limits.max_turn_bytes,
            setting="THREADKEEPER_MAX_TURN_BYTES",
        )


def check_turn(turn: TurnIn, limits: Limits, where: str) -> TurnIn:
    size = _utf8_size(turn.content, f"{where}.content")
    for name in ("tool_name", "model"):
        label = getattr(turn, name)
        if label is not None:
            _utf8_size(label, f"{where}.{name}")
    size += sum(_utf8_size(ref, f"{where}.files/images") for ref in turn.files + turn.images)
    check_turn_size(size, limits, where)
    check_metadata(turn.metadata, limits, f"{where}.metadata")
    return turn


def check_turns(turns: list[TurnIn], limits: Limits) -> list[TurnIn]:
    if len(turns) > limits.max_turns:
        raise LimitExceeded(
            f"{len(turns)} turns in one request; a thread holds at most {limits.max_turns} "
            "(THREADKEEPER_MAX_TURNS)",
            limit=limits.max_turns,
            setting="THREADKEEPER_MAX_TURNS",
        )
    for i, turn in enumerate(turns):
        check_turn(turn, limits, f"turns[{i}]")
    return turns


def _check_labels(body: NewThread) -> None:
    for name in ("title", "tool"):
        label = getattr(body, name)
        if label is not None:
            _utf8_size(label, f"body.{name}")


def parse_new_thread(raw: bytes | object, limits: Limits) -> NewThread:
    body = decode_body(raw, NewThread, limits)
    if body.id is not None:
        check_id(body.id)
    _check_labels(body)
    check_metadata(body.metadata, limits, "metadata")
    check_turns(body.turns, limits)
    return body


def parse_new_turns(raw: bytes | object, limits: Limits) -> NewTurns:
    body = decode_body(raw, NewTurns, limits)
    check_turns(body.turns, limits)
    return body
