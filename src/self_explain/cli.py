"""The ``self-explain`` command line. Options come from each task's config dataclass (HfArgumentParser)."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import re
import sys
import warnings
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Iterator

from transformers import HfArgumentParser


def _split_list_values(config_class, argv: list[str]) -> list[str]:
    """``--sizes 100,300`` as well as ``--sizes 100 300``: comma-separated values of list options are split."""
    list_options = set()
    for f in fields(config_class):
        if str(f.type).startswith("list["):
            list_options |= {f"--{f.name}", f"--{f.name.replace('_', '-')}"}
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


def _parse_with_recipe(config_class, prog: str, argv: list[str]):
    """The command's config from ``argv``, and the YAML recipe it read (``--config_file FILE``; None without one).

    As TRL's command line: the recipe's values are the defaults, options on the command line override them.
    """
    from .core.recipes import RECIPE_OPTION, read_recipe, set_recipe_defaults

    aliases = (RECIPE_OPTION, RECIPE_OPTION.replace("_", "-"))
    first = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    first.add_argument(*aliases, dest="config_file")
    known, rest = first.parse_known_args(argv)
    parser = HfArgumentParser(config_class, prog=prog)
    parser.add_argument(*aliases, dest="config_file", metavar="FILE",
                        help="YAML recipe of these options (e.g. dataset_builders/<dataset>/<config>.yaml); options "
                             "given on the command line override it.")
    recipe = None
    if known.config_file:
        recipe = read_recipe(known.config_file, config_class)
        set_recipe_defaults(parser, recipe)
    config = parser.parse_args_into_dataclasses(args=_split_list_values(config_class, rest))[0]
    return config, recipe


def _parse(config_class, prog: str, argv: list[str]):
    return _parse_with_recipe(config_class, prog, argv)[0]


def _build(argv: list[str]) -> int:
    from . import TASKS

    usage = f"usage: self-explain build {{{','.join(sorted(TASKS))}}} [options]"
    if argv and argv[0] in ("-h", "--help"):
        print(f"{usage}\n\nBuild an explanation dataset.")
        return 0
    if not argv:
        print(f"{usage}\nself-explain build: error: give the task to build, one of {', '.join(sorted(TASKS))} "
              "(e.g. self-explain build patching --target toy-target --out ds)", file=sys.stderr)
        return 2
    task = TASKS.get(argv[0])
    if task is None:
        print(f"self-explain build: unknown task {argv[0]!r}; choose from {', '.join(sorted(TASKS))}", file=sys.stderr)
        return 2
    config, recipe = _parse_with_recipe(task.config_class, f"self-explain build {task.name}", argv[1:])
    folder = task.build(config, recipe=recipe) if recipe else task.build(config)
    print(f"wrote {folder}")
    return 0


def _toyworld(argv: list[str]) -> int:
    from .toyworld.train import ToyModelConfig, train_toy_model

    if not argv or argv[0] != "train":
        usage = "usage: self-explain toyworld train [options]"
        if argv and argv[0] in ("-h", "--help"):
            print(f"{usage}\n\nTrain a toy-world model.")
            return 0
        given = f"unknown sub-command {argv[0]!r}" if argv else "no sub-command"
        print(f"{usage}\nself-explain toyworld: error: {given}; use self-explain toyworld train", file=sys.stderr)
        return 2
    quality = train_toy_model(_parse(ToyModelConfig, "self-explain toyworld train", argv[1:]))
    for key, value in quality.items():
        print(f"{key}: {value:.3f}")
    return 0


def _train_sae(argv: list[str]) -> int:
    from .tasks.features.sae_training import TrainSAEConfig, train_saes

    for folder in train_saes(_parse(TrainSAEConfig, "self-explain train-sae", argv)):
        print(f"wrote {folder}")
    return 0


def _train(argv: list[str]) -> int:
    from .explainer.config import ExplainerConfig
    from .explainer.trainer import train_explainer

    folder = train_explainer(_parse(ExplainerConfig, "self-explain train", argv))
    print(f"wrote {folder}")
    return 0


def _evaluate(argv: list[str]) -> int:
    from .evaluation.evaluator import EvaluateConfig, report_markdown, run_evaluation

    config = _parse(EvaluateConfig, "self-explain evaluate", argv)
    print(report_markdown(run_evaluation(config)))
    print(f"wrote {config.out}/report.json, report.md and predictions")
    return 0


@dataclass
class ExplainArgs:
    """Options of ``self-explain explain``.

    Args:
        json (`str`): The input: a JSON object with a 'task' key, or a list of them.
        explainer (`str`, *optional*): Explainer (default: the shipped toy explainer).
        target (`str`, *optional*): Target model (default: the explainer's own).
        verify (`bool`, *optional*, defaults to `False`): Re-run the intervention and say whether the explanation
            held.
        max_new_tokens (`int`, *optional*): Longest explanation generated (default: the task's, 48; preferences
            128).
        allow_other_target (`bool`, *optional*, defaults to `False`): Explain another ``--target`` than the model the
            explainer was trained for.
        trust_remote_code (`bool`, *optional*, defaults to `False`): Allow custom model code from the Hub.

    Raises:
        ValueError: When ``max_new_tokens`` is not a positive integer.
    """

    json: str = field(metadata={"help": "The input: a JSON object with a 'task' key, or a list of them."})
    explainer: str | None = field(default=None, metadata={"help": "Explainer (default: the shipped toy explainer)."})
    target: str | None = field(default=None, metadata={"help": "Target model (default: the explainer's own)."})
    verify: bool = field(default=False, metadata={"help": "Re-run the intervention and say whether the explanation held."})
    max_new_tokens: int | None = field(default=None, metadata={"help": "Longest explanation generated (default: the task's, 48; preferences 128)."})
    allow_other_target: bool = field(
        default=False, metadata={"help": "Explain another --target than the model the explainer was trained for."}
    )
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow custom model code from the Hub."})

    def __post_init__(self):
        from .core.checks import check_positive

        check_positive("--max-new-tokens", self.max_new_tokens, optional=True)


def _explain(argv: list[str]) -> int:
    from transformers import pipeline

    args = _parse(ExplainArgs, "self-explain explain", argv)
    try:
        inputs = json.loads(args.json)
    except json.JSONDecodeError as error:
        raise ValueError(f"--json is not valid JSON ({error.msg})") from error
    except RecursionError:
        raise ValueError("--json is nested too deeply to read; give a JSON object with a 'task' key (or a list of "
                         "them)") from None
    explainer = args.explainer
    if args.trust_remote_code:  # pipeline() keeps trust_remote_code for its own loading: bind the explainer here
        from .explainer.modeling import load_explainer
        from .explainer.pipeline import DEFAULT_EXPLAINER

        explainer = load_explainer(explainer or DEFAULT_EXPLAINER, args.target, trust_remote_code=True,
                                   allow_other_target=args.allow_other_target)
    explain = pipeline("self-explanation", target=args.target, explainer=explainer,
                       allow_other_target=args.allow_other_target)
    print(json.dumps(explain(inputs, verify=args.verify, max_new_tokens=args.max_new_tokens), indent=2))
    return 0


@dataclass
class PushArgs:
    """Options of ``self-explain push``.

    Args:
        folder (`str`): A trained explainer folder (from self-explain train).
        repo_id (`str`): Hub model repo, e.g. ``org/toy-target-patching-explainer``.
        private (`bool`, *optional*, defaults to `False`): Create the repo as private.
        commit_message (`str`, *optional*): Commit message.
    """

    folder: str = field(metadata={"help": "A trained explainer folder (from self-explain train)."})
    repo_id: str = field(metadata={"help": "Hub model repo, e.g. org/toy-target-patching-explainer."})
    private: bool = field(default=False, metadata={"help": "Create the repo as private."})
    commit_message: str | None = field(default=None, metadata={"help": "Commit message."})


def _push(argv: list[str]) -> int:
    from .explainer.upload import push_adapter

    if len(argv) >= 2 and not argv[0].startswith("-") and not argv[1].startswith("-"):
        argv = ["--folder", argv[0], "--repo-id", argv[1], *argv[2:]]  # self-explain push DIR org/name
    args = _parse(PushArgs, "self-explain push", argv)
    print(push_adapter(args.folder, args.repo_id, private=args.private, commit_message=args.commit_message))
    return 0


def _experiment(argv: list[str]) -> int:
    from .evaluation.experiment import EXPERIMENTS, ExperimentConfig, run_experiment
    from .evaluation.report import report_markdown

    usage = f"usage: self-explain experiment {{{','.join(EXPERIMENTS)}}} [options]"
    if argv and argv[0] in ("-h", "--help"):
        print(f"{usage}\n\n"
              "privileged-access: self vs. other explainers and baselines by training size, mean and 95 % CI.")
        return 0
    if not argv:
        print(f"{usage}\nself-explain experiment: error: give the experiment to run, one of {', '.join(EXPERIMENTS)}",
              file=sys.stderr)
        return 2
    if argv[0] not in EXPERIMENTS:
        print(f"self-explain experiment: unknown experiment {argv[0]!r}; choose from {', '.join(EXPERIMENTS)}",
              file=sys.stderr)
        return 2
    config = _parse(ExperimentConfig, f"self-explain experiment {argv[0]}", argv[1:])
    summary = run_experiment(config)
    if summary:
        print(report_markdown(summary))
        print(f"wrote {config.out}/results.json, results.md and scaling.png")
    return 0


def _demo(argv: list[str]) -> int:
    from .demo import DemoConfig, run_demo

    print(run_demo(_parse(DemoConfig, "self-explain demo", argv)))
    return 0


COMMANDS = {
    "build": (_build, "build an explanation dataset (patching, ablation, features, preferences) in Hub layout"),
    "train": (_train, "fine-tune an explainer (LoRA) on an explanation dataset"),
    "train-sae": (_train_sae, "train TopK SAEs on a target's residual stream over a corpus (SAELens format)"),
    "evaluate": (_evaluate, "score an explainer (and baselines) on a dataset split; write a report"),
    "explain": (_explain, "ask an explainer about one input (the self-explanation pipeline)"),
    "push": (_push, "push a trained explainer folder to the Hub (self-explain push DIR org/name)"),
    "experiment": (_experiment, "privileged-access: self vs. other explainers and baselines by training size"),
    "toyworld": (_toyworld, "train a toy-world model (toyworld train)"),
    "demo": (_demo, "per task: build a dataset on the toy target, explain rows with the shipped explainer, evaluate it against baselines"),
}


def _quiet_libraries() -> None:
    """What a person reads: our INFO lines, the libraries' warnings and errors, one progress bar per stage.

    The libraries' INFO lines are left out (the root logger stays at WARNING; ``self_explain`` logs INFO), and so
    are ``datasets``' progress bars (writing parquet, generating a split), which open inside our stage bars.
    Outside a terminal, transformers' and the Hub's bars (loading weights, downloads) are left out too: nested
    bars redraw with ``ESC[A``, which leaves ``[A`` junk in a log file.
    """
    import datasets
    import transformers

    from .core.progress import stderr_is_terminal

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("self_explain").setLevel(logging.INFO)
    transformers.logging.set_verbosity_warning()
    datasets.logging.set_verbosity_warning()
    datasets.disable_progress_bars()
    # PEFT's get_peft_model reads the deprecated property; nothing a user of ours can change.
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
    if not stderr_is_terminal():
        transformers.logging.disable_progress_bar()  # also huggingface_hub's


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
    """One line for an OS error (a read-only or full disk, a permission): "cannot write <path>: <reason>; <advice>".

    Args:
        error (`OSError`): The error.
        output (`str`, *optional*): The command's output folder, named when the error names no file.

    Returns:
        `str`: The message.
    """
    path = error.filename or output
    reason = error.strerror or str(error) or type(error).__name__
    verb = "write" if error.errno in _WRITE_ERRNOS or error.errno is None else "access"
    advice = _OS_ADVICE.get(error.errno, "check the path and the disk, then rerun the same command")
    return f"cannot {verb}{f' {path}' if path else ''}: {reason}; {advice}"


def _os_error_inside(error: BaseException) -> OSError | None:
    """The OS error behind a library's own exception: one in its chain, or an ``os error <errno>`` it reports (as
    safetensors' ``SafetensorError`` does for a full disk); None when there is none."""
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
    """The value of ``--out`` in ``argv`` (None without one): named by an OS error that names no file."""
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
    """The ``self-explain`` command: run one sub-command; a failure is one line on stderr, not a traceback.

    ``self-explain --debug <command> ...`` (or ``SELF_EXPLAIN_DEBUG=1``) shows the traceback of any failure instead.

    Args:
        argv (`list[str]`, *optional*): The arguments, the sub-command first; ``sys.argv[1:]`` when unset.

    Returns:
        `int`: The exit status: the sub-command's (0 on success), 0 for the top-level help; 2 when it stopped on a
        bad input (a ``ValueError``, ``FileExistsError``, ``FileNotFoundError``, ``NotADirectoryError`` or
        ``ConnectionError``, reported as ``self-explain <command>: error: ...``) or an OS error (reported as
        ``cannot write <path>: <reason>``); 130 when interrupted (Ctrl-C); 1 on any other error (one line naming
        it, the traceback with ``--debug``). A failed command leaves no output folder it created empty.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")
    while argv and argv[0] == DEBUG_OPTION:
        debug, argv = True, argv[1:]
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        parser = argparse.ArgumentParser(prog="self-explain", description="Train models to explain their own computations.")
        parser.add_argument(DEBUG_OPTION, action="store_true",
                            help=f"show the traceback of a failure (also: {DEBUG_VARIABLE}=1)")
        parser.add_argument("command", choices=sorted(COMMANDS), help="; ".join(f"{k}: {v[1]}" for k, v in COMMANDS.items()))
        parser.parse_args(argv[:1])
        return 0
    name = argv[0]
    command, _ = COMMANDS[name]
    output = _output_option(argv[1:])
    try:
        _quiet_libraries()
        with _no_empty_output(output if name != "build" else None):  # a build cleans up its own folder
            return command(argv[1:])
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
        print(f"self-explain {name}: unexpected error: {type(error).__name__}{': ' + detail if detail else ''}; "
              f"rerun as `self-explain {DEBUG_OPTION} {name} ...` to see where, and please report it",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
