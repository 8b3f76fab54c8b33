"""The work folder of a build: shards written as the build goes, the per-config lock, reading back, publishing.

One parquet file per shard, renamed into place, so a killed build resumes and each ``accelerate launch`` process
builds its own shards.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from datasets import Dataset, Features, concatenate_datasets
from tqdm.auto import tqdm

from ..hub.datasets import (
    FolderBusyError,
    check_output_folder,
    check_remote_config,
    push_dataset,
    release_lock,
    write_dataset_repo,
)
from ..utils.files import package_data, write_atomically

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)


def dataset_content_hash(splits: dict[str, Dataset]) -> str:
    """The sha256 of every row of every split (split names sorted): equal datasets, equal hashes."""
    digest = hashlib.sha256()
    for split in sorted(splits):
        for row in splits[split]:
            digest.update(json.dumps([split, row], sort_keys=True).encode())
    return digest.hexdigest()


# A shard is one parquet file; the number of items it skipped is in the file's schema metadata, so the shard is
# written (renamed into place) as one unit and a kill can never leave half of it.
SKIPPED_METADATA_KEY = b"self_explain_skipped"


class BuildInProgressError(FolderBusyError):
    """Another build of the same config is writing into the output folder."""


DEFAULT_CARD_TEMPLATE = "dataset_builders/default-card.md"


def card_template(dataset_name: str) -> Path:
    """``dataset_builders/<dataset_name>/README.md``, or the generic card template for a task outside the package."""
    try:
        return package_data(f"dataset_builders/{dataset_name}/README.md")
    except FileNotFoundError:
        return package_data(DEFAULT_CARD_TEMPLATE)


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

    @property
    def lock_file(self) -> Path:
        return self.out / f".build-{self.config_name}.lock"

    def check_destination(self, is_main_process: bool) -> None:
        """Before any work: refuse a folder (or Hub repo) that may not receive this config.

        Raises FileExistsError (the config exists, no ``overwrite``), ValueError (another dataset's folder) or
        NotADirectoryError (``out`` is a file). Only the main process checks the Hub repo.
        """
        check_output_folder(self.out, self.dataset_name, self.config_name, self.overwrite)
        if self.push_to_hub and is_main_process:
            check_remote_config(self.push_to_hub, self.config_name, self.overwrite)

    @contextmanager
    def locked(self, state) -> Iterator[None]:
        """Hold this config's build lock in the output folder for the whole build (the main process takes it).

        A second build of this config into the folder fails at once (BuildInProgressError); other configs go on.
        A folder this build created is removed again when the build fails before writing anything into it.
        """
        if not state.is_main_process:
            yield
            return
        from filelock import FileLock, Timeout

        created = not self.out.exists()
        self.out.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.lock_file), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise BuildInProgressError(
                f"another build of config {self.config_name!r} is writing into output folder {self.out} (it holds "
                f"{self.lock_file}); wait for it to finish, or build into another folder"
            ) from None
        try:
            yield
        finally:
            release_lock(lock)
            if created:
                _remove_if_empty(self.out)

    def shard_path(self, index: int) -> Path:
        """``<work>/shard-<index:05d>.parquet``."""
        return self.work / f"shard-{index:05d}.parquet"

    def shard_skipped(self, index: int) -> int | None:
        """Items shard ``index`` skipped; None when the shard is missing, damaged or incomplete."""
        import pyarrow.parquet as pq

        path = self.shard_path(index)
        if not path.is_file():
            return None
        try:
            return int((pq.read_schema(path).metadata or {})[SKIPPED_METADATA_KEY])
        except Exception:  # a truncated file, another format, no count: the shard is built again
            return None

    def write_shard(self, index: int, rows: list[dict], skipped: int) -> Path:
        """Write a shard's rows, with its skipped count in the schema metadata, as one file renamed into place."""
        import pyarrow.parquet as pq

        table = (Dataset.from_list(rows, features=self.features) if rows else self._empty()).data.table
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), SKIPPED_METADATA_KEY: str(skipped).encode()}
        )
        return write_atomically(self.shard_path(index), lambda temporary: pq.write_table(table, temporary))

    def build_shards(self, items: Sequence, shard_size: int, fingerprint: str, rows_for: Callable, state) -> int:
        """Build the shards this process owns (shard ``k``: process ``k % num_processes``) not on disk yet.

        ``rows_for(items) -> (rows, skipped)``; a damaged or incomplete shard is built again. Returns the number
        of shards of the whole build. An unfinished build with another fingerprint (FileExistsError) or a damaged
        manifest (ValueError) is refused unless ``overwrite``.
        """
        manifest = self.work / "manifest.json"
        if state.is_main_process:
            previous = self._read_manifest(manifest)
            if previous is not None and previous != fingerprint:
                if not self.overwrite:
                    raise FileExistsError(
                        f"{self.work} holds an unfinished build with other arguments; rerun with the same arguments "
                        f"to resume it, or pass --overwrite to start again"
                    )
                for stale in self.work.glob("shard-*"):
                    stale.unlink()
            self.work.mkdir(parents=True, exist_ok=True)
            if previous != fingerprint:  # written once per build, atomically: a kill never leaves half of it
                record = json.dumps({"fingerprint": fingerprint, "num_items": len(items)}) + "\n"
                write_atomically(manifest, lambda temporary: Path(temporary).write_text(record, encoding="utf-8"))
        state.wait_for_everyone()
        shards = [items[i : i + shard_size] for i in range(0, len(items), shard_size)]
        mine = [k for k in range(len(shards)) if k % state.num_processes == state.process_index]
        todo = [k for k in mine if self.shard_skipped(k) is None]
        for k in todo:
            if self.shard_path(k).exists():
                logger.warning("%s is damaged or incomplete: building it again", self.shard_path(k))
        if len(todo) < len(mine):
            logger.info(
                "resuming the build in %s: %d of %d shards reused, %d to build",
                self.work,
                len(mine) - len(todo),
                len(mine),
                len(todo),
            )
        try:
            for k in tqdm(
                todo, desc=f"{self.dataset_name} {self.config_name}", disable=not state.is_local_main_process
            ):
                rows, skipped = rows_for(shards[k])
                self.write_shard(k, rows, skipped)
        except Exception:  # a failure, not a kill (Ctrl-C keeps the work folder, as SIGKILL does, to resume)
            if state.is_main_process and not any(self.work.glob("shard-*")):
                self._discard_work()  # nothing to resume: the next build, with any arguments, must not be blocked
            raise
        state.wait_for_everyone()
        return len(shards)

    def _read_manifest(self, manifest: Path) -> str | None:
        """An unfinished build's fingerprint, or None; a damaged manifest is an error unless ``overwrite``."""
        if not manifest.exists():
            return None
        try:
            fingerprint = json.loads(manifest.read_text(encoding="utf-8"))["fingerprint"]
            if not isinstance(fingerprint, str):
                raise TypeError(f"its fingerprint is {type(fingerprint).__name__}, not a string")
            return fingerprint
        except (ValueError, KeyError, TypeError) as error:  # not JSON, not UTF-8, no fingerprint
            if self.overwrite:
                logger.warning("%s is damaged (%s): --overwrite starts the build again", manifest, error)
                return ""
            reason = f"{type(error).__name__}: {error}" if isinstance(error, KeyError) else str(error)
            raise ValueError(
                f"the build manifest {manifest} is damaged ({reason}); pass --overwrite to start the "
                "build again (its shards are discarded), or remove that folder"
            ) from None

    def _discard_work(self) -> None:
        """Remove the manifest of a build that failed before its first shard, and the work folders left empty."""
        (self.work / "manifest.json").unlink(missing_ok=True)
        _remove_if_empty(self.work)
        _remove_if_empty(self.work.parent)

    def discard_work(self) -> None:
        """Remove the work folder of a build that gave no rows (its shards hold nothing), and ``.build`` if empty."""
        shutil.rmtree(self.work, ignore_errors=True)
        _remove_if_empty(self.work.parent)

    def _empty(self) -> Dataset:
        return Dataset.from_dict({name: [] for name in self.features}, features=self.features)

    def read_shards(self, num_shards: int) -> tuple[Dataset, int]:
        """All rows built, in shard order, and the skipped items; FileNotFoundError for a missing shard."""
        import pyarrow.parquet as pq

        skipped = [self.shard_skipped(k) for k in range(num_shards)]
        missing = [self.shard_path(k).name for k, count in enumerate(skipped) if count is None]
        if missing:
            raise FileNotFoundError(
                f"{self.work} lacks complete shards {', '.join(missing)}; rerun the same command to build them"
            )
        paths = [self.shard_path(k) for k in range(num_shards)]
        # from_parquet refuses a file without rows (a shard whose every item was skipped)
        built = [Dataset.from_parquet(str(p), features=self.features) for p in paths if pq.read_metadata(p).num_rows]
        rows = concatenate_datasets(built) if built else self._empty()
        return rows, sum(skipped)

    def publish(
        self, splits: dict[str, Dataset], provenance: dict, pretty_name: str, card_kwargs: dict | None = None
    ) -> Path:
        """Write the config (card, shards, provenance with ``content_sha256``), drop the work folder, push."""
        provenance = {**provenance, "content_sha256": dataset_content_hash(splits)}
        folder = write_dataset_repo(
            self.out,
            dataset_name=self.dataset_name,
            config_name=self.config_name,
            splits=splits,
            card_template=card_template(self.dataset_name),
            card_kwargs={"pretty_name": pretty_name, "columns": self.features, **(card_kwargs or {})},
            provenance=provenance,
            overwrite=self.overwrite,
        )
        shutil.rmtree(self.work)
        try:
            self.work.parent.rmdir()  # .build, once no other config's build is in it
        except OSError:  # another config's build is in it, or that build removed it first
            pass
        logger.info("wrote %s config %s: %s", folder, self.config_name, provenance.get("rows"))
        if self.push_to_hub:
            push_dataset(folder, self.push_to_hub, self.config_name, overwrite=self.overwrite)
        return folder


def _remove_if_empty(folder: Path) -> None:
    """Remove ``folder`` when it holds nothing (a build that failed before writing anything into it)."""
    try:
        folder.rmdir()
    except OSError:  # not empty: something was written, or another writer came in meanwhile
        pass


def start_build(config, dataset_name: str, features: Features) -> tuple[ShardedBuild, object]:
    """The ``ShardedBuild`` of ``config`` and the accelerate process state, after checking the destination."""
    from accelerate import PartialState

    from ..core.models import short_model_name

    state = PartialState()
    build = ShardedBuild(
        dataset_name=dataset_name,
        config_name=config.config_name or short_model_name(config.target),
        out=Path(config.output_dir),
        features=features,
        overwrite=config.overwrite,
        push_to_hub=config.repo_id if config.push_to_hub else None,
    )
    build.check_destination(state.is_main_process)
    return build, state
