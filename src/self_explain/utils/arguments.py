"""Command-line options from dataclass fields read from source (:mod:`.dataclass_source`), as ``HfArgumentParser``
makes them, so that ``--help`` and argument errors need neither the classes nor transformers. When the command runs,
``HfArgumentParser`` parses the same arguments into the real dataclass; a test holds the two sets equal.
"""

from __future__ import annotations

import argparse
import ast
from collections.abc import Iterable
from dataclasses import MISSING

from .dataclass_source import UNEVALUATED, SourceField, enum_values, evaluate

_SCALARS = {"int": int, "float": float, "str": str}


def string_to_bool(value) -> bool:
    """``HfArgumentParser``'s reading of a bool option's value: yes/true/t/y/1 or no/false/f/n/0."""
    if isinstance(value, bool):
        return value
    if value.lower() in ("yes", "true", "t", "y", "1"):
        return True
    if value.lower() in ("no", "false", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(
        f"Truthy value expected: got {value} but expected one of yes/no, true/false, t/f, y/n, 1/0 (case insensitive)."
    )


def _choice_type(choices: list):
    """``HfArgumentParser``'s conversion of a choice option's text to the choice it names."""
    by_text = {str(choice): choice for choice in choices}
    return lambda text: by_text.get(text, text)


def _members(node: ast.expr, module: str) -> list:
    """The members of a type annotation: 'None', 'bool', 'int', ..., ('list', member), ('choices', values), 'other'."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a quoted annotation
        return _members(ast.parse(node.value, mode="eval").body, module)
    if isinstance(node, ast.Constant) and node.value is None:
        return ["None"]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _members(node.left, module) + _members(node.right, module)
    if isinstance(node, ast.Subscript):
        base = ast.unparse(node.value).split(".")[-1]
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if base == "Optional":
            return _members(items[0], module) + ["None"]
        if base == "Union":
            return [member for item in items for member in _members(item, module)]
        if base == "Literal":
            values = [evaluate(item, module) for item in items]
            return [("choices", values)] if UNEVALUATED not in values else ["other"]
        if base in ("list", "List"):
            inner = _members(items[0], module)
            return [("list", inner[0] if len(inner) == 1 else "other")]
        return ["other"]
    if isinstance(node, ast.Name):
        if node.id in ("None", "bool", "int", "float", "str"):
            return [node.id]
        if node.id in ("list", "List"):
            return [("list", "str")]
        values = enum_values(module, node.id)
        return [("choices", values)] if values else ["other"]
    return ["other"]


def _field_type(field: SourceField):
    """The field's type as ``HfArgumentParser`` reduces it: a union becomes one member (``bool | None`` stays)."""
    members = _members(field.annotation, field.module)
    if len(members) == 1:
        return members[0]
    if "str" not in members and (len(members) != 2 or "None" not in members):
        return "other"  # a union HfArgumentParser refuses; the real parser says so when the command runs
    if "None" not in members:
        return members[0] if members[1] == "str" else members[1]
    if "bool" not in members:
        return members[0] if members[1] == "None" else members[1]
    return "bool|None"


def add_field_arguments(container, fields: Iterable[SourceField]) -> None:
    """Add an option per field to a parser or argument group, as ``HfArgumentParser`` would."""
    for field in fields:
        if field.init:
            _add_field_argument(container, field)


def _add_field_argument(container, field: SourceField) -> None:
    """``HfArgumentParser._parse_dataclass_field`` on a field read from source."""
    long_options = [f"--{field.name}"]
    if "_" in field.name:
        long_options.append(f"--{field.name.replace('_', '-')}")
    kwargs = dict(field.metadata)
    aliases = kwargs.pop("aliases", [])
    aliases = [aliases] if isinstance(aliases, str) else list(aliases)
    kind = _field_type(field)
    bool_kwargs = {}
    if isinstance(kind, tuple) and kind[0] == "choices":
        kwargs["choices"] = kind[1]
        kwargs["type"] = _choice_type(kind[1])
        if field.default is not MISSING:
            kwargs["default"] = field.default
        else:
            kwargs["required"] = True
    elif kind in ("bool", "bool|None"):
        bool_kwargs = dict(kwargs)
        kwargs["type"] = string_to_bool
        if kind == "bool" or field.default not in (None, MISSING):
            kwargs["default"] = False if field.default is MISSING else field.default
            kwargs["nargs"] = "?"
            kwargs["const"] = True
    elif isinstance(kind, tuple) and kind[0] == "list":
        inner = kind[1]
        kwargs["type"] = _SCALARS.get(inner, str) if isinstance(inner, str) else str
        kwargs["nargs"] = "+"
        if field.has_default_factory:
            kwargs["default"] = field.default
        elif field.default is MISSING:
            kwargs["required"] = True
    else:
        kwargs["type"] = _SCALARS.get(kind, str) if isinstance(kind, str) else str
        if field.default is not MISSING:
            kwargs["default"] = field.default
        else:
            kwargs["required"] = True
    container.add_argument(*long_options, *aliases, **kwargs)
    if field.default is True and kind in ("bool", "bool|None"):
        bool_kwargs["default"] = False
        container.add_argument(
            f"--no_{field.name}",
            f"--no-{field.name.replace('_', '-')}",
            action="store_false",
            dest=field.name,
            **bool_kwargs,
        )


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``HfArgumentParser``'s help (defaults shown), without a default that was not read from source."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is UNEVALUATED:
            return action.help
        return super()._get_help_string(action)


def split_list_values(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``--sizes 100,300`` as well as ``--sizes 100 300``: comma-separated values of list options are split."""
    list_options = {option for action in parser._actions if action.nargs == "+" for option in action.option_strings}
    result, in_list = [], False
    for token in argv:
        if token.startswith("--"):
            option, equals, value = token.partition("=")
            in_list = option in list_options and not equals
            if option in list_options and equals:  # --sizes=100,300
                result += [option, *(part for part in value.split(",") if part)]
            else:
                result.append(token)
        elif in_list and "," in token:
            result += [part for part in token.split(",") if part]
        else:
            result.append(token)
    return result
