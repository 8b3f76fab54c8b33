"""Options made from dataclass fields read from source (``utils.dataclass_source``, ``utils.arguments``) are the ones
``HfArgumentParser`` makes from the imported classes: same names, spellings, aliases, arity, required-ness, choices,
defaults and help, for every command's config (TRL's and transformers' trainer options included)."""

import argparse
import importlib
import sys
import textwrap

import pytest
from transformers import HfArgumentParser

from self_explain import cli
from self_explain.cli_options import builtin_tasks
from self_explain.utils.arguments import HelpFormatter, add_field_arguments, split_list_values
from self_explain.utils.dataclass_source import UNEVALUATED, read_constant, read_dataclass_fields

SOURCES = sorted(
    {
        cli.BUILD_OPTIONS,
        cli.TRAIN_OPTIONS,
        cli.TRAIN_SAE_OPTIONS,
        cli.EVALUATE_OPTIONS,
        cli.EXPERIMENT_OPTIONS,
        cli.TOYWORLD_OPTIONS,
        cli.DEMO_OPTIONS,
        cli.EXPLAIN_OPTIONS,
        cli.PUSH_OPTIONS,
        *(source for _, source in builtin_tasks().values()),
    }
)
# Trainer options whose type is a class the static reading leaves as text, and whose choices come from a call; the
# real parser checks them when the command runs.
LOOSE = {"debug", "liger_kernel_config", "parallelism_config", "log_level", "log_level_replica"}


def _actions(parser: argparse.ArgumentParser) -> dict:
    return {
        action.dest + " " + " ".join(action.option_strings): action
        for action in parser._actions
        if action.dest != "help"
    }


@pytest.mark.parametrize("source", SOURCES, ids=lambda source: source[1])
def test_the_options_read_from_source_are_hf_argument_parsers(source):
    static = argparse.ArgumentParser(formatter_class=HelpFormatter)
    add_field_arguments(static, read_dataclass_fields(*source))
    real = HfArgumentParser(getattr(importlib.import_module(source[0]), source[1]))
    static_actions, real_actions = _actions(static), _actions(real)
    assert list(static_actions) == list(real_actions)
    for key, action in static_actions.items():
        expected = real_actions[key]
        for attribute in ("nargs", "const", "required", "help", "metavar"):
            assert getattr(action, attribute) == getattr(expected, attribute), (key, attribute)
        if action.default is not UNEVALUATED:
            assert action.default == expected.default or action.default != action.default, (key, "default")
        if action.dest in LOOSE:
            continue
        assert (list(action.choices) if action.choices else None) == (
            list(expected.choices) if expected.choices else None
        ), (key, "choices")
        if expected.type in (int, float, str):
            assert action.type is expected.type, (key, "type")


def test_only_a_computed_default_is_left_unevaluated():
    unevaluated = {
        (source[1], field.name)
        for source in SOURCES
        for field in read_dataclass_fields(*source)
        if field.default is UNEVALUATED
    }
    assert unevaluated <= {("DemoConfig", "tasks"), ("ExplainerConfig", "optim"), ("ToyModelConfig", "optim")}


@pytest.fixture
def source_package(tmp_path, monkeypatch):
    """A throwaway package: a base dataclass in one module, a subclass, constants and an f-string help in another."""
    package = tmp_path / "probe_package"
    package.mkdir()
    (package / "__init__.py").write_text("from .child import Child\n")
    (package / "base.py").write_text(
        textwrap.dedent("""
        from dataclasses import dataclass, field
        KINDS = ("a", "b")
        FIRST, SECOND = "one", 2

        @dataclass
        class Base:
            name: str = field(metadata={"help": f"Kinds: {', '.join(KINDS)}."})
            count: int = SECOND
    """)
    )
    (package / "child.py").write_text(
        textwrap.dedent("""
        from dataclasses import dataclass, field
        from typing import Literal
        from .base import FIRST, Base

        def computed():
            return 3

        @dataclass
        class Child(Base):
            count: int = field(default=5, metadata={"help": "Overridden.", "aliases": ["--n"]})
            sizes: list[int] = field(default_factory=lambda: [1, 2])
            mode: Literal["x", "y"] = "x"
            word: str = FIRST
            later: int = field(default_factory=computed)
            flag: bool = True
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "probe_package"
    for name in [m for m in sys.modules if m.startswith("probe_package")]:
        del sys.modules[name]


def test_fields_are_read_through_bases_imports_and_constants_without_importing(source_package):
    fields = {f.name: f for f in read_dataclass_fields(source_package, "Child")}
    assert source_package not in sys.modules
    assert list(fields) == ["name", "count", "sizes", "mode", "word", "later", "flag"]
    assert fields["name"].metadata == {"help": "Kinds: a, b."} and fields["name"].declared_in.endswith("base.Base")
    assert fields["count"].default == 5 and fields["count"].declared_in.endswith("base.Base")
    assert fields["sizes"].default == [1, 2] and fields["sizes"].has_default_factory
    assert fields["word"].default == "one"
    assert fields["later"].default is UNEVALUATED
    assert read_constant(f"{source_package}.base", "KINDS") == ("a", "b")
    parser = argparse.ArgumentParser()
    add_field_arguments(parser, fields.values())
    parsed = parser.parse_args(["--name", "z", "--n", "7", "--sizes", "3", "--mode", "y", "--no_flag"])
    assert (parsed.name, parsed.count, parsed.sizes, parsed.mode, parsed.flag) == ("z", 7, [3], "y", False)
    with pytest.raises(SystemExit):
        parser.parse_args(["--name", "z", "--mode", "w"])
    real = HfArgumentParser(importlib.import_module(source_package).Child)
    assert list(_actions(parser)) == list(_actions(real))


def test_split_list_values_uses_the_parsers_list_options():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", type=int)
    parser.add_argument("--name")
    assert split_list_values(parser, ["--sizes", "1,2", "--name", "a,b", "--sizes=3,,4"]) == [
        "--sizes",
        "1",
        "2",
        "--name",
        "a,b",
        "--sizes",
        "3",
        "4",
    ]
