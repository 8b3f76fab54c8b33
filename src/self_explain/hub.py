"""Hub layout, cards and uploads. Every upload goes through :func:`upload_folder`."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from huggingface_hub import (
    DatasetCard,
    DatasetCardData,
    EvalResult,
    HfApi,
    ModelCard,
    ModelCardData,
)
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    HFValidationError,
    RepositoryNotFoundError,
)
from huggingface_hub.utils import validate_repo_id

from .files import write_atomically
from .injection import PROJECTION_FILE

if TYPE_CHECKING:
    from datasets import Dataset

logger = logging.getLogger(__name__)


def package_data(relative: str) -> Path:
    """A file under ``dataset_builders/`` or ``model_cards/``, from a wheel or from a source checkout."""
    installed = Path(str(resources.files("self_explain"))) / relative
    if installed.exists():
        return installed
    checkout = Path(__file__).resolve().parents[2] / relative
    if checkout.exists():
        return checkout
    raise FileNotFoundError(f"package data {relative!r} is missing from the installation")


def render_toy_model_card(record: dict) -> ModelCard:
    config = record["config"]
    card_data = ModelCardData(
        library_name="transformers",
        pipeline_tag="text-generation",
        license="apache-2.0",
        tags=["self-explain", "toy-world", "interpretability"],
    )
    return ModelCard.from_template(
        card_data,
        template_path=str(package_data("model_cards/toy-model.md")),
        name=config["name"],
        config=config,
        quality=record["quality"],
        training_minutes=record["training_minutes"],
        parameters=f"{record['parameters']:,}",
    )


# ---------------------------------------------------------------------------
# Datasets: a local folder in the Hub dataset-repo layout, then a per-config upload.
# ---------------------------------------------------------------------------

DATASET_MARKER_KEY = "self_explain_dataset"
DATASET_TAGS = ["self-explain", "interpretability"]


def read_card_configs(readme_path: str | Path) -> list[dict]:
    """The ``configs:`` entries in the YAML front matter of a dataset card; [] when there are none."""
    return _card_metadata(readme_path).get("configs") or []


def _card_metadata(readme_path: str | Path) -> dict:
    return DatasetCard.load(Path(readme_path)).data.to_dict()


def _shard_name(split: str, content: Path) -> str:
    """``{split}-00000-of-00001-{hash}.parquet``. The card names these exact files: ``load_dataset``
    keys its cache of a local folder by the card's ``data_files``, so a glob would let it serve an
    older build of a folder with the same name."""
    digest = hashlib.sha256(content.read_bytes()).hexdigest()[:12]
    return f"{split}-00000-of-00001-{digest}.parquet"


def _config_entry(config_name: str, shard_names: dict[str, str]) -> dict:
    data_files = [{"split": split, "path": f"data/{config_name}/{name}"} for split, name in shard_names.items()]
    return {"config_name": config_name, "data_files": data_files}


def _config_names(configs: list[dict]) -> list[str]:
    return [config.get("config_name") for config in configs]


def _merge_configs(configs: list[dict], entry: dict) -> list[dict]:
    """``configs`` with ``entry`` replacing the one of the same name in place, or appended."""
    names = _config_names(configs)
    if entry["config_name"] in names:
        return [entry if name == entry["config_name"] else config for name, config in zip(names, configs)]
    return [*configs, entry]


def check_output_folder(
    folder: str | Path, dataset_name: str, config_name: str, overwrite: bool = False
) -> list[dict]:
    """The configs already in ``folder``, after checking it may receive ``config_name`` of ``dataset_name``.

    Builders call it before any work, and :func:`write_dataset_repo` again before writing.
    """
    folder = Path(folder)
    if not folder.exists():
        return []
    if not folder.is_dir():
        raise NotADirectoryError(f"output folder {folder} is not a directory")
    # Hidden entries (a builder's .build work folder, our own .tmp-* staging) are not content.
    visible = sorted(entry.name for entry in folder.iterdir() if not entry.name.startswith("."))
    if not visible:
        return []
    readme = folder / "README.md"
    if not readme.is_file():
        raise ValueError(
            f"output folder {folder} already holds another dataset: it has {visible[:5]} but no README.md"
        )
    try:
        metadata = _card_metadata(readme)
    except Exception as error:
        raise ValueError(f"output folder {folder} already holds another dataset: unreadable README.md ({error})")
    marker = metadata.get(DATASET_MARKER_KEY)
    if marker != dataset_name:
        raise ValueError(
            f"output folder {folder} already holds another dataset: its card has "
            f"{DATASET_MARKER_KEY}={marker!r}, not {dataset_name!r}"
        )
    configs = metadata.get("configs") or []
    if config_name in _config_names(configs) and not overwrite:
        raise FileExistsError(f"output folder {folder} already has config {config_name!r}; pass --overwrite to replace it")
    return configs


def _load_provenances(folder: Path, config_names: list[str]) -> dict[str, dict]:
    provenances = {}
    for name in config_names:
        path = folder / "provenance" / f"{name}.json"
        if path.is_file():
            provenances[name] = json.loads(path.read_text(encoding="utf-8"))
        else:
            logger.warning("config %r in %s has no provenance file %s", name, folder, path)
            provenances[name] = {}
    return provenances


def _render_dataset_card(
    *, dataset_name: str, configs: list[dict], provenances: dict[str, dict], card_template: Path, card_kwargs: dict
) -> DatasetCard:
    pretty_name = card_kwargs.get("pretty_name") or dataset_name
    card_data = DatasetCardData(
        license="apache-2.0",
        pretty_name=pretty_name,
        tags=list(DATASET_TAGS),
        configs=configs,
        **{DATASET_MARKER_KEY: dataset_name},
    )
    table = [{"name": name, "provenance": provenances[name]} for name in sorted(provenances)]
    template_kwargs = {**card_kwargs, "pretty_name": pretty_name, "configs": table}
    return DatasetCard.from_template(card_data, template_path=str(card_template), **template_kwargs)


def _stage_config(staging: Path, config_name: str, splits: dict[str, Dataset], provenance: dict) -> dict[str, str]:
    """Write the config's shards and provenance into ``staging``; returns the shard file name of each split."""
    data = staging / "data" / config_name
    data.mkdir(parents=True)
    shard_names = {}
    for split, dataset in splits.items():
        written = data / f"{split}.parquet"
        dataset.to_parquet(str(written))
        shard_names[split] = _shard_name(split, written)
        written.rename(data / shard_names[split])
    (staging / "provenance").mkdir()
    text = json.dumps(provenance, indent=2, sort_keys=True)
    (staging / "provenance" / f"{config_name}.json").write_text(text + "\n", encoding="utf-8")
    return shard_names


def _move_into_place(staging: Path, folder: Path, config_name: str) -> None:
    target = folder / "data" / config_name
    target.mkdir(parents=True, exist_ok=True)
    new_shards = sorted((staging / "data" / config_name).glob("*.parquet"))
    for shard in new_shards:
        os.replace(shard, target / shard.name)
    kept = {shard.name for shard in new_shards}
    for old in target.glob("*.parquet"):
        if old.name not in kept:
            old.unlink()
    (folder / "provenance").mkdir(exist_ok=True)
    name = f"{config_name}.json"
    os.replace(staging / "provenance" / name, folder / "provenance" / name)
    # The card goes last: until it names the config, load_dataset cannot see the new files.
    os.replace(staging / "README.md", folder / "README.md")


def write_dataset_repo(
    folder: str | Path,
    *,
    dataset_name: str,
    config_name: str,
    splits: dict[str, Dataset],
    card_template: Path,
    card_kwargs: dict,
    provenance: dict,
    overwrite: bool = False,
) -> Path:
    """Write (or add to) ``folder`` in the Hub dataset-repo layout, with one parquet shard per split.

    ``folder`` gets ``data/{config_name}/{split}-00000-of-00001-{hash}.parquet``, ``provenance/{config_name}.json``
    and a ``README.md`` card whose ``configs:`` keeps the folder's other configs. Files are written into a
    hidden temporary folder first and moved into place at the end, the card last.
    """
    folder = Path(folder)
    if not splits:
        raise ValueError(f"no splits to write for config {config_name!r}")
    existing = check_output_folder(folder, dataset_name, config_name, overwrite)
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))
    try:
        shard_names = _stage_config(staging, config_name, splits, provenance)
        configs = _merge_configs(existing, _config_entry(config_name, shard_names))
        others = [name for name in _config_names(configs) if name != config_name]
        card = _render_dataset_card(
            dataset_name=dataset_name,
            configs=configs,
            provenances={**_load_provenances(folder, others), config_name: provenance},
            card_template=Path(card_template),
            card_kwargs=card_kwargs,
        )
        card.save(staging / "README.md")
        _move_into_place(staging, folder, config_name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("wrote config %r of %s (%s) to %s", config_name, dataset_name, ", ".join(splits), folder)
    return folder


def upload_folder(
    api: HfApi,
    *,
    repo_id: str,
    folder: str | Path,
    allow_patterns: list[str],
    delete_patterns: list[str] | None,
    commit_message: str,
    repo_type: str = "dataset",
) -> str:
    """The one place that uploads to the Hub; returns the commit url."""
    logger.info("uploading %s to %s repo %s (files %s)", folder, repo_type, repo_id, allow_patterns)
    commit = api.upload_folder(
        repo_id=repo_id,
        repo_type=repo_type,
        folder_path=str(folder),
        allow_patterns=allow_patterns,
        delete_patterns=delete_patterns,
        commit_message=commit_message,
    )
    return str(commit)


def _remote_card_configs(api: HfApi, repo_id: str) -> list[dict]:
    try:
        path = api.hf_hub_download(repo_id, "README.md", repo_type="dataset")
    except (EntryNotFoundError, RepositoryNotFoundError) as error:
        logger.info("dataset repo %s has no card yet (%s)", repo_id, type(error).__name__)
        return []
    except HfHubHTTPError as error:
        # Only a missing card means "no configs yet": on any other failure, uploading our card would
        # silently drop the remote configs from it.
        if getattr(error.response, "status_code", None) != 404:
            raise
        logger.info("dataset repo %s has no card yet (404)", repo_id)
        return []
    return read_card_configs(path)


def check_remote_config(
    repo_id: str, config_name: str, overwrite: bool, token: str | None = None, api: HfApi | None = None
) -> list[dict]:
    """The Hub repo's configs, after checking ``config_name`` may be pushed there; builders call it before any work."""
    remote_configs = _remote_card_configs(api or HfApi(token=token), repo_id)
    if config_name in _config_names(remote_configs) and not overwrite:
        raise FileExistsError(
            f"the Hub repo {repo_id} already has config {config_name!r}; pass --overwrite to replace it"
        )
    return remote_configs


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _stage_push(folder: Path, staging: Path, config_name: str, configs: list[dict]) -> None:
    card = DatasetCard.load(folder / "README.md")
    card.data.configs = configs
    card.save(staging / "README.md")
    data = staging / "data" / config_name
    data.mkdir(parents=True)
    for shard in sorted((folder / "data" / config_name).glob("*.parquet")):
        _link_or_copy(shard, data / shard.name)
    (staging / "provenance").mkdir()
    name = f"{config_name}.json"
    _link_or_copy(folder / "provenance" / name, staging / "provenance" / name)


def _local_config_entry(folder: Path, config_name: str) -> dict:
    readme = folder / "README.md"
    if not readme.is_file():
        raise FileNotFoundError(f"{folder} has no README.md: write it with write_dataset_repo first")
    configs = read_card_configs(readme)
    entry = next((config for config in configs if config.get("config_name") == config_name), None)
    if entry is None:
        raise ValueError(f"{folder} has no config {config_name!r} (it has {_config_names(configs)})")
    if not any((folder / "data" / config_name).glob("*.parquet")):
        raise FileNotFoundError(f"{folder / 'data' / config_name} holds no parquet files")
    if not (folder / "provenance" / f"{config_name}.json").is_file():
        raise FileNotFoundError(f"{folder} has no provenance/{config_name}.json")
    return entry


def push_dataset(
    folder: str | Path,
    repo_id: str,
    config_name: str,
    *,
    overwrite: bool = False,
    token: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
) -> str:
    """Upload one config of a folder made by :func:`write_dataset_repo`, leaving the repo's other configs alone.

    Returns the commit url.
    """
    folder = Path(folder)
    entry = _local_config_entry(folder, config_name)
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", exist_ok=True, private=private)
    remote_configs = check_remote_config(repo_id, config_name, overwrite, api=api)
    configs = _merge_configs(remote_configs, entry)
    data_pattern = f"data/{config_name}/*"
    with tempfile.TemporaryDirectory(prefix="self-explain-push-") as staging:
        _stage_push(folder, Path(staging), config_name, configs)
        return upload_folder(
            api,
            repo_id=repo_id,
            folder=staging,
            allow_patterns=["README.md", data_pattern, f"provenance/{config_name}.json"],
            # Deleting the config's remote shards drops ones the new version no longer has; files
            # uploaded in the same commit are kept.
            delete_patterns=[data_pattern] if overwrite else None,
            commit_message=commit_message or f"{'Replace' if overwrite else 'Add'} config {config_name}",
        )


# ---------------------------------------------------------------------------
# Explainers: a trained adapter (or full-model) folder, its model card, and its upload.
# ---------------------------------------------------------------------------

EXPLAINER_METADATA = "self_explain.json"
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
    "target_revision", "explainer_base_revision", "dataset_config", "dataset_revision", "package_version",
)
_PROJECTION_KEYS = ("target_hidden", "explainer_hidden", "num_layers")
_SECRET_KEY_SUFFIXES = ("token", "secret", "password", "api_key")
_NOT_SECRET_KEYS = {"pad_token", "eos_token", "bos_token", "unk_token", "sep_token", "cls_token", "mask_token"}

METRIC_NAMES = {
    "exact_match": "Exact Match",
    "content_match": "Content Match",
    "has_changed_f1": "Has-Changed macro-F1",
    "valid_rate": "Valid rate",
}

METRIC_DESCRIPTIONS = {
    "exact_match": "the explanation equals the reference",
    "content_match": "the text inside `<<<>>>` equals the reference's",
    "has_changed_f1": "macro-F1 of whether the explanation says the output changes",
    "valid_rate": "the share of explanations in an expected form",
}

TASK_DESCRIPTIONS = {
    "features": "describes, in words, what a feature vector injected at a layer of the target encodes",
    "patching": "predicts how the target's next-token output changes when the residual stream at a layer "
    "window and token is patched with the activation from a counterfactual input",
    "ablation": "predicts how the target's answer changes when a span of the input (e.g. a hint) is removed",
    "preferences": "reports, as JSON, how heavily the target weights each attribute when it chooses between options",
}


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
    if projection is not None:
        if not isinstance(projection, dict) or not all(
            isinstance(projection.get(key), int) and projection[key] > 0 for key in _PROJECTION_KEYS
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
    return metadata


def read_explainer_metadata(folder: str | Path) -> dict:
    """The ``self_explain.json`` the trainer wrote into an explainer folder, checked."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"explainer folder {folder} does not exist or is not a directory")
    path = folder / EXPLAINER_METADATA
    if not path.is_file():
        raise FileNotFoundError(
            f"explainer folder {folder} has no {EXPLAINER_METADATA}: it is written by `self-explain train` "
            "next to the weights and is needed for the model card"
        )
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"explainer metadata {path} is not valid JSON ({error})") from error
    return _check_explainer_metadata(metadata, str(path))


def _is_hub_id(name: str) -> bool:
    """Whether ``name`` reads as a Hub repo id rather than a local folder (a folder that exists locally wins)."""
    if not name or name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1:
        return False
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return not Path(name).exists()


def _is_hub_model(name: str) -> bool:
    from self_explain.models import TOY_MODELS  # torch import: only when a card is made

    return name not in TOY_MODELS and _is_hub_id(name)


def _public_name(name: str) -> str:
    """A Hub id as is; a local path shortened to its last component, so cards do not leak local paths."""
    return name if _is_hub_id(name) else Path(name.rstrip("/\\")).name or name


def _table_cell(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _is_secret_key(key: str) -> bool:
    key = key.lower()
    return key not in _NOT_SECRET_KEYS and key.endswith(_SECRET_KEY_SUFFIXES)


def _secret_paths(value: object, path: str = "") -> list[str]:
    """Where ``value`` holds something that looks like a credential (by key name, or an ``hf_`` token)."""
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            item_path = f"{path}.{key}" if path else str(key)
            if _is_secret_key(str(key)) and isinstance(item, str) and item and not item.startswith("<"):
                found.append(item_path)
            else:
                found.extend(_secret_paths(item, item_path))
        return found
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in _secret_paths(item, f"{path}[{index}]")]
    if isinstance(value, str) and value.startswith("hf_") and len(value) > 20:
        return [path]
    return []


def _training_arg_rows(training_args: dict) -> list[tuple[str, str]]:
    return [
        (key, "(redacted)" if _secret_paths({key: value}) else _table_cell(value))
        for key, value in sorted(training_args.items())
    ]


def _format_metric(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "—" if value is None else _table_cell(value)


def _eval_table(metadata: dict) -> tuple[list[tuple[str, str]], list[dict]]:
    """The evaluation table's metric columns (known metrics first) and rows, baselines included."""
    entries = metadata.get("eval_results") or []
    keys = {key for entry in entries for key in entry["metrics"]}
    ordered = [key for key in METRIC_NAMES if key in keys] + sorted(keys - set(METRIC_NAMES))
    columns = [(key, METRIC_NAMES.get(key, key)) for key in ordered]
    rows = []
    for entry in entries:
        rows.append({
            "model": "this explainer" if entry.get("baseline") is None else f"baseline: {entry['baseline']}",
            "split": entry.get("split") or "—",
            "dataset": _public_name(entry.get("dataset") or metadata["dataset"]),
            "config": entry.get("dataset_config") or metadata.get("dataset_config") or "—",
            "cells": [_format_metric(entry["metrics"].get(key)) for key in ordered],
        })
    return columns, rows


def _eval_results(metadata: dict) -> list[EvalResult] | None:
    """``EvalResult``s for the card's ``model-index``: the explainer's own numbers, not the baselines'."""
    results = []
    for entry in metadata.get("eval_results") or []:
        if entry.get("baseline") is not None:
            continue
        dataset = entry.get("dataset") or metadata["dataset"]
        same_dataset = dataset == metadata["dataset"]
        config = entry.get("dataset_config") or (metadata.get("dataset_config") if same_dataset else None)
        revision = entry.get("dataset_revision") or (metadata.get("dataset_revision") if same_dataset else None)
        label = _public_name(dataset)
        for key, value in entry["metrics"].items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            results.append(EvalResult(
                task_type="text-generation",
                task_name=f"Self-explanation ({metadata['task']})",
                dataset_type=label,
                dataset_name=f"{label} ({config})" if config else label,
                dataset_config=config,
                dataset_split=entry.get("split"),
                dataset_revision=revision,
                metric_type=key,
                metric_value=value,
                metric_name=METRIC_NAMES.get(key, key),
            ))
    # An empty list would still write a ``model-index`` with no results; None writes none.
    return results or None


def default_explainer_name(metadata: dict) -> str:
    return f"{_public_name(metadata['target']).split('/')[-1]}-{metadata['task']}-explainer"


def render_explainer_card(metadata: dict, *, repo_id: str | None = None, full_model: bool = False) -> ModelCard:
    """The model card of an explainer from its ``self_explain.json`` metadata.

    ``repo_id`` names the repo in the usage example (a placeholder without it); ``full_model`` is for an
    explainer saved as a whole model rather than a PEFT LoRA adapter.
    """
    metadata = _check_explainer_metadata(metadata, "passed to render_explainer_card")
    task, target, base, dataset = (metadata[key] for key in ("task", "target", "explainer_base", "dataset"))
    model_name = repo_id.split("/")[-1] if repo_id else default_explainer_name(metadata)
    eval_results = _eval_results(metadata)
    card_data = ModelCardData(
        base_model=base if _is_hub_model(base) else None,
        library_name="transformers" if full_model else "peft",
        pipeline_tag="text-generation",
        license="apache-2.0",
        tags=["self-explain", "interpretability", task] + ([] if full_model else ["lora"]),
        datasets=[dataset] if _is_hub_id(dataset) else None,
        model_name=model_name if eval_results else None,
        eval_results=eval_results,
    )
    eval_columns, eval_rows = _eval_table(metadata)
    return ModelCard.from_template(
        card_data,
        template_path=str(package_data(EXPLAINER_CARD_TEMPLATE)),
        model_name=model_name,
        repo_id=repo_id,
        task=task,
        task_description=TASK_DESCRIPTIONS.get(task, f"explains the target's computations for the {task!r} task"),
        target=_public_name(target),
        target_revision=metadata.get("target_revision"),
        explainer_base=_public_name(base),
        explainer_base_revision=metadata.get("explainer_base_revision"),
        self_explanation=base == target,
        full_model=full_model,
        dataset=_public_name(dataset),
        dataset_on_hub=_is_hub_id(dataset),
        dataset_config=metadata.get("dataset_config"),
        dataset_revision=metadata.get("dataset_revision"),
        projection=metadata.get("projection"),
        package_version=metadata.get("package_version"),
        training_args=_training_arg_rows(metadata["training_args"]),
        eval_columns=eval_columns,
        eval_rows=eval_rows,
        eval_legend=[(name, METRIC_DESCRIPTIONS[key]) for key, name in eval_columns if key in METRIC_DESCRIPTIONS],
    )


def _projection_shapes(path: Path) -> dict[str, list[int]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as tensors:
        return {name: list(tensors.get_slice(name).get_shape()) for name in tensors.keys()}


def _check_projection(folder: Path, metadata: dict) -> list[str]:
    path, projection = folder / PROJECTION_FILE, metadata.get("projection")
    if projection is None:
        if path.exists():
            raise ValueError(f"explainer folder {folder} has {PROJECTION_FILE} but its {EXPLAINER_METADATA} "
                             "says 'projection': null")
        return []
    if not path.is_file():
        raise FileNotFoundError(f"explainer folder {folder} has no {PROJECTION_FILE}, but its {EXPLAINER_METADATA} "
                                f"describes a projection {projection}")
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
        raise ValueError(f"explainer folder {folder} holds both adapter weights {list(ADAPTER_WEIGHTS)} and full-model "
                         "weights; keep one kind")
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
    """The files of an explainer folder that belong on the Hub (README.md included), sorted, and whether it
    is a full model. Raises FileNotFoundError / ValueError naming what is missing or inconsistent."""
    folder = Path(folder)
    metadata = read_explainer_metadata(folder) if metadata is None else metadata
    weights, full_model = _weight_files(folder)
    if full_model:
        logger.info("explainer folder %s holds a full model, not a PEFT adapter", folder)
    else:
        _warn_on_adapter_base(folder, metadata)
    files = [*weights, *_tokenizer_files(folder), *_check_projection(folder, metadata), EXPLAINER_METADATA, "README.md"]
    files += [name for name in OPTIONAL_EXPLAINER_FILES if (folder / name).is_file()]
    return sorted(set(files)), full_model


def _warn_on_adapter_base(folder: Path, metadata: dict) -> None:
    try:
        adapter_config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
        recorded = adapter_config.get("base_model_name_or_path")
    except (OSError, ValueError) as error:
        raise ValueError(f"{folder / 'adapter_config.json'} is not valid JSON ({error})") from error
    if recorded is None or _public_name(recorded) != _public_name(metadata["explainer_base"]):
        logger.warning(
            "adapter_config.json in %s names base model %r, %s says %r: PeftModel.from_pretrained(repo) alone "
            "would look for the former", folder, recorded, EXPLAINER_METADATA, metadata["explainer_base"],
        )


def _write_card(folder: Path, card: ModelCard) -> Path:
    return write_atomically(folder / "README.md", card.save)


def write_explainer_card(folder: str | Path, *, repo_id: str | None = None) -> Path:
    """Render the card of an explainer folder from its metadata into its README.md (atomically); returns the path.

    It replaces any README.md already there (PEFT's ``save_pretrained`` writes a generic one).
    """
    folder = Path(folder)
    metadata = read_explainer_metadata(folder)
    _, full_model = _weight_files(folder)
    path = _write_card(folder, render_explainer_card(metadata, repo_id=repo_id, full_model=full_model))
    logger.info("wrote the explainer card %s", path)
    return path


def push_adapter(
    folder: str | Path,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
) -> str:
    """Upload a trained explainer folder (PEFT adapter or full model) to a Hub model repo, with a fresh card.

    Only the explainer's own files go up (weights, tokenizer, projection, metadata, README.md): checkpoint
    folders, logs and anything else in ``folder`` stay local. Returns the commit url.
    """
    folder = Path(folder)
    metadata = read_explainer_metadata(folder)
    files, full_model = explainer_files(folder, metadata)
    secrets = _secret_paths(metadata)
    if token and token in json.dumps(metadata):
        secrets.append("(the token passed to push_adapter)")
    if secrets:
        raise ValueError(f"refusing to upload {folder / EXPLAINER_METADATA}: it holds what looks like a credential "
                         f"at {secrets}; remove it and push again")
    _write_card(folder, render_explainer_card(metadata, repo_id=repo_id, full_model=full_model))
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", exist_ok=True, private=private)
    kind = "model" if full_model else "adapter"
    default_message = f"Upload {metadata['task']} explainer {kind} for {_public_name(metadata['target'])}"
    return upload_folder(
        api,
        repo_id=repo_id,
        folder=folder,
        allow_patterns=files,
        delete_patterns=None,
        commit_message=commit_message or default_message,
        repo_type="model",
    )
