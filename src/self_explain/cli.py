"""The ``self-explain`` command line: one sub-command per step (build, train, evaluate, ...).

``--help``, ``--version`` and argument errors are answered from the config classes' source before torch is
imported (:mod:`~self_explain.cli_options`).
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from .cli_options import Arguments, builtin_tasks, check_choice, check_options, options_parser, parse_with_recipe
from .utils.version import __version__

# Where each command's options are declared: (module, class), read from source for --help and argument errors.
BUILD_OPTIONS = ("self_explain.tasks.config", "BuildConfig")
TRAIN_OPTIONS = ("self_explain.explainer.config", "ExplainerConfig")
TRAIN_SAE_OPTIONS = ("self_explain.tasks.features.sae_training", "TrainSAEConfig")
EVALUATE_OPTIONS = ("self_explain.evaluation.evaluator", "EvaluateConfig")
EXPERIMENT_OPTIONS = ("self_explain.evaluation.experiment", "ExperimentConfig")
TOYWORLD_OPTIONS = ("self_explain.toyworld.train", "ToyModelConfig")
DEMO_OPTIONS = ("self_explain.demo", "DemoConfig")
EXPLAIN_OPTIONS = (__name__, "ExplainArgs")
PUSH_OPTIONS = (__name__, "PushArgs")
REPORT_OPTIONS = ("self_explain.evaluation.explanation_report", "ReportConfig")


def _parse(config_class, prog: str, arguments: Arguments):
    """The command's config, parsed into ``config_class`` from its checked arguments."""
    return parse_with_recipe(config_class, prog, arguments.argv, arguments.recipe)[0]


def _build(arguments: Arguments) -> int:
    from . import TASKS

    task = TASKS[arguments.choice]
    config, recipe = parse_with_recipe(
        task.config_class, f"self-explain build {task.name}", arguments.argv, arguments.recipe
    )
    folder = task.build(config, recipe=recipe) if recipe else task.build(config)
    print(f"wrote {folder}")
    return 0


def _toyworld(arguments: Arguments) -> int:
    from .toyworld.train import ToyModelConfig, train_toy_model

    quality = train_toy_model(_parse(ToyModelConfig, "self-explain toyworld train", arguments))
    for key, value in quality.items():
        print(f"{key}: {value:.3f}")
    return 0


def _train_sae(arguments: Arguments) -> int:
    from .tasks.features.sae_training import TrainSAEConfig, train_saes

    for folder in train_saes(_parse(TrainSAEConfig, "self-explain train-sae", arguments)):
        print(f"wrote {folder}")
    return 0


def _train(arguments: Arguments) -> int:
    from .explainer.config import ExplainerConfig
    from .explainer.trainer import train_explainer

    folder = train_explainer(_parse(ExplainerConfig, "self-explain train", arguments))
    print(f"wrote {folder}")
    return 0


def _evaluate(arguments: Arguments) -> int:
    from .evaluation.evaluator import EvaluateConfig, report_markdown, run_evaluation

    config = _parse(EvaluateConfig, "self-explain evaluate", arguments)
    print(report_markdown(run_evaluation(config)))
    print(f"wrote {config.output_dir}/report.json, report.md and predictions")
    return 0


@dataclass
class ExplainArgs:
    """Options of ``self-explain explain``.

    Args:
        json (`str`): A JSON object with a 'task' key, or a list of them.
        explainer (`str`, *optional*): Explainer (default: the shipped toy explainer).
        target (`str`, *optional*): Target model (default: the explainer's own).
        verify (`bool`): Re-run the intervention and say whether the explanation held.
        max_new_tokens (`int`, *optional*): Longest explanation (default: the task's, 48; preferences 128).
        allow_other_target (`bool`): Explain another ``--target`` than the explainer was trained for.
        trust_remote_code (`bool`): Allow custom model code from the Hub.

    Raises:
        ValueError: When ``max_new_tokens`` is not a positive integer.
    """

    json: str = field(metadata={"help": "The input: a JSON object with a 'task' key, or a list of them."})
    explainer: str | None = field(default=None, metadata={"help": "Explainer (default: the shipped toy explainer)."})
    target: str | None = field(default=None, metadata={"help": "Target model (default: the explainer's own)."})
    verify: bool = field(
        default=False, metadata={"help": "Re-run the intervention and say whether the explanation held."}
    )
    max_new_tokens: int | None = field(
        default=None, metadata={"help": "Longest explanation generated (default: the task's, 48; preferences 128)."}
    )
    allow_other_target: bool = field(
        default=False, metadata={"help": "Explain another --target than the model the explainer was trained for."}
    )
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow custom model code from the Hub."})

    def __post_init__(self):
        from .utils.checks import check_positive

        check_positive("--max-new-tokens", self.max_new_tokens, optional=True)


def _explain(arguments: Arguments) -> int:
    from transformers import pipeline

    args = _parse(ExplainArgs, "self-explain explain", arguments)
    try:
        inputs = json.loads(args.json)
    except json.JSONDecodeError as error:
        raise ValueError(f"--json is not valid JSON ({error.msg})") from error
    except RecursionError:
        raise ValueError(
            "--json is nested too deeply to read; give a JSON object with a 'task' key (or a list of them)"
        ) from None
    explainer = args.explainer
    if args.trust_remote_code:  # pipeline() keeps trust_remote_code for its own loading: bind the explainer here
        from .explainer.modeling import load_explainer
        from .explainer.pipeline import DEFAULT_EXPLAINER

        explainer = load_explainer(
            explainer or DEFAULT_EXPLAINER,
            args.target,
            trust_remote_code=True,
            allow_other_target=args.allow_other_target,
        )
    explain = pipeline(
        "self-explanation", target=args.target, explainer=explainer, allow_other_target=args.allow_other_target
    )
    print(json.dumps(explain(inputs, verify=args.verify, max_new_tokens=args.max_new_tokens), indent=2))
    return 0


@dataclass
class PushArgs:
    """Options of ``self-explain push``.

    Args:
        folder (`str`): A trained explainer folder.
        repo_id (`str`): Hub model repo, e.g. ``org/toy-target-patching-explainer``.
        private (`bool`): Create the repo as private.
        commit_message (`str`, *optional*): Commit message.
        base_repo_id (`str`, *optional*): Hub repo of the adapter's base (default: a packaged model's original id,
            or ``<owner>/<name>`` for a toy base).
        push_base (`bool`, *optional*): Upload the base there first (default: when it has no repo of its own).
        dataset_repo_id (`str`, *optional*): Hub dataset the local training dataset was published as.
    """

    folder: str = field(metadata={"help": "A trained explainer folder (from self-explain train)."})
    repo_id: str = field(metadata={"help": "Hub model repo, e.g. org/toy-target-patching-explainer."})
    private: bool = field(default=False, metadata={"help": "Create the repo as private."})
    commit_message: str | None = field(default=None, metadata={"help": "Commit message."})
    base_repo_id: str | None = field(
        default=None,
        metadata={
            "help": "Hub repo of the adapter's base (default: a packaged model's original id, or <owner>/<name> for "
            "a toy "
            "base, uploaded there first)."
        },
    )
    push_base: bool | None = field(
        default=None,
        metadata={
            "help": "Upload the base to its repo first (default: when it has no repo of its own and no "
            "--base_repo_id)."
        },
    )
    dataset_repo_id: str | None = field(
        default=None, metadata={"help": "Hub dataset the local training dataset was published as (named in the card)."}
    )


def _push(arguments: Arguments) -> int:
    from .explainer.upload import push_adapter

    args = _parse(PushArgs, "self-explain push", arguments)
    print(
        push_adapter(
            args.folder,
            args.repo_id,
            private=args.private,
            commit_message=args.commit_message,
            base_repo_id=args.base_repo_id,
            push_base=args.push_base,
            dataset_repo_id=args.dataset_repo_id,
        )
    )
    return 0


def _experiment(arguments: Arguments) -> int:
    from .evaluation.experiment import ExperimentConfig, run_experiment
    from .evaluation.results_markdown import report_markdown

    config = _parse(ExperimentConfig, f"self-explain experiment {arguments.choice}", arguments)
    summary = run_experiment(config)
    if summary:
        print(report_markdown(summary))
        print(f"wrote {config.output_dir}/results.json, results.md and scaling.png")
    return 0


def _report(arguments: Arguments) -> int:
    from .evaluation.explanation_report import ReportConfig, run_report

    print(f"wrote {run_report(_parse(ReportConfig, 'self-explain report', arguments))}")
    return 0


def _demo(arguments: Arguments) -> int:
    from .demo import DemoConfig, run_demo

    print(run_demo(_parse(DemoConfig, "self-explain demo", arguments)))
    return 0


def _check_build(argv: list[str]) -> Arguments:
    """``build TASK``: the built-in tasks read from source, a task registered by other code from its class."""
    tasks = builtin_tasks()
    if argv and not argv[0].startswith("-") and argv[0] not in tasks:  # a task registered by other code
        from . import TASKS

        if argv[0] in TASKS:
            config_class = TASKS[argv[0]].config_class
            tasks[argv[0]] = (TASKS[argv[0]].card.description, (config_class.__module__, config_class.__name__))
    return check_choice("build", argv, "task", tasks, BUILD_OPTIONS, "Build an explanation dataset in Hub layout.")


def _check_experiment(argv: list[str]) -> Arguments:
    """``experiment NAME``: the experiments named in the experiment module's source."""
    from .utils.dataclass_source import read_constant

    names = read_constant(EXPERIMENT_OPTIONS[0], "EXPERIMENTS")
    return check_choice(
        "experiment",
        argv,
        "experiment",
        {name: ("", EXPERIMENT_OPTIONS) for name in names},
        EXPERIMENT_OPTIONS,
        COMMANDS["experiment"].summary,
    )


def _check_toyworld(argv: list[str]) -> Arguments:
    """``toyworld train``."""
    return check_choice(
        "toyworld",
        argv,
        "action",
        {"train": ("Train a toy-world model.", TOYWORLD_OPTIONS)},
        TOYWORLD_OPTIONS,
        "Train a toy-world model.",
    )


def _check_push(argv: list[str]) -> Arguments:
    """``push DIR org/name`` or ``push --folder DIR --repo_id org/name``."""
    if len(argv) >= 2 and not argv[0].startswith("-") and not argv[1].startswith("-"):
        argv = ["--folder", argv[0], "--repo-id", argv[1], *argv[2:]]  # self-explain push DIR org/name
    return _checked("push", PUSH_OPTIONS)(argv)


def _checked(command: str, source: tuple[str, str]) -> Callable[[list[str]], Arguments]:
    """The check of a command's arguments against the options declared by ``source``."""

    def check(argv: list[str]) -> Arguments:
        summary = COMMANDS[command].summary
        parser = options_parser(f"self-explain {command}", source, f"{summary[0].upper()}{summary[1:]}.")
        return check_options(parser, argv)

    return check


@dataclass(frozen=True)
class Command:
    """A sub-command: its ``summary``, its light ``check`` of the arguments and its heavy ``run``."""

    summary: str
    run: Callable[[Arguments], int]
    check: Callable[[list[str]], Arguments] = field(repr=False)


COMMANDS = {
    "build": Command(
        "build an explanation dataset (patching, ablation, features, preferences) in Hub layout", _build, _check_build
    ),
    "train": Command(
        "fine-tune an explainer (LoRA) on an explanation dataset", _train, _checked("train", TRAIN_OPTIONS)
    ),
    "train-sae": Command(
        "train TopK SAEs on a target's residual stream over a corpus (SAELens format)",
        _train_sae,
        _checked("train-sae", TRAIN_SAE_OPTIONS),
    ),
    "evaluate": Command(
        "score an explainer (and baselines) on a dataset split; write a report",
        _evaluate,
        _checked("evaluate", EVALUATE_OPTIONS),
    ),
    "explain": Command(
        "ask an explainer about one input (the self-explanation pipeline)",
        _explain,
        _checked("explain", EXPLAIN_OPTIONS),
    ),
    "push": Command("push a trained explainer folder to the Hub (self-explain push DIR org/name)", _push, _check_push),
    "experiment": Command(
        "privileged-access: self vs. other explainers and baselines by training size, mean and 95 % CI",
        _experiment,
        _check_experiment,
    ),
    "report": Command(
        "write one self-contained HTML page to browse an evaluation, a dataset or an experiment",
        _report,
        _checked("report", REPORT_OPTIONS),
    ),
    "toyworld": Command("train a toy-world model (toyworld train)", _toyworld, _check_toyworld),
    "demo": Command(
        "per task: build a dataset on the toy target, explain rows with the shipped explainer, evaluate "
        "it against baselines",
        _demo,
        _checked("demo", DEMO_OPTIONS),
    ),
}


def _configure_logging() -> None:
    """Our INFO lines and everyone's warnings on stderr (the root logger stays at WARNING)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger(__package__).setLevel(logging.INFO)


def _quiet_libraries() -> None:
    """Our INFO lines and one bar per stage; libraries' INFO, nested bars and (off a terminal) download bars off."""
    import datasets
    import transformers

    from .utils.progress import stderr_is_terminal

    transformers.logging.set_verbosity_warning()
    datasets.logging.set_verbosity_warning()
    datasets.disable_progress_bars()
    # PEFT's get_peft_model reads the deprecated property; nothing a user of ours can change.
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
    if not stderr_is_terminal():
        transformers.logging.disable_progress_bar()  # also huggingface_hub's


def _top_parser() -> argparse.ArgumentParser:
    """``self-explain`` itself: ``--help`` lists the commands, ``--version`` the package version."""
    parser = argparse.ArgumentParser(
        prog="self-explain",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train models to explain their own computations.",
        epilog="Options of a command: self-explain COMMAND --help",
    )
    parser.add_argument("--version", action="version", version=f"self-explain {__version__}")
    parser.add_argument(
        DEBUG_OPTION, action="store_true", help=f"show the traceback of a failure (also: {DEBUG_VARIABLE}=1)"
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command", required=True)
    for name, command in COMMANDS.items():
        commands.add_parser(name, help=command.summary.replace("%", "%%"), add_help=False)
    return parser


# Commands whose interrupted run picks up where it stopped when the same command is run again.
RESUMABLE = ("build", "train", "experiment")
DEBUG_OPTION = "--debug"
DEBUG_VARIABLE = "SELF_EXPLAIN_DEBUG"

# What to do about an OS error, by errno: the reasons a person can act on.
_OS_ADVICE = {
    errno.ENOSPC: "free some disk space, then rerun the same command",
    errno.EDQUOT: "free some space within your disk quota, then rerun the same command",
    errno.EROFS: "the file system is read-only: choose a writable folder",
    errno.EACCES: "check its permissions, or choose another folder",
    errno.EPERM: "check its permissions, or choose another folder",
    errno.EFBIG: "the file is too large for this file system: choose another folder",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n) and rerun",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
    errno.ENOENT: "a folder of the path does not exist or cannot be made there: check the path",
    errno.EEXIST: "it exists already: choose another path, or remove it",
}
_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)


def os_error_message(error: OSError, output: str | None = None) -> str:
    """One line for an OS error: "cannot write <path>: <reason>; <advice>" (or ``output``)."""
    path = error.filename or output
    reason = error.strerror or str(error) or type(error).__name__
    verb = "write" if error.errno in _WRITE_ERRNOS or error.errno is None else "access"
    advice = _OS_ADVICE.get(error.errno, "check the path and the disk, then rerun the same command")
    return f"cannot {verb}{f' {path}' if path else ''}: {reason}; {advice}"


def _os_error_inside(error: BaseException) -> OSError | None:
    """The OS error in a library error's chain, or one it reports as ``os error <errno>`` (safetensors)."""
    seen = error.__cause__
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _OS_ADVICE:
            return seen
        seen = seen.__cause__
    found = re.search(r"\(os error (\d+)\)", str(error))
    if found and int(found.group(1)) in _OS_ADVICE:
        number = int(found.group(1))
        return OSError(number, os.strerror(number))
    return None


def _output_option(argv: list[str]) -> str | None:
    """The value of ``--output_dir`` in ``argv`` (None without one): named by an OS error that names no file."""
    for index, token in enumerate(argv):
        if token in ("--out", "--output_dir", "--output-dir") and index + 1 < len(argv):
            return argv[index + 1]
        if token.startswith(("--out=", "--output_dir=", "--output-dir=")):
            return token.partition("=")[2]
    return None


@contextmanager
def _no_empty_output(path: str | None) -> Iterator[None]:
    """A command that fails leaves no output folder it created and left empty (empty sub-folders count as empty)."""
    folder = Path(path) if path else None
    created = folder is not None and not folder.exists()
    try:
        yield
    except BaseException:
        if created and folder.is_dir():
            for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
                with suppress(OSError):
                    sub.rmdir()  # only when empty
            with suppress(OSError):
                folder.rmdir()
        raise


def main(argv: list[str] | None = None) -> int:
    """Run one ``self-explain`` sub-command; a failure is one line on stderr (a traceback with ``--debug``).

    Returns the sub-command's status, or 2 for a bad input or an OS error, 130 when interrupted, 1 on any other
    failure; a failed command leaves no empty output folder it created.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")
    while argv and argv[0] == DEBUG_OPTION:
        debug, argv = True, argv[1:]
    if not argv or argv[0] not in COMMANDS:  # --help, --version, or a missing or unknown command
        _top_parser().parse_args(argv[:1])
        return 0
    name = argv[0]
    command = COMMANDS[name]
    _configure_logging()
    output = None
    try:
        arguments = command.check(argv[1:])  # exits on --help and on an argument error, before torch is imported
        output = _output_option(arguments.argv)
        _quiet_libraries()
        with _no_empty_output(output if name != "build" else None):  # a build cleans up its own folder
            return command.run(arguments)
    except (ValueError, FileExistsError, FileNotFoundError, NotADirectoryError, ConnectionError) as error:
        if debug:
            raise
        if isinstance(error, OSError) and error.errno is not None and error.filename:  # the OS's, not one of ours
            print(f"self-explain {name}: error: {os_error_message(error, output)}", file=sys.stderr)
        else:
            print(f"self-explain {name}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a read-only or full disk, a permission: said in one line, nothing to debug
        if debug:
            raise
        print(f"self-explain {name}: error: {os_error_message(error, output)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if debug:
            raise
        then = "rerun the same command to resume" if name in RESUMABLE else "rerun the same command to start again"
        print(f"\nself-explain {name}: interrupted; {then}", file=sys.stderr)
        return 130
    except Exception as error:  # a bug, or a failure no check foresaw: one line, the traceback with --debug
        if debug:
            raise
        os_error = _os_error_inside(error)
        if os_error is not None:  # a library's own error for a full disk (safetensors: "os error 28")
            print(f"self-explain {name}: error: {os_error_message(os_error, output)}", file=sys.stderr)
            return 2
        detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
        print(
            f"self-explain {name}: unexpected error: {type(error).__name__}{': ' + detail if detail else ''}; "
            f"rerun as `self-explain {DEBUG_OPTION} {name} ...` to see where, and please report it",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
