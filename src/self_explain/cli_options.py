"""The command line's options: checked from the config classes' source first, then parsed into the real classes.

:func:`check_options` answers ``--help`` and errors before torch is imported; :func:`parse_with_recipe` then
parses with ``HfArgumentParser``. Options follow TRL's names; the old names still work, with a warning.
"""

from __future__ import annotations

import argparse
import logging
import textwrap
from dataclasses import dataclass
from pathlib import Path

from .utils.arguments import HelpFormatter, add_field_arguments, split_list_values, string_to_bool
from .utils.recipes import RECIPE_OPTION, Recipe, read_recipe, set_recipe_defaults

logger = logging.getLogger(__name__)

# Options renamed to TRL's names: old name → new name.
RENAMED_OPTIONS = {"config_file": "config", "out": "output_dir", "dataset": "dataset_name"}
# The option naming the Hub repo that --push_to_hub pushes to: a model's, or a dataset's.
HUB_ID_OPTIONS = ("hub_model_id", "repo_id")
RECIPE_SUFFIXES = (".yaml", ".yml")


@dataclass
class Arguments:
    """A command's arguments (new names, no ``--config``), its first-argument ``choice`` and its ``recipe``."""

    argv: list[str]
    choice: str | None = None
    recipe: Recipe | None = None


def parse_with_recipe(config_class, prog: str, argv: list[str], recipe: Recipe | None = None):
    """(config, recipe or None): ``argv`` parsed by ``HfArgumentParser`` over the recipe's values (as TRL does)."""
    import dataclasses

    from transformers import HfArgumentParser

    if recipe is None:
        path, argv = _recipe_path(argv)
        if path:
            recipe = read_recipe(path, [f.name for f in dataclasses.fields(config_class) if f.init])
    parser = HfArgumentParser(config_class, prog=prog)
    if recipe is not None:
        set_recipe_defaults(parser, recipe)
    config = parser.parse_args_into_dataclasses(args=split_list_values(parser, argv))[0]
    return config, recipe


def _recipe_path(argv: list[str]) -> tuple[str | None, list[str]]:
    """The value of ``--config`` in ``argv``, and ``argv`` without it."""
    first = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    first.add_argument(RECIPE_OPTION, dest="config")
    known, rest = first.parse_known_args(argv)
    return known.config, rest


class _CommandHelp(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown; the description and epilog as written."""


class _CommandParser(argparse.ArgumentParser):
    """An argument error in two lines: the error and where the options are (not the long usage of every option)."""

    def error(self, message: str):
        """Print the error and a pointer to ``--help``; exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message}\n(the options: {self.prog} --help)\n")


def options_parser(
    prog: str,
    source: tuple[str, str],
    description: str | None = None,
    choices: tuple[str, dict[str, str]] | None = None,
    epilog: str | None = None,
):
    """The ``ArgumentParser`` of a command's config class's source: the package's options, then the trainer's."""
    from .utils.dataclass_source import read_dataclass_fields

    parser = _CommandParser(prog=prog, description=description, epilog=epilog, formatter_class=_CommandHelp)
    if choices is not None:
        parser.add_argument(choices[0].lower(), metavar=choices[0], choices=list(choices[1]))
    parser.add_argument(
        RECIPE_OPTION,
        metavar="RECIPE",
        default=argparse.SUPPRESS,
        help="YAML recipe of these options (option: value per line, as `trl sft --config`); options "
        "given on the command line override it.",
    )
    fields = read_dataclass_fields(*source)
    own = [f for f in fields if f.declared_in.split(".")[0] == __package__]
    trainer = [f for f in fields if f.declared_in.split(".")[0] != __package__]
    add_field_arguments(parser, own)
    if trainer:
        classes = [c for c in dict.fromkeys(f.declared_in for f in reversed(trainer)) if "._" not in c]
        title = ", ".join(f"{c.split('.')[0]} {c.rpartition('.')[2]}" for c in classes)
        add_field_arguments(parser.add_argument_group(f"trainer options ({title})"), trainer)
    return parser


def _is_recipe_path(value: str) -> bool:
    """Whether a ``--config`` value names a recipe: a YAML file name, or any existing file."""
    return value.lower().endswith(RECIPE_SUFFIXES) or Path(value).is_file()


def _is_bool_text(value: str) -> bool:
    """Whether ``HfArgumentParser`` reads ``value`` as a bool."""
    try:
        string_to_bool(value)
    except argparse.ArgumentTypeError:
        return False
    return True


def _warn_renamed(old: str, new: str, where: str = "") -> None:
    """Log that an old option name is deprecated, naming the new one."""
    logger.warning("%s%s is deprecated and will be removed in the next release; use %s", where, old, new)


def _new_option_names(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """``argv`` with old option names as TRL's (warned); ``--config`` not a YAML file is the old dataset config."""
    names = {action.dest for action in parser._actions}
    hub_id = next((name for name in HUB_ID_OPTIONS if name in names), None)
    result, index = [], 0
    while index < len(argv):
        token = argv[index]
        index += 1
        if not token.startswith("--"):
            result.append(token)
            continue
        option, equals, value = token.partition("=")
        key = option[2:].replace("-", "_")
        new = RENAMED_OPTIONS.get(key)
        if new and new in names and key not in names:
            _warn_renamed(option, f"--{new}")
            result.append(f"--{new}{equals}{value}")
            continue
        if not equals and index < len(argv) and not argv[index].startswith("-"):
            value = argv[index]  # the option's value, when it takes one
        elif not equals:
            value = None
        if key == "config" and value is not None and not _is_recipe_path(value):
            if "dataset_config" not in names:
                parser.error(
                    f"{RECIPE_OPTION} takes a YAML recipe file (as in `trl sft --config recipe.yaml`); "
                    f"{value!r} is not one"
                )
            logger.warning(
                "%s %s for the dataset config is deprecated and will be removed in the next release: %s "
                "now names a YAML recipe (as in `trl sft --config recipe.yaml`); use --dataset_config %s",
                option,
                value,
                RECIPE_OPTION,
                value,
            )
            result += ["--dataset_config", value]
            index += 0 if equals else 1
        elif key == "push_to_hub" and hub_id and value is not None and not _is_bool_text(value):
            _warn_renamed(f"{option} REPO", f"--push_to_hub --{hub_id} REPO")
            result += ["--push_to_hub", f"--{hub_id}", value]
            index += 0 if equals else 1
        else:
            result.append(token)
    return result


def _read_recipe(path: str, parser: argparse.ArgumentParser) -> Recipe:
    """The recipe, old option names replaced by TRL's (with a warning), checked against the parser's options."""
    names = {action.dest for action in parser._actions} - {"help", "config"}
    renamed = {
        old: new
        for old, new in {**RENAMED_OPTIONS, "config": "dataset_config"}.items()
        if new in names and old not in names
    }
    recipe = read_recipe(path, names, renamed=renamed)
    hub_id = next((name for name in HUB_ID_OPTIONS if name in names), None)
    push = recipe.options.get("push_to_hub")
    if hub_id and isinstance(push, str) and not _is_bool_text(push):
        _warn_renamed("push_to_hub: REPO", f"push_to_hub: true with {hub_id}: REPO", f"{RECIPE_OPTION} {path}: ")
        recipe.options.update({"push_to_hub": True, hub_id: push})
    return recipe


def check_options(parser: argparse.ArgumentParser, argv: list[str]) -> Arguments:
    """The arguments, with TRL's names and the recipe read, checked; SystemExit on ``--help`` or an error."""
    argv = _new_option_names(argv, parser)
    path, rest = _recipe_path(argv)
    recipe = _read_recipe(path, parser) if path else None
    if recipe is not None:
        set_recipe_defaults(parser, recipe)
    parser.parse_args(split_list_values(parser, rest))
    return Arguments(rest, recipe=recipe)


def _choices_epilog(title: str, choices: dict[str, str], more: str) -> str:
    """The choices of a first argument with their descriptions, as a help epilog."""
    width = max(map(len, choices)) + 2
    lines = [f"{title}:"]
    for name, text in choices.items():
        indent = " " * (width + 2)
        wrapped = textwrap.wrap(text, 100, initial_indent=f"  {name:<{width}}", subsequent_indent=indent)
        lines += wrapped or [f"  {name}"]
    return "\n".join(lines + ["", more])


def check_choice(
    command: str,
    argv: list[str],
    what: str,
    choices: dict[str, tuple[str, tuple[str, str]]],
    common: tuple[str, str],
    description: str,
) -> Arguments:
    """Check the arguments of a command whose first argument is a choice (``build TASK``, ``experiment NAME``)."""
    if not argv or argv[0].startswith("-"):
        epilog = _choices_epilog(
            f"{what}s",
            {name: text for name, (text, _) in choices.items()},
            f"Options of one {what}: self-explain {command} {what.upper()} --help",
        )
        parser = options_parser(f"self-explain {command}", common, description, (what.upper(), choices), epilog)
        parser.parse_args(argv or ["--help"])  # prints the help, or names the missing choice; exits
    name = argv[0]
    if name not in choices:
        raise ValueError(f"unknown {what} {name!r}; choose from {', '.join(sorted(choices))}")
    prog = f"self-explain {command} {name}"
    parser = options_parser(prog, choices[name][1], choices[name][0] or description)
    arguments = check_options(parser, argv[1:])
    arguments.choice = name
    return arguments


def builtin_tasks() -> dict[str, tuple[str, tuple[str, str]]]:
    """Each built-in task's name → (description, (module, class) of its config), read from source, in order."""
    from . import TASKS

    tasks = {}
    for module in TASKS.modules:
        for class_module, class_name in _registered_classes(module):
            name, description, config = _task_class_source(class_module, class_name)
            if name is not None and config is not None:
                tasks[name] = (description, config)
    return tasks


def _registered_classes(module: str) -> list[tuple[str, str]]:
    """(module, class) of each task ``module`` registers, by ``register_task(XTask())`` or ``@register_task``."""
    import ast

    from .utils.dataclass_source import module_file, resolve_name

    names = []
    for node in ast.walk(ast.parse(module_file(module).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] == "register_task" and node.args:
            argument = node.args[0]
            argument = argument.func if isinstance(argument, ast.Call) else argument
            if isinstance(argument, ast.Name):
                names.append(argument.id)
        elif isinstance(node, ast.ClassDef) and any(
            ast.unparse(d).split(".")[-1] == "register_task" for d in node.decorator_list
        ):
            names.append(node.name)
    return [resolve_name(module, name) for name in names]


def _task_class_source(module: str, class_name: str) -> tuple[str | None, str, tuple[str, str] | None]:
    """The ``name``, ``card`` description and ``config_class`` (module, class) a task class sets in its body."""
    import ast

    from .utils.dataclass_source import evaluate, module_file, resolve_name

    tree = ast.parse(module_file(module).read_text(encoding="utf-8"))
    body = next((n.body for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name), [])
    assigned = {
        n.targets[0].id: n.value
        for n in body
        if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)
    }
    name = evaluate(assigned["name"], module) if "name" in assigned else None
    config = assigned.get("config_class")
    description = ""
    card = assigned.get("card")
    if isinstance(card, ast.Call):
        given = {k.arg: k.value for k in card.keywords}
        if "description" in given or card.args:
            value = evaluate(given.get("description", card.args[0] if card.args else None), module)
            description = value if isinstance(value, str) else ""
    return (
        name if isinstance(name, str) else None,
        description,
        resolve_name(module, config.id) if isinstance(config, ast.Name) else None,
    )
