"""``self-explain evaluate``: explain a dataset split with a trained explainer, score it, write a report.

Generation goes through :class:`~self_explain.explainers.Explainer`, scores through the task's ``evaluate``
module; ``--baseline`` and ``--vector_controls`` score baselines and vector controls on the same examples.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import evaluate
from datasets import Dataset

from ..core.hub_ids import hub_id_of_dataset
from ..explainer.controls import SCORING_CONTROLS
from ..explainer.metric_layout import classes_of, control_summary, metric_layout, metric_tables
from ..explainer.modeling import (
    EXPLAINER_METADATA,
    Explainer,
    load_explainer,
    same_model,
)
from ..metrics import metric_path
from ..tasks import TASKS, ExplainerExamples, get_task, load_split, read_provenance
from ..tasks.build import subsample_indices
from ..tasks.registry import check_dataset_config
from ..utils.checks import check_dataset_reference, check_non_negative, check_positive, check_positive_number
from ..utils.files import write_atomically
from ..utils.version import command_line
from .baselines import (
    BASELINES,
    SELFIE,
    SELFIE_SCALES,
    SELFIE_VALIDATION_ROWS,
    TRAINING_BASELINES,
    BaselineResult,
    check_baseline,
    choose_selfie_scale,
    run_baseline,
)
from .intervals import GROUP_COLUMN, row_groups, split_intervals
from .predictions import prediction_table, row_views, write_predictions
from .results_markdown import interval_cell, interval_difference_cell
from .row_scores import row_statistics
from .vector_controls import (
    DIFFERENCE_KEY,
    TRUE_VECTORS,
    check_vector_controls,
    control_results,
    controlled_examples,
    difference_label,
)

logger = logging.getLogger(__name__)


@dataclass
class EvaluateConfig:
    """Options of ``self-explain evaluate``.

    Args:
        explainer (`str`): Trained explainer: folder, Hub id or toy name.
        dataset_name (`str`): Explanation dataset: Hub id or local folder.
        output_dir (`str`): Folder for ``report.json``, ``report.md`` and ``predictions-*.parquet``.
        dataset_config (`str`, *optional*): Dataset config (default: the explainer's).
        split (`list[str]`, *optional*, defaults to `["test"]`): Splits to evaluate.
        target (`str`, *optional*): Target model (default: the explainer's own).
        task (`str`, *optional*): Task (default: the explainer's).
        baseline (`list[str]`, *optional*, defaults to `[]`): Baselines to score too: untrained, zero-shot, selfie,
            nearest-neighbor, majority.
        selfie_scales (`list[float]`, *optional*, defaults to `SELFIE_SCALES`): SelfIE vector scales tried on a
            validation slice of the train split, the best kept.
        selfie_validation_rows (`int`, *optional*, defaults to `SELFIE_VALIDATION_ROWS`): Train rows (seeded) SelfIE's
            scale is chosen on.
        neighbor_rows (`int`, *optional*): Nearest-neighbor and majority baselines: search a seeded subsample of
            this many train rows.
        max_rows (`int`, *optional*): Score a seeded subsample of this many rows per split.
        seed (`int`, *optional*, defaults to 0): Seed of the subsample and of template choice.
        batch_size (`int`, *optional*, defaults to 32): Explanations generated per batch.
        max_new_tokens (`int`, *optional*): Longest explanation generated (default: the task's).
        dataset_revision (`str`, *optional*): Revision of a Hub dataset.
        update_card (`bool`, *optional*, defaults to `False`): Write the results into the explainer's model card
            (replacing the evaluation recorded there).
        vector_controls (`bool`, *optional*, defaults to `False`): Score a vector explainer again on the same rows
            with shuffled vectors (a seeded derangement) and with zero vectors, with the paired differences true −
            control. A rotated-control explainer gets the controls before its rotation; a shuffled one is refused.
        allow_other_target (`bool`, *optional*, defaults to `False`): Score the explainer against the ground truth
            of another model than the one it was trained to explain.
        trust_remote_code (`bool`, *optional*, defaults to `False`): Allow custom model code from the Hub.

    Raises:
        ValueError: On an unknown baseline, no split, a non-positive batch size, row or token count, or a negative
            seed.
    """

    explainer: str = field(metadata={"help": "Trained explainer: folder, Hub id or toy name."})
    dataset_name: str = field(metadata={"help": "Explanation dataset: Hub id or local folder."})
    output_dir: str = field(metadata={"help": "Folder for report.json, report.md and predictions-*.parquet."})
    dataset_config: str | None = field(default=None, metadata={"help": "Dataset config (default: the explainer's)."})
    split: list[str] = field(default_factory=lambda: ["test"], metadata={"help": "Splits to evaluate."})
    target: str | None = field(default=None, metadata={"help": "Target model (default: the explainer's own)."})
    task: str | None = field(default=None, metadata={"help": "Task (default: the explainer's)."})
    baseline: list[str] = field(
        default_factory=list, metadata={"help": f"Baselines to score too: {', '.join(BASELINES)}."}
    )
    selfie_scales: list[float] = field(
        default_factory=lambda: list(SELFIE_SCALES),
        metadata={"help": "SelfIE baseline: vector scales tried on a validation slice of the train split, best kept."},
    )
    selfie_validation_rows: int = field(
        default=SELFIE_VALIDATION_ROWS,
        metadata={"help": "SelfIE baseline: rows of the train split (a seeded subsample) its scale is chosen on."},
    )
    neighbor_rows: int | None = field(
        default=None,
        metadata={
            "help": "Nearest-neighbor and majority baselines: search a seeded subsample of this many train rows."
        },
    )
    max_rows: int | None = field(
        default=None, metadata={"help": "Score a seeded subsample of this many rows per split."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of the subsample and of template choice."})
    batch_size: int = field(default=32, metadata={"help": "Explanations generated per batch."})
    max_new_tokens: int | None = field(
        default=None, metadata={"help": "Longest explanation generated (default: the task's, 48; preferences 128)."}
    )
    dataset_revision: str | None = field(default=None, metadata={"help": "Revision of a Hub dataset."})
    update_card: bool = field(
        default=False,
        metadata={
            "help": "Write the results into the explainer's model card (replacing the evaluation recorded "
            "there, its vector controls included)."
        },
    )
    vector_controls: bool = field(
        default=False,
        metadata={
            "help": f"Also score a vector explainer (patching, features) on the same rows with "
            f"{' and '.join(SCORING_CONTROLS)} vectors (shuffled: each row gets another row's, seeded "
            "by --seed), with the paired differences true - control and their intervals over "
            "entities. Text-only tasks are refused; so is an explainer trained under the shuffled "
            "control."
        },
    )
    allow_other_target: bool = field(
        default=False,
        metadata={
            "help": "Score the explainer against the ground truth of another model than the one it was trained "
            "to explain (a --target or a --dataset_config of another model)."
        },
    )
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow custom model code from the Hub."})

    def __post_init__(self):
        unknown = sorted(set(self.baseline) - set(BASELINES))
        if unknown:
            raise ValueError(f"--baseline {unknown} unknown; choose from {', '.join(BASELINES)}")
        check_positive("--batch-size", self.batch_size)
        check_positive("--max-rows", self.max_rows, optional=True)
        check_positive("--neighbor-rows", self.neighbor_rows, optional=True)
        check_positive("--selfie-validation-rows", self.selfie_validation_rows)
        check_positive("--max-new-tokens", self.max_new_tokens, optional=True)
        check_non_negative("--seed", self.seed)
        if not self.split:
            raise ValueError("--split needs at least one split name (e.g. test)")
        if not self.selfie_scales:
            raise ValueError("--selfie-scales needs at least one scale (e.g. 1 5 10)")
        for scale in self.selfie_scales:
            check_positive_number("--selfie-scales", scale)


@lru_cache
def _metric(name: str):
    return evaluate.load(metric_path(name))


def rounded_metric(value) -> float | None:
    """A metric value rounded to 4 decimals, as reports store it; None (not estimable) stays None."""
    return None if value is None else round(float(value), 4)


def score(task_name: str, predictions: list[str], references: list[str]) -> dict[str, float | None]:
    """The task's ``evaluate`` metric (after its ``metric_input``, if any), rounded to 4 decimals; None stays None."""
    task = get_task(task_name)
    predictions = [task.metric_input(p) for p in predictions]  # what the explanation says, not the wording around it
    metric = _metric(task.metric)
    return {k: rounded_metric(v) for k, v in metric.compute(predictions=predictions, references=references).items()}


def split_examples(explainer: Explainer, task_name: str, rows: Dataset, seed: int = 0) -> ExplainerExamples:
    """The questions, answers and vectors of a split's rows, read from the explainer's target."""
    with explainer.target_runs() as target:
        return get_task(task_name).examples(rows, target, seed)


def score_predictions(
    explainer: Explainer, task_name: str, examples: ExplainerExamples, predictions: list[str]
) -> dict:
    """The task's metric of ``predictions``, plus its extra scores (e.g. a simulator's) where it has them."""
    metrics = score(task_name, predictions, examples.answers)
    task = get_task(task_name)
    if task.implements("extra_scores") and examples.extras is not None:
        with explainer.target_runs() as target:
            metrics.update({k: rounded_metric(v) for k, v in task.extra_scores(examples, predictions, target).items()})
    return metrics


def evaluate_split(
    explainer: Explainer,
    task_name: str,
    examples: ExplainerExamples,
    *,
    batch_size: int = 32,
    max_new_tokens: int | None = None,
    baseline: str | None = None,
    train_examples: ExplainerExamples | None = None,
    validation_examples: ExplainerExamples | None = None,
    selfie_choice: dict | None = None,
    selfie_scales: tuple[float, ...] = SELFIE_SCALES,
) -> BaselineResult:
    """Metrics and predictions of a split's examples, by the trained explainer or by ``baseline``."""

    def scorer(predictions):
        return score_predictions(explainer, task_name, examples, predictions)

    max_new_tokens = max_new_tokens or get_task(task_name).max_new_tokens

    if baseline is None:
        predictions = explainer.generate(examples, batch_size, max_new_tokens, progress=True)
        return BaselineResult(scorer(predictions), predictions)

    def validation_scorer(predictions):
        return score_predictions(explainer, task_name, validation_examples, predictions)

    return run_baseline(
        baseline,
        explainer,
        task_name,
        examples,
        scorer,
        train_examples=train_examples,
        validation_examples=validation_examples,
        validation_score=validation_scorer if validation_examples is not None else None,
        selfie_choice=selfie_choice,
        selfie_scales=selfie_scales,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
    )


def selfie_scale_on_train(
    explainer: Explainer,
    task_name: str,
    validation_examples: ExplainerExamples | None,
    selfie_scales: tuple[float, ...] = SELFIE_SCALES,
    *,
    batch_size: int = 32,
    max_new_tokens: int | None = None,
) -> dict:
    """SelfIE's scale, chosen once on a validation slice of the train split, for every split scored after."""

    def validation_scorer(predictions):
        return score_predictions(explainer, task_name, validation_examples, predictions)

    return choose_selfie_scale(
        explainer,
        task_name,
        validation_examples,
        validation_scorer if validation_examples is not None else None,
        selfie_scales,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens or get_task(task_name).max_new_tokens,
    )


def report_markdown(report: dict) -> str:
    """``report.md``: overall metrics, per-class metrics, differences and vector controls, with 95 % intervals."""
    results = report["results"]
    controls = (report.get("vector_controls") or {}).get("results") or []
    names = sorted({m for r in [*results, *controls] for m in r["metrics"]})
    layout = metric_layout(names, classes_of([*results, *controls]))
    lines = [
        f"# Evaluation of {report['explainer']}",
        "",
        f"Task `{report['task']}`, target `{report['target']}`, dataset `{report['dataset']}` config "
        f"`{report['dataset_config']}`.",
        "Each metric with its 95 % bootstrap interval over the split's entities (rows without one: each row).",
        "",
    ]
    lead = [("explainer", _who), ("split", lambda r: r["split"])]
    lines += metric_tables(results, layout, lead, _result_cell, sizes=True)
    differences = [r for r in results if r.get("trained_minus_baseline")]
    if differences:
        lines += ["Trained − baseline, paired (the same rows and resamples; * the interval excludes 0):", ""]
        lead = [("baseline", _who), ("split", lambda r: r["split"])]
        lines += metric_tables(differences, layout, lead, _difference_of("trained_minus_baseline"), sizes=False)
    if controls:
        lines += _vector_controls_markdown(report["vector_controls"], layout, report["task"])
    return "\n".join(lines).rstrip("\n") + "\n"


def _result_cell(result: dict, name: str) -> str:
    return interval_cell(result["metrics"].get(name, float("nan")), result.get("intervals", {}).get(name))


def _difference_of(key: str):
    return lambda result, name: interval_difference_cell(result[key].get(name), separator="")


def _vector_controls_markdown(section: dict, layout, task: str) -> list[str]:
    """The ``--vector_controls`` part of ``report.md``: each run's metrics, then the paired differences."""
    trained_under = section.get("explainer_vector_control")
    lines = [
        "## Vector controls: does the explainer read the vector?",
        "",
        (
            f"The same rows scored with the {TRUE_VECTORS} vectors, with shuffled ones (each row given another row's "
            f"vector, a derangement of the scored rows, seed {section.get('seed')}) and with zero ones."
        ),
    ]
    if trained_under:
        lines.append(
            f"The explainer was trained under the {trained_under['name']} vector control (seed "
            f"{trained_under['seed']}): as in its training, each condition's vectors were then transformed "
            "by that control."
        )
    lines.append("")
    headline = (
        next(
            (
                m
                for m in get_task(task).experiment.headline_metrics
                if any(m in r["metrics"] for r in section["results"])
            ),
            None,
        )
        if task in TASKS
        else None
    )
    if headline:
        lines += [f"Headline metric `{headline}`:", ""]
        lines += [
            f"- {line}"
            for line in control_summary(section["results"], headline, _result_cell, _difference_of(DIFFERENCE_KEY))
        ] + [""]
    lead = [("vectors", lambda r: r["vectors"]), ("split", lambda r: r["split"])]
    lines += metric_tables(section["results"], layout, lead, _result_cell, sizes=True)
    differences = [r for r in section["results"] if r.get(DIFFERENCE_KEY)]
    if differences:
        lines += ["True − control, paired (the same rows and resamples; * the interval excludes 0):", ""]
        lead = [("difference", difference_label), ("split", lambda r: r["split"])]
        lines += metric_tables(differences, layout, lead, _difference_of(DIFFERENCE_KEY), sizes=False)
    return lines


def _who(result: dict) -> str:
    who = f"baseline: {result['baseline']}" if result["baseline"] else "trained"
    if result.get("details", {}).get("scale") is not None:
        who += f" (scale {result['details']['scale']:g})"
    return who


def _check_dataset_target(config: EvaluateConfig, explainer: Explainer, dataset_config: str | None) -> None:
    """Refuse a local dataset config built on another model than the explainer's target (unless allowed)."""
    provenance = read_provenance(config.dataset_name, dataset_config)
    if config.allow_other_target or not provenance or not provenance.get("target"):
        return
    built_on, revision = provenance["target"], provenance.get("target_revision")
    target = explainer.target
    known = "unknown" not in (revision, target.revision) and None not in (revision, target.revision)
    if not same_model(built_on, target.name) or (known and revision != target.revision):
        raise ValueError(
            f"--dataset_config {dataset_config!r} of dataset {config.dataset_name} holds the ground truth of "
            f"{built_on!r} (revision {revision}), but the explainer is bound to {target.name!r} (revision "
            f"{target.revision}); "
            f"pass the config of that model, or --allow-other-target to score it against another model anyway"
        )


def run_evaluation(config: EvaluateConfig) -> dict:
    """Run ``self-explain evaluate``: explain each split, score it and its baselines, write the report.

    Writes ``report.json``, ``report.md`` and one ``predictions-<split>[-<baseline>].parquet`` per scored run to
    ``config.output_dir`` (with ``vector_controls`` also ``predictions-<split>-vectors-<control>.parquet``), and with
    ``update_card`` the results into the explainer's card.

    Args:
        config (`EvaluateConfig`): The options.

    Returns:
        `dict`: The report (explainer, task, target and its revision, dataset, config, command and results; with
        ``vector_controls`` also ``vector_controls``, see `control_results`).

    Raises:
        FileNotFoundError: When the dataset folder or config does not exist.
        NotADirectoryError: When ``output_dir`` is a file.
        ValueError: Before any model is loaded, when no task is known, ``task`` is not the explainer's, a baseline
            does not apply, the dataset holds another model's ground truth, or ``vector_controls`` cannot apply.
    """
    check_dataset_reference("--dataset_name", config.dataset_name)
    if Path(config.output_dir).exists() and not Path(config.output_dir).is_dir():
        raise NotADirectoryError(
            f"--output_dir {config.output_dir} is a file; give a folder for the report and predictions"
        )
    if config.vector_controls:  # from the explainer's metadata: refused before any model is loaded
        check_vector_controls(config.explainer, config.task)
    explainer = load_explainer(
        config.explainer,
        config.target,
        trust_remote_code=config.trust_remote_code,
        allow_other_target=config.allow_other_target,
    )
    task_name = config.task or explainer.task
    if config.task and explainer.task and config.task != explainer.task:
        raise ValueError(
            f"--task {config.task!r}: explainer {config.explainer!r} explains the {explainer.task!r} "
            f"task; leave --task out, or give an explainer of the {config.task!r} task"
        )
    if task_name is None:
        raise ValueError(f"--task is required: explainer {config.explainer!r} does not say which task it explains")
    dataset_config = config.dataset_config or explainer.metadata.get("dataset_config")
    check_dataset_config(
        config.dataset_name,
        dataset_config,
        "--dataset_config" if config.dataset_config else "the explainer's dataset config",
    )
    _check_dataset_target(config, explainer, dataset_config)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for baseline in config.baseline:
        check_baseline(baseline, task_name)
    train_examples = selfie_choice = None
    if set(TRAINING_BASELINES) & set(config.baseline):  # the train split only: never the split being scored
        train_rows = load_split(
            config.dataset_name, dataset_config, "train", config.dataset_revision, config.neighbor_rows, config.seed
        )
        train_examples = split_examples(explainer, task_name, train_rows, config.seed)
    if SELFIE in config.baseline and len(config.selfie_scales) > 1:  # the scale is chosen on train, not on a split
        validation_rows = load_split(
            config.dataset_name,
            dataset_config,
            "train",
            config.dataset_revision,
            config.selfie_validation_rows,
            config.seed,
        )
        selfie_choice = selfie_scale_on_train(
            explainer,
            task_name,
            split_examples(explainer, task_name, validation_rows, config.seed),
            tuple(config.selfie_scales),
            batch_size=config.batch_size,
            max_new_tokens=config.max_new_tokens,
        )
    results, control_entries = [], []
    for split in config.split:
        rows = load_split(config.dataset_name, dataset_config, split, config.dataset_revision)
        indices = subsample_indices(len(rows), config.max_rows, config.seed)  # load_split's subsample, with its rows
        rows = rows.select(indices) if len(indices) < len(rows) else rows
        examples = split_examples(explainer, task_name, rows, config.seed)  # once for the explainer and its baselines
        views = row_views(task_name, rows)
        split_results, statistics = {}, {}
        for baseline in [None, *config.baseline]:
            result = evaluate_split(
                explainer,
                task_name,
                examples,
                batch_size=config.batch_size,
                max_new_tokens=config.max_new_tokens,
                baseline=baseline,
                train_examples=train_examples,
                selfie_choice=selfie_choice,
                selfie_scales=tuple(config.selfie_scales),
            )
            logger.info("%s %s: %s", split, baseline or "trained", result.metrics)
            split_results[baseline] = {
                "split": split,
                "baseline": baseline,
                "rows": len(rows),
                "metrics": result.metrics,
                "details": result.details,
            }
            statistics[baseline] = row_statistics(task_name, examples, result.predictions, explainer)
            write_predictions(
                out / f"predictions-{split}{'-' + baseline if baseline else ''}.parquet",
                prediction_table(examples, result.predictions, statistics[baseline], indices, views),
            )
        groups = row_groups(
            rows.column_names, rows[GROUP_COLUMN] if GROUP_COLUMN in rows.column_names else None, len(rows)
        )
        intervals = split_intervals(
            statistics, {who: r["metrics"] for who, r in split_results.items()}, groups, seed=config.seed
        )
        results.extend({**result, **intervals[who]} for who, result in split_results.items())
        if config.vector_controls:
            runs = {TRUE_VECTORS: (split_results[None]["metrics"], statistics[None])}
            for control, controlled in controlled_examples(examples, config.seed).items():
                result = evaluate_split(
                    explainer,
                    task_name,
                    controlled,
                    batch_size=config.batch_size,
                    max_new_tokens=config.max_new_tokens,
                )
                logger.info("%s %s vectors: %s", split, control, result.metrics)
                runs[control] = (result.metrics, row_statistics(task_name, controlled, result.predictions, explainer))
                write_predictions(
                    out / f"predictions-{split}-vectors-{control}.parquet",
                    prediction_table(controlled, result.predictions, runs[control][1], indices, views),
                )
            control_entries += control_results(split, len(rows), runs, groups, seed=config.seed)
    report = {
        "explainer": config.explainer,
        "task": task_name,
        "target": explainer.target.name,
        "target_revision": explainer.target.revision,
        "dataset": config.dataset_name,
        "dataset_repo_id": hub_id_of_dataset(config.dataset_name),
        "dataset_config": dataset_config,
        "dataset_revision": config.dataset_revision,
        "config": asdict(config),
        "command": command_line(),
        "results": results,
    }
    if config.vector_controls:
        report["vector_controls"] = {
            "controls": list(SCORING_CONTROLS),
            "seed": config.seed,
            "explainer_vector_control": explainer.vector_control,
            "results": control_entries,
        }
    write_atomically(out / "report.json", lambda path: Path(path).write_text(json.dumps(report, indent=2) + "\n"))
    write_atomically(out / "report.md", lambda path: Path(path).write_text(report_markdown(report)))
    if config.update_card:
        update_card(config.explainer, report)
    return report


def update_card(explainer_folder: str, report: dict) -> None:
    """Replace the evaluation in a local explainer's metadata and re-render its card; ValueError without metadata."""
    from ..explainer.card import VECTOR_CONTROL_RESULTS, write_explainer_card

    folder = Path(explainer_folder)
    metadata_path = folder / EXPLAINER_METADATA
    if not metadata_path.is_file():
        raise ValueError(
            f"--update-card needs a local explainer folder with {EXPLAINER_METADATA}; got {explainer_folder!r}"
        )
    metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    metadata["eval_results"] = [
        {
            "split": r["split"],
            "dataset": report["dataset"],
            "dataset_repo_id": report.get("dataset_repo_id"),
            "dataset_config": report["dataset_config"],
            "metrics": r["metrics"],
            "baseline": r["baseline"],
            **({"rows": r["rows"]} if "rows" in r else {}),
            **({"intervals": r["intervals"], "groups": r["groups"]} if r.get("intervals") else {}),
            **({"strata": r["strata"]} if r.get("strata") else {}),
        }
        for r in report["results"]
    ]
    metadata.pop(VECTOR_CONTROL_RESULTS, None)
    if report.get("vector_controls"):
        metadata[VECTOR_CONTROL_RESULTS] = {
            "dataset": report["dataset"],
            "dataset_repo_id": report.get("dataset_repo_id"),
            "dataset_config": report["dataset_config"],
            "command": report.get("command"),
            **report["vector_controls"],
        }
    write_atomically(
        metadata_path, lambda path: Path(path).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    )
    write_explainer_card(folder)
