"""ASL intrinsic functions (``"Key.$": "States.Format('{} keys', $.count)"``): a parser and the functions.

The argument grammar is ASL's: single-quoted strings (``\\'``, ``\\{``, ``\\}``, ``\\\\`` escaped), numbers,
``true``/``false``/``null``, paths (``$.x``, ``$$.Execution.Id``) and nested calls. Implemented: the
four playbooks need (``States.Format``, ``States.Array``, ``States.StringToJson``, ``States.JsonToString``)
and the other cheap, deterministic ones (array, hash, base64, ``MathAdd``, ``StringSplit``, ``JsonMerge``,
``UUID``). A bad call fails with ``States.IntrinsicFailure``, as in Step Functions.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from cloudwarden.respond.asl import errors
from cloudwarden.respond.asl.paths import PathNotFound, PathSyntaxError, parse_path, select


@dataclass(frozen=True)
class _Call:
    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class _PathArg:
    text: str


def is_intrinsic(text: str) -> bool:
    return isinstance(text, str) and text.startswith("States.") and text.rstrip().endswith(")")


def evaluate(text: str, data: Any, context: Any) -> Any:
    """Evaluate the intrinsic call ``text`` against the state's input and the context object."""
    call, end = _Parser(text).call(0)
    if text[end:].strip():
        raise errors.StatesError(errors.INTRINSIC_FAILURE, f"{text!r}: unexpected text after the call")
    return _run(call, data, context, text)


def check(text: str) -> None:
    """Parse ``text`` without running it (validation); raises :class:`errors.StatesError`."""
    call, end = _Parser(text).call(0)
    if text[end:].strip():
        raise errors.StatesError(errors.INTRINSIC_FAILURE, f"{text!r}: unexpected text after the call")
    _check_names(call, text)


def _check_names(call: _Call, text: str) -> None:
    if call.name not in FUNCTIONS:
        raise errors.StatesError(errors.INTRINSIC_FAILURE, f"{text!r}: unknown function {call.name}")
    for arg in call.args:
        if isinstance(arg, _Call):
            _check_names(arg, text)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text

    def fail(self, why: str, pos: int) -> errors.StatesError:
        return errors.StatesError(errors.INTRINSIC_FAILURE, f"{self.text!r} at position {pos}: {why}")

    def skip(self, pos: int) -> int:
        while pos < len(self.text) and self.text[pos].isspace():
            pos += 1
        return pos

    def call(self, pos: int) -> tuple[_Call, int]:
        pos = self.skip(pos)
        open_at = self.text.find("(", pos)
        if open_at < 0:
            raise self.fail("expected '('", pos)
        name = self.text[pos:open_at].strip()
        if not name.startswith("States."):
            raise self.fail(f"{name!r} is not an intrinsic function", pos)
        args: list[Any] = []
        pos = self.skip(open_at + 1)
        if pos < len(self.text) and self.text[pos] == ")":
            return _Call(name, ()), pos + 1
        while True:
            arg, pos = self.argument(pos)
            args.append(arg)
            pos = self.skip(pos)
            if pos >= len(self.text):
                raise self.fail("missing ')'", pos)
            if self.text[pos] == ")":
                return _Call(name, tuple(args)), pos + 1
            if self.text[pos] != ",":
                raise self.fail(f"expected ',' or ')', found {self.text[pos]!r}", pos)
            pos += 1

    def argument(self, pos: int) -> tuple[Any, int]:
        pos = self.skip(pos)
        if pos >= len(self.text):
            raise self.fail("missing argument", pos)
        ch = self.text[pos]
        if ch == "'":
            return self.string(pos)
        if self.text.startswith("States.", pos):
            return self.call(pos)
        end = pos
        depth = 0
        while end < len(self.text):
            c = self.text[end]
            if c == "[":
                depth += 1
            elif c == "]":
                depth -= 1
            elif depth == 0 and (c in ",)" or c.isspace()):
                break
            end += 1
        token = self.text[pos:end]
        if token.startswith("$"):
            try:
                parse_path(token)
            except PathSyntaxError as exc:
                raise self.fail(str(exc), pos) from None
            return _PathArg(token), end
        try:
            return json.loads(token), end
        except json.JSONDecodeError:
            raise self.fail(f"{token!r} is not a string, number, boolean, null, path or call", pos) from None

    def string(self, pos: int) -> tuple[str, int]:
        out: list[str] = []
        index = pos + 1
        while index < len(self.text):
            ch = self.text[index]
            if ch == "\\" and index + 1 < len(self.text):
                nxt = self.text[index + 1]
                # keep the escape for braces: States.Format needs to tell \{ from {
                out.append(nxt if nxt in "'\\" else "\\" + nxt)
                index += 2
                continue
            if ch == "'":
                return "".join(out), index + 1
            out.append(ch)
            index += 1
        raise self.fail("unterminated string", pos)


def _run(call: _Call, data: Any, context: Any, text: str) -> Any:
    function = FUNCTIONS.get(call.name)
    if function is None:
        raise errors.StatesError(errors.INTRINSIC_FAILURE, f"{text!r}: unknown function {call.name}")
    # States.Format reads its own template's escapes (\\{ is a brace, {} a placeholder).
    args = [_value(arg, data, context, text, raw=call.name == "States.Format" and i == 0)
            for i, arg in enumerate(call.args)]
    try:
        return function(*args)
    except errors.StatesError:
        raise
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise errors.StatesError(errors.INTRINSIC_FAILURE, f"{text!r}: {call.name}: {exc}") from None


def _value(arg: Any, data: Any, context: Any, text: str, *, raw: bool = False) -> Any:
    if isinstance(arg, _Call):
        return _run(arg, data, context, text)
    if isinstance(arg, _PathArg):
        try:
            return select(arg.text, data, context)
        except PathNotFound as exc:
            raise errors.StatesError(errors.INTRINSIC_FAILURE, f"{text!r}: {exc}") from None
    if isinstance(arg, str) and not raw:
        return _unescape(arg)
    return arg


def _unescape(text: str) -> str:
    return text.replace("\\{", "{").replace("\\}", "}")


def _format(template: str, *args: Any) -> str:
    if not isinstance(template, str):
        raise TypeError("the template must be a string")
    out: list[str] = []
    used = 0
    index = 0
    while index < len(template):
        if template.startswith("\\{", index) or template.startswith("\\}", index):
            out.append(template[index + 1])
            index += 2
        elif template.startswith("{}", index):
            if used >= len(args):
                raise ValueError("more {} placeholders than arguments")
            out.append(_as_text(args[used]))
            used += 1
            index += 2
        else:
            out.append(template[index])
            index += 1
    if used != len(args):
        raise ValueError(f"{len(args)} arguments for {used} placeholders")
    return "".join(out)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        raise TypeError("States.Format takes strings, numbers, booleans or null, not objects or arrays")
    return json.dumps(value)


def _string_to_json(text: Any) -> Any:
    if not isinstance(text, str):
        raise TypeError("the argument must be a string")
    return json.loads(text)


def _json_to_string(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _array_partition(items: list[Any], size: int) -> list[list[Any]]:
    if not isinstance(size, int) or size <= 0:
        raise ValueError("the chunk size must be a positive integer")
    return [items[i:i + size] for i in range(0, len(items), size)]


def _array_range(start: int, stop: int, step: int) -> list[int]:
    if step == 0:
        raise ValueError("the step must not be 0")
    values = list(range(start, stop + (1 if step > 0 else -1), step))
    if len(values) > 1000:
        raise ValueError("at most 1000 items")
    return values


def _hash(data: Any, algorithm: str) -> str:
    names = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}
    if algorithm not in names:
        raise ValueError(f"unknown algorithm {algorithm!r} (one of {', '.join(names)})")
    return hashlib.new(names[algorithm], str(data).encode()).hexdigest()


def _json_merge(left: dict[str, Any], right: dict[str, Any], deep: bool) -> dict[str, Any]:
    if deep is not False:
        raise ValueError("only shallow merges (false) are supported, as in Step Functions")
    if not isinstance(left, dict) or not isinstance(right, dict):
        raise TypeError("both arguments must be objects")
    return {**left, **right}


def _math_add(a: int, b: int) -> int:
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (a, b)):
        raise TypeError("both arguments must be integers")
    return a + b


def _string_split(text: str, separators: str) -> list[str]:
    parts = [text]
    for separator in separators:
        parts = [piece for part in parts for piece in part.split(separator)]
    return [part for part in parts if part]


FUNCTIONS: Final[dict[str, Callable[..., Any]]] = {
    "States.Format": _format,
    "States.Array": lambda *args: list(args),
    "States.StringToJson": _string_to_json,
    "States.JsonToString": _json_to_string,
    "States.ArrayPartition": _array_partition,
    "States.ArrayContains": lambda items, value: value in items,
    "States.ArrayRange": _array_range,
    "States.ArrayGetItem": lambda items, index: items[index],
    "States.ArrayLength": lambda items: len(items),
    "States.ArrayUnique": lambda items: [v for i, v in enumerate(items) if v not in items[:i]],
    "States.Base64Encode": lambda text: base64.b64encode(text.encode()).decode(),
    "States.Base64Decode": lambda text: base64.b64decode(text.encode(), validate=True).decode(),
    "States.Hash": _hash,
    "States.JsonMerge": _json_merge,
    "States.MathAdd": _math_add,
    "States.StringSplit": _string_split,
    "States.UUID": lambda: str(uuid.uuid4()),
}
