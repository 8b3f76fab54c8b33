"""Datasets on the Hub: a local folder in the Hub dataset-repo layout (card with ``configs:``, parquet shards,
provenance), uploaded one config at a time through :func:`self_explain.hub.api.upload_folder`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

from huggingface_hub import (
    DatasetCard,
    DatasetCardData,
)
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
)

from .api import HfApi, hub_api, hub_errors, require_token, upload_folder

if TYPE_CHECKING:
    from datasets import Dataset

logger = logging.getLogger(__name__)


DATASET_MARKER_KEY = "self_explain_dataset"
DATASET_TAGS = ["self-explain", "interpretability"]
FOLDER_LOCK = ".lock"  # held while a writer reads, changes and writes back the folder's card
FOLDER_LOCK_TIMEOUT = 600.0  # seconds a writer waits for another one to finish updating the card


class FolderBusyError(FileExistsError):
    """Another writer holds a dataset folder."""


@contextmanager
def folder_lock(folder: Path, timeout: float = FOLDER_LOCK_TIMEOUT) -> Iterator[None]:
    """Hold ``folder/.lock`` (``folder`` exists), so that one writer at a time updates the card.

    Args:
        timeout (`float`): Seconds to wait for another writer before FolderBusyError.
    """
    from filelock import FileLock, Timeout

    lock = FileLock(str(folder / FOLDER_LOCK), timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise FolderBusyError(
            f"output folder {folder} is being written by another process (it has held {folder / FOLDER_LOCK} for "
            f"more than {timeout:g} s); wait for it to finish, or write elsewhere"
        ) from None
    try:
        yield
    finally:
        release_lock(lock)


def release_lock(lock) -> None:
    """Release a held ``filelock.FileLock`` and remove its file, so that a finished writer leaves no trace.

    The file is removed while still held: a waiter that opened it meanwhile finds it unlinked and takes a new one
    (filelock >= 4.3 checks), so two writers never both hold the lock.
    """
    try:
        Path(lock.lock_file).unlink(missing_ok=True)
    finally:
        lock.release()


def read_card_configs(readme_path: str | Path) -> list[dict]:
    """The ``configs:`` entries (``config_name``, ``data_files``) of a dataset card's YAML front matter, or []."""
    return _card_metadata(readme_path).get("configs") or []


def _card_metadata(readme_path: str | Path) -> dict:
    return DatasetCard.load(Path(readme_path)).data.to_dict()


def _shard_name(split: str, content: Path) -> str:
    """``{split}-00000-of-00001-{hash}.parquet``: exact names, as ``load_dataset`` caches a folder by them."""
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
    """The card's ``configs:`` in ``folder`` ([] if none), after checking it may take ``config_name``."""
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
        raise ValueError(
            f"output folder {folder} already holds another dataset: unreadable README.md ({error})"
        ) from error
    marker = metadata.get(DATASET_MARKER_KEY)
    if marker != dataset_name:
        raise ValueError(
            f"output folder {folder} already holds another dataset: its card has "
            f"{DATASET_MARKER_KEY}={marker!r}, not {dataset_name!r}"
        )
    configs = metadata.get("configs") or []
    if config_name in _config_names(configs) and not overwrite:
        raise FileExistsError(
            f"output folder {folder} already has config {config_name!r}; pass --overwrite to replace it"
        )
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


# What a staging folder is about to publish, written into it before anything is moved out of it.
STAGING_RECORD = "publish.json"
STAGING_PREFIX = ".tmp-"


def _move_into_place(staging: Path, folder: Path, config_name: str) -> None:
    """Publish a staged config: new shards, then the card (the commit), provenance, old shards removed."""
    target = folder / "data" / config_name
    target.mkdir(parents=True, exist_ok=True)
    for shard in sorted((staging / "data" / config_name).glob("*.parquet")):
        os.replace(shard, target / shard.name)
    os.replace(staging / "README.md", folder / "README.md")
    _finish_published(staging, folder, config_name, _staged_shards(staging))


def _staged_shards(staging: Path) -> set[str] | None:
    """The shard names a staging folder publishes (from its record); None when it has none (nothing was moved)."""
    try:
        return set(json.loads((staging / STAGING_RECORD).read_text(encoding="utf-8"))["shards"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _finish_published(staging: Path, folder: Path, config_name: str, shards: set[str]) -> None:
    """After the card was replaced: the provenance into place, and the shards it no longer names removed."""
    name = f"{config_name}.json"
    if (staging / "provenance" / name).is_file():
        (folder / "provenance").mkdir(exist_ok=True)
        os.replace(staging / "provenance" / name, folder / "provenance" / name)
    for old in (folder / "data" / config_name).glob("*.parquet"):
        if old.name not in shards:
            old.unlink()


def _settle_staging(staging: Path, folder: Path) -> None:
    """Finish (card moved) or undo (card still staged) what a crashed writer's staging folder left; remove it."""
    try:
        record = json.loads((staging / STAGING_RECORD).read_text(encoding="utf-8"))
        config_name, shards = record["config_name"], set(record["shards"])
    except (OSError, ValueError, KeyError, TypeError):  # no record: it never moved anything out
        shutil.rmtree(staging, ignore_errors=True)
        return
    if (staging / "README.md").exists():  # not committed: drop the new shards the card does not name
        named: set[str] = set()
        if (folder / "README.md").is_file():
            configs = read_card_configs(folder / "README.md")
            entry = next((c for c in configs if c.get("config_name") == config_name), {})
            files = [f for f in entry.get("data_files") or [] if isinstance(f, dict) and "path" in f]
            named = {Path(f["path"]).name for f in files}
        for shard in shards - named:
            (folder / "data" / config_name / shard).unlink(missing_ok=True)
        with suppress(OSError):
            (folder / "data" / config_name).rmdir()  # a new config's folder, left empty
        with suppress(OSError):
            (folder / "data").rmdir()
    else:
        _finish_published(staging, folder, config_name, shards)
        logger.info(
            "finished publishing config %r in %s, which an earlier run had left half done", config_name, folder
        )
    shutil.rmtree(staging, ignore_errors=True)


def _settle_stale_stagings(folder: Path) -> None:
    """Under the folder's lock, every staging folder in it is one a failed or killed writer left: settle each."""
    for staging in sorted(folder.glob(f"{STAGING_PREFIX}*")):
        if staging.is_dir():
            logger.info("settling %s, left by an earlier run that did not finish", staging)
            _settle_staging(staging, folder)


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
    """Write (or add to) ``folder`` in the Hub dataset-repo layout, one parquet shard per split; returns ``folder``.

    It gets ``data/{config_name}/{split}-00000-of-00001-{hash}.parquet``, ``provenance/{config_name}.json`` and a
    ``README.md`` whose ``configs:`` keeps the other configs. All is staged, then moved in: shards, card (the commit),
    provenance, then the old shards removed; a crash leaves the old config or the new one, and the next writer settles
    what it left. The card is updated under :func:`folder_lock` (FolderBusyError if held too long).

    Args:
        dataset_name (`str`): The dataset, e.g. ``self-explain-patching``.
        config_name (`str`): The config written (the target's short name).
        splits (`dict[str, Dataset]`): The rows of each split.
        card_template (`Path`): The card template (``dataset_builders/<dataset>/README.md``).
        card_kwargs (`dict`): The values filled into the template.
        provenance (`dict`): What made the config.
        overwrite (`bool`): Replace an existing ``config_name`` (else FileExistsError).

    Raises:
        ValueError: If there are no splits, or the folder holds another dataset.
    """
    folder = Path(folder)
    if not splits:
        raise ValueError(f"no splits to write for config {config_name!r}")
    check_output_folder(folder, dataset_name, config_name, overwrite)
    folder.mkdir(parents=True, exist_ok=True)
    with folder_lock(folder):  # the card is read, changed and written back by one writer at a time
        existing = check_output_folder(folder, dataset_name, config_name, overwrite)
        _write_config(folder, dataset_name, config_name, splits, card_template, card_kwargs, provenance, existing)
    logger.info("wrote config %r of %s (%s) to %s", config_name, dataset_name, ", ".join(splits), folder)
    return folder


def _write_config(
    folder: Path,
    dataset_name: str,
    config_name: str,
    splits: dict[str, Dataset],
    card_template: Path,
    card_kwargs: dict,
    provenance: dict,
    existing: list[dict],
) -> None:
    _settle_stale_stagings(folder)
    existing = read_card_configs(folder / "README.md") if (folder / "README.md").is_file() else existing
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder))
    try:
        shard_names = _stage_config(staging, config_name, splits, provenance)
        record = {"config_name": config_name, "shards": sorted(shard_names.values())}
        (staging / STAGING_RECORD).write_text(json.dumps(record) + "\n", encoding="utf-8")
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
    except BaseException:
        with suppress(Exception):  # a failure part-way: the old config or the new one, whole (else the next writer)
            _settle_staging(staging, folder)
        raise
    shutil.rmtree(staging, ignore_errors=True)


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
    """The Hub repo card's ``configs:`` ([] for a new repo), after checking ``config_name`` may be pushed there."""
    if api is None:  # the check before any work: no token, or no network, is said now
        require_token(f"--push_to_hub --repo_id {repo_id}", token)
        with hub_errors(f"read the card of dataset repo {repo_id}"):
            remote_configs = _remote_card_configs(hub_api(token), repo_id)
    else:
        remote_configs = _remote_card_configs(api, repo_id)
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
    """Upload one config of a :func:`write_dataset_repo` folder, leaving the repo's other configs; returns the url.

    Args:
        repo_id (`str`): The dataset repo, ``owner/name`` (created if missing).
        overwrite (`bool`): Replace the config if the repo has it, deleting remote shards the new one lacks (else
            FileExistsError).
        token (`str`, *optional*): A Hugging Face token (default: the logged-in one).
        private (`bool`): Create the repo as private.
        commit_message (`str`, *optional*): The commit message (default: one naming the config).

    Raises:
        FileNotFoundError: If the folder has no card, or the config's shards or provenance are missing.
        ValueError: If the folder has no such config, or there is no Hugging Face token.
    """
    # Not DatasetDict.push_to_hub(config_name=, data_dir=): it merges `configs:` too, but re-encodes the shards through
    # its own HfApi and writes neither our card text nor the provenance: three commits where this is one.
    folder = Path(folder)
    entry = _local_config_entry(folder, config_name)
    require_token(f"--push_to_hub --repo_id {repo_id}", token)
    api = hub_api(token)
    with hub_errors(f"push config {config_name!r} to {repo_id}", kept=folder):
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
                shown=f"config {config_name!r} of {folder}",
            )


# ---------------------------------------------------------------------------
# Explainers: upload a trained explainer folder (its card and files: explainer_card.py).
# ---------------------------------------------------------------------------
