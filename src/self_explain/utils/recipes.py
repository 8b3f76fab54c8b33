"""YAML recipes: a command's options in a file (``--config recipe.yaml``), read through the command's parser.

As with TRL's ``--config``, the file's values become the parser's defaults (the command line overrides them) and go
through each option's own type. Not TRL's ``TrlParser``: it checks neither types nor choices, names neither the file
nor the known options for an unknown key, needs transformers imported and keeps no record for a dataset's provenance.
"""

from __future__ import annotations

import argparse
import functools
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from .files import read_user_text

logger = logging.getLogger(__name__)

RECIPE_OPTION = "--config"


@dataclass(frozen=True)
class Recipe:
    """A recipe file and the options it sets (option names with underscores)."""

    path: Path
    options: dict

    def to_provenance(self) -> dict:
        """What a dataset's provenance records: the file's name (not this machine's path) and its options."""
        return {"file": self.path.name, "options": dict(self.options)}


def read_recipe(path: str | Path, options: Collection[str], renamed: Mapping[str, str] | None = None) -> Recipe:
    """Read a YAML recipe of a command's options."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{RECIPE_OPTION} {path}: no such file")
    try:
        text = read_user_text(path, RECIPE_OPTION)
        values = yaml.load(text, Loader=_unique_key_loader())  # noqa: S506 (a SafeLoader that refuses repeated keys)
    except yaml.YAMLError as error:
        raise ValueError(
            f"{RECIPE_OPTION} {path} is not valid YAML: {_yaml_problem(error)}; write one `option: value` per line"
        ) from None
    if values is None:
        raise ValueError(
            f"{RECIPE_OPTION} {path} is empty; write one `option: value` per line (e.g. `target: toy-target`)"
        )
    if not isinstance(values, dict):
        raise ValueError(f"{RECIPE_OPTION} {path}: expected a mapping of option: value, got {type(values).__name__}")
    known, renamed = set(options), dict(renamed or {})
    normalized = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name in renamed:
            logger.warning(
                "%s %s: option %r is deprecated and will be removed in the next release; use %r",
                RECIPE_OPTION,
                path,
                name,
                renamed[name],
            )
            if renamed[name] in values:
                raise ValueError(f"{RECIPE_OPTION} {path}: {name!r} is the old name of {renamed[name]!r}; give one")
            name = renamed[name]
        normalized[name] = value
    unknown = [str(key) for key, name in zip(values, normalized) if name not in known]
    if unknown:
        raise ValueError(
            f"{RECIPE_OPTION} {path}: unknown option{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))}; the options are: {', '.join(sorted(known))}"
        )
    return Recipe(path, normalized)


@functools.cache
def _unique_key_loader():
    """YAML's safe loader, refusing a mapping that gives a key twice (YAML would keep the last one silently)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen and key_node.tag != "tag:yaml.org,2002:merge":
                    raise yaml.constructor.ConstructorError(
                        None, None, f"option {key!r} is given twice", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def _yaml_problem(error) -> str:
    """A YAML error in one line: where (line, column) and what, without the excerpt PyYAML draws under it."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or " ".join(str(error).split())
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark is not None else problem


def set_recipe_defaults(parser: argparse.ArgumentParser, recipe: Recipe) -> None:
    """Make the recipe's values ``parser``'s defaults (no longer required), so the command line overrides them."""
    for action in parser._actions:
        if action.dest in recipe.options:
            action.default = _convert(action, recipe.options[action.dest], recipe.path)
            action.required = False


def _convert(action: argparse.Action, value, path: Path):
    if value is None:
        if action.required or action.default is not None:
            raise ValueError(
                f"{RECIPE_OPTION} {path}: option {action.dest!r} is empty (null); give it a value, or "
                f"leave the line out{'' if action.required else f' (default: {action.default!r})'}"
            )
        return None
    if action.nargs in ("+", "*"):
        return [_convert_one(action, item, path) for item in (value if isinstance(value, list) else [value])]
    if isinstance(value, (list, dict)):
        raise ValueError(f"{RECIPE_OPTION} {path}: option {action.dest!r} takes one value, got {value!r}")
    return _convert_one(action, value, path)


def _convert_one(action: argparse.Action, value, path: Path):
    if action.type is not None:
        try:  # as the command line gives it: text, so that a YAML 4.5 or true is no integer (int() would take them)
            value = action.type(value if isinstance(value, str) else str(value))
        except (TypeError, ValueError, argparse.ArgumentTypeError) as error:
            raise ValueError(
                f"{RECIPE_OPTION} {path}: option {action.dest!r}: {value!r} is not valid ({error})"
            ) from None
    if action.choices is not None and value not in action.choices:
        raise ValueError(
            f"{RECIPE_OPTION} {path}: option {action.dest!r} must be one of {list(action.choices)}, got {value!r}"
        )
    return value
