"""What every dataset builder shares: work split in shards written as the build goes, so that a killed build
resumes and each ``accelerate launch`` process builds its own shards; then splits, provenance and the
Hub-layout folder (and the push).

A builder gives the items to build from (each with an integer id), a function turning a list of items
into rows, and the split of each item id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shlex
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

from datasets import Dataset, Features, concatenate_datasets
from tqdm.auto import tqdm

from ..core.files import package_data, write_atomically
from ..core.version import __version__
from ..hub.datasets import (
    check_output_folder,
    check_remote_config,
    push_dataset,
    write_dataset_repo,
)

logger = logging.getLogger(__name__)

BUILD_CONFIG_KEYS_IGNORED = ("push_to_hub", "overwrite", "out", "batch_prompts", "batch_size")


def seeded_rng(seed: int, *keys: int) -> random.Random:
    """A generator that depends only on the seed and the row's keys, not on sharding or batching."""
    return random.Random(":".join(map(str, (seed, *keys))))


def build_fingerprint(config, revision: str, items: Sequence) -> str:
    """Identifies a build: a resumed build must have been started with the same inputs."""
    fields = {k: v for k, v in asdict(config).items() if k not in BUILD_CONFIG_KEYS_IGNORED}
    fields["revision"] = revision
    fields["package_version"] = __version__
    fields["items"] = hashlib.sha256(json.dumps([asdict(item) for item in items]).encode()).hexdigest()
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def dataset_content_hash(splits: dict[str, Dataset]) -> str:
    digest = hashlib.sha256()
    for split in sorted(splits):
        for row in splits[split]:
            digest.update(json.dumps([split, row], sort_keys=True).encode())
    return digest.hexdigest()


def build_command() -> str:
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])


@dataclass
class ShardedBuild:
    """One config of one dataset, built into ``out`` (a Hub dataset-repo folder) shard by shard."""

    dataset_name: str
    config_name: str
    out: Path
    features: Features
    overwrite: bool = False
    push_to_hub: str | None = None

    @property
    def work(self) -> Path:
        return self.out / ".build" / self.config_name

    def check_destination(self, is_main_process: bool) -> None:
        """Before any work: the folder (and the Hub repo) may receive this config."""
        check_output_folder(self.out, self.dataset_name, self.config_name, self.overwrite)
        if self.push_to_hub and is_main_process:
            check_remote_config(self.push_to_hub, self.config_name, self.overwrite)

    def build_shards(self, items: Sequence, shard_size: int, fingerprint: str, rows_for: Callable, state) -> int:
        """Build the shards this process owns that are not on disk yet; returns the number of shards.

        ``rows_for(items) -> (rows, skipped)`` turns a shard's items into rows; ``skipped`` counts items that
        gave none for a reason the provenance should report.
        """
        manifest = self.work / "manifest.json"
        if state.is_main_process:
            if manifest.exists() and json.loads(manifest.read_text())["fingerprint"] != fingerprint:
                if not self.overwrite:
                    raise FileExistsError(
                        f"{self.work} holds an unfinished build with other arguments; rerun with the same arguments "
                        f"to resume it, or pass --overwrite to start again"
                    )
                for stale in self.work.glob("shard-*"):
                    stale.unlink()
            self.work.mkdir(parents=True, exist_ok=True)
            manifest.write_text(json.dumps({"fingerprint": fingerprint, "num_items": len(items)}) + "\n")
        state.wait_for_everyone()
        shards = [items[i : i + shard_size] for i in range(0, len(items), shard_size)]
        mine = [k for k in range(len(shards)) if k % state.num_processes == state.process_index]
        for k in tqdm(mine, desc=f"{self.dataset_name} {self.config_name}", disable=not state.is_local_main_process):
            path = self.work / f"shard-{k:05d}.parquet"
            if path.exists():
                continue
            rows, skipped = rows_for(shards[k])
            table = Dataset.from_list(rows, features=self.features) if rows else self._empty()
            write_atomically(path, table.to_parquet)
            (self.work / f"shard-{k:05d}.skipped").write_text(f"{skipped}\n")
        state.wait_for_everyone()
        return len(shards)

    def _empty(self) -> Dataset:
        return Dataset.from_dict({name: [] for name in self.features}, features=self.features)

    def read_shards(self, num_shards: int) -> tuple[Dataset, int]:
        """All rows built, in shard order, and how many items were skipped."""
        import pyarrow.parquet as pq

        paths = [self.work / f"shard-{k:05d}.parquet" for k in range(num_shards)]
        # from_parquet refuses a file without rows (a shard whose every item was skipped)
        built = [Dataset.from_parquet(str(p), features=self.features) for p in paths if pq.read_metadata(p).num_rows]
        rows = concatenate_datasets(built) if built else self._empty()
        skipped = sum(int((self.work / f"shard-{k:05d}.skipped").read_text()) for k in range(num_shards))
        return rows, skipped

    def publish(
        self, splits: dict[str, Dataset], provenance: dict, pretty_name: str, card_kwargs: dict | None = None
    ) -> Path:
        """Write the config into the folder (card, shards, provenance), drop the work folder, push if asked."""
        provenance = {**provenance, "content_sha256": dataset_content_hash(splits)}
        folder = write_dataset_repo(
            self.out,
            dataset_name=self.dataset_name,
            config_name=self.config_name,
            splits=splits,
            card_template=package_data(f"dataset_builders/{self.dataset_name}/README.md"),
            card_kwargs={"pretty_name": pretty_name, "features": self.features, **(card_kwargs or {})},
            provenance=provenance,
            overwrite=self.overwrite,
        )
        shutil.rmtree(self.work)
        if not any(self.work.parent.iterdir()):
            self.work.parent.rmdir()
        logger.info("wrote %s config %s: %s", folder, self.config_name, provenance.get("rows"))
        if self.push_to_hub:
            push_dataset(folder, self.push_to_hub, self.config_name, overwrite=self.overwrite)
        return folder


def start_build(config, dataset_name: str, features: Features) -> tuple[ShardedBuild, object]:
    """The build of ``config`` (a builder config with target, out, config_name, overwrite, push_to_hub) and the
    accelerate process state, after checking the destination may receive it."""
    from accelerate import PartialState

    from ..core.models import short_model_name

    state = PartialState()
    build = ShardedBuild(
        dataset_name=dataset_name,
        config_name=config.config_name or short_model_name(config.target),
        out=Path(config.out),
        features=features,
        overwrite=config.overwrite,
        push_to_hub=config.push_to_hub,
    )
    build.check_destination(state.is_main_process)
    return build, state


def split_by_item(rows: Dataset, ids: list, split_of: dict) -> dict[str, Dataset]:
    """The rows of each split (train, test, ood order), by the split of the item each row came from (``ids``)."""
    splits = {}
    for split in ("train", "test", "ood"):
        indices = [i for i, item_id in enumerate(ids) if split_of[item_id] == split]
        if indices:
            splits[split] = rows.select(indices)
    return splits


def fraction_true(splits: dict[str, Dataset], column: str) -> dict:
    """The share of rows with ``column`` true, overall and per split (for the provenance)."""
    total = sum(len(ds) for ds in splits.values())
    overall = sum(sum(ds[column]) for ds in splits.values())
    return {
        "overall": round(overall / max(1, total), 4),
        "by_split": {split: round(sum(ds[column]) / max(1, len(ds)), 4) for split, ds in splits.items()},
    }


def base_provenance(loaded, seed: int, **fields) -> dict:
    return {
        "target": loaded.name,
        "target_revision": loaded.revision,
        "seed": seed,
        "package_version": __version__,
        "command": build_command(),
        **fields,
    }


def load_split(dataset: str, config: str | None, split: str, revision: str | None = None,
               max_rows: int | None = None, seed: int = 0):
    """One split of an explanation dataset (Hub id or folder), or a seeded subsample of ``max_rows`` rows."""
    from datasets import load_dataset

    try:
        rows = load_dataset(dataset, config, split=split, revision=revision)
    except ValueError as error:
        raise ValueError(f"cannot read split {split!r} of dataset {dataset!r} config {config!r}: {error}") from error
    if max_rows is not None and max_rows < len(rows):
        rows = rows.shuffle(seed=seed).select(range(max_rows))
    if len(rows) == 0:
        raise ValueError(f"dataset {dataset!r} split {split!r} has no rows")
    return rows


def read_provenance(dataset: str | Path, config: str | None) -> dict | None:
    """A local dataset folder's provenance of ``config`` (what built it, and the model it explains), or None."""
    import json

    path = Path(dataset) / "provenance" / f"{config}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

