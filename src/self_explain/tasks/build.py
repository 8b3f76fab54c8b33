"""The one build loop of every explanation dataset.

:class:`DatasetBuilder` runs it (``run()``, a template method in the spirit of ``datasets.GeneratorBasedBuilder``):
check and lock the destination → read the inputs → load the target → fingerprint the build → build the shards this
process owns (resuming: shards on disk are reused) → read them back → split → provenance → publish. A task's builder
subclasses it and keeps only what is its own: its items, how a shard of items becomes rows, its splits and its
provenance. :class:`ShardedBuild` is the work folder under it: shards written as the build goes, so that a killed
build resumes and each ``accelerate launch`` process builds its own shards.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shlex
import shutil
import sys
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ClassVar, Iterator, Sequence

from datasets import Dataset, Features, concatenate_datasets
from tqdm.auto import tqdm

from ..core.files import package_data, write_atomically
from ..core.version import __version__
from ..hub.datasets import (
    FolderBusyError,
    check_output_folder,
    check_remote_config,
    push_dataset,
    release_lock,
    write_dataset_repo,
)

if TYPE_CHECKING:
    from ..core.models import LoadedModel
    from ..core.recipes import Recipe

logger = logging.getLogger(__name__)

BUILD_CONFIG_KEYS_IGNORED = ("push_to_hub", "overwrite", "out", "batch_prompts", "batch_size")
# Where the output goes, not what is built: left out of the options a provenance records.
PROVENANCE_OPTIONS_IGNORED = ("out", "overwrite", "push_to_hub")
# A shard is one parquet file; the number of items it skipped is in the file's schema metadata, so the shard is
# written (renamed into place) as one unit and a kill can never leave half of it.
SKIPPED_METADATA_KEY = b"self_explain_skipped"


def seeded_rng(seed: int, *keys: int) -> random.Random:
    """A generator that depends only on the seed and the row's keys, not on sharding or batching.

    Args:
        seed (`int`): The build's seed.
        *keys (`int`): The row's keys (an item id, a stream number, ...).

    Returns:
        `random.Random`: A generator seeded by ``seed`` and ``keys``.
    """
    return random.Random(":".join(map(str, (seed, *keys))))


def build_fingerprint(config, revision: str, items: Sequence) -> str:
    """Identifies a build: a resumed build must have been started with the same inputs.

    Args:
        config (`dataclass`): The builder config; output and batching options do not count.
        revision (`str`): The target's revision.
        items (`Sequence`): The dataclass items the build is made from.

    Returns:
        `str`: 16 hex digits.
    """
    fields = {k: v for k, v in asdict(config).items() if k not in BUILD_CONFIG_KEYS_IGNORED}
    fields["revision"] = revision
    fields["package_version"] = __version__
    fields["items"] = hashlib.sha256(json.dumps([asdict(item) for item in items]).encode()).hexdigest()
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def dataset_content_hash(splits: dict[str, Dataset]) -> str:
    """The sha256 of every row of every split (split names sorted): equal datasets, equal hashes.

    Args:
        splits (`dict[str, Dataset]`): The dataset's splits.

    Returns:
        `str`: 64 hex digits.
    """
    digest = hashlib.sha256()
    for split in sorted(splits):
        for row in splits[split]:
            digest.update(json.dumps([split, row], sort_keys=True).encode())
    return digest.hexdigest()


def build_command() -> str:
    """The command line of this process, as a shell would take it back.

    Returns:
        `str`: The program's name and its arguments, shell-quoted.
    """
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])


def require_input(target: str, given, option: str, builtin: str, has_builtin: bool | None = None) -> None:
    """The one check of an input that only toy-world targets have built in (prompts, examples, a corpus, ...).

    Args:
        target (`str`): The target model.
        given (`Any`): The option's value (None or empty: not given).
        option (`str`): The option, as the user types it (``"--prompts FILE"``).
        builtin (`str`): What toy-world targets have instead (``"built-in prompts"``).
        has_builtin (`bool`, *optional*): Whether this target has it built in (default: whether it is a toy model).

    Raises:
        ValueError: The option is missing and the target has no built-in input.
    """
    if given:
        return
    if has_builtin is None:
        from ..core.models import is_toy_model

        has_builtin = is_toy_model(target)
    if not has_builtin:
        raise ValueError(f"{option} is required for {target!r}: only toy-world targets have {builtin}")


class BuildInProgressError(FolderBusyError):
    """Another build of the same config is writing into the output folder."""


@dataclass
class ShardedBuild:
    """One config of one dataset, built into ``out`` (a Hub dataset-repo folder) shard by shard.

    Args:
        dataset_name (`str`): The dataset (its card template is ``dataset_builders/<dataset_name>/README.md``).
        config_name (`str`): The config built.
        out (`Path`): The dataset folder.
        features (`datasets.Features`): The rows' features.
        overwrite (`bool`): Replace the config (and an unfinished build of it with other arguments).
        push_to_hub (`str`, *optional*): Hub dataset repo to push the config to.
    """

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
        """Before any work: the folder (and the Hub repo) may receive this config.

        Args:
            is_main_process (`bool`): Whether this is the main process (only it checks the Hub repo).

        Raises:
            FileExistsError: When the folder or the Hub repo already has this config and ``overwrite`` is not set.
            ValueError: When the folder already holds another dataset.
            NotADirectoryError: When ``out`` is a file.
        """
        check_output_folder(self.out, self.dataset_name, self.config_name, self.overwrite)
        if self.push_to_hub and is_main_process:
            check_remote_config(self.push_to_hub, self.config_name, self.overwrite)

    @contextmanager
    def locked(self, state) -> Iterator[None]:
        """Hold this config's build lock in the output folder for the whole build (the main process takes it).

        A second build of the same config into the same folder is refused at once, naming the folder; builds of
        other configs go on (the card is then updated under the folder's own lock, see ``write_dataset_repo``).
        A folder this build created is removed again when the build fails before writing anything into it.

        Args:
            state (`accelerate.PartialState`): The process state; other processes than the main one take no lock.

        Raises:
            BuildInProgressError: When another build of this config holds the lock.
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
        """Where shard ``index`` is written in the work folder.

        Args:
            index (`int`): The shard's index.

        Returns:
            `Path`: ``<work>/shard-<index:05d>.parquet``.
        """
        return self.work / f"shard-{index:05d}.parquet"

    def shard_skipped(self, index: int) -> int | None:
        """How many items shard ``index`` skipped; None when the shard is missing, damaged or incomplete.

        Args:
            index (`int`): The shard's index.

        Returns:
            `int` or `None`: The count in the shard's metadata; None when the shard is to be built (again).
        """
        import pyarrow.parquet as pq

        path = self.shard_path(index)
        if not path.is_file():
            return None
        try:
            return int((pq.read_schema(path).metadata or {})[SKIPPED_METADATA_KEY])
        except Exception:  # a truncated file, another format, no count: the shard is built again
            return None

    def write_shard(self, index: int, rows: list[dict], skipped: int) -> Path:
        """The shard's rows and its count of skipped items, written as one file renamed into place.

        Args:
            index (`int`): The shard's index.
            rows (`list[dict]`): Its rows (possibly none), with the build's features.
            skipped (`int`): How many of its items gave no row, stored in the file's schema metadata.

        Returns:
            `Path`: The shard's path.
        """
        import pyarrow.parquet as pq

        table = (Dataset.from_list(rows, features=self.features) if rows else self._empty()).data.table
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), SKIPPED_METADATA_KEY: str(skipped).encode()})
        return write_atomically(self.shard_path(index), lambda temporary: pq.write_table(table, temporary))

    def build_shards(self, items: Sequence, shard_size: int, fingerprint: str, rows_for: Callable, state) -> int:
        """Build the shards this process owns that are not on disk yet; returns the number of shards.

        ``rows_for(items) -> (rows, skipped)`` turns a shard's items into rows; ``skipped`` counts items that
        gave none for a reason the provenance should report. A shard on disk that is damaged or incomplete is
        built again.

        Args:
            items (`Sequence`): Every item of the build, in order.
            shard_size (`int`): Items per shard.
            fingerprint (`str`): The build's fingerprint (`build_fingerprint`), recorded in the work manifest.
            rows_for (`Callable`): ``rows_for(items) -> (rows, skipped)``.
            state (`accelerate.PartialState`): The process state; shard ``k`` belongs to process
                ``k % num_processes``.

        Returns:
            `int`: The number of shards of the whole build.

        Raises:
            FileExistsError: When the work folder holds an unfinished build with another fingerprint and
                ``overwrite`` is not set.
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
        todo = [k for k in mine if self.shard_skipped(k) is None]
        for k in todo:
            if self.shard_path(k).exists():
                logger.warning("%s is damaged or incomplete: building it again", self.shard_path(k))
        if len(todo) < len(mine):
            logger.info("resuming the build in %s: %d of %d shards reused, %d to build", self.work,
                        len(mine) - len(todo), len(mine), len(todo))
        try:
            for k in tqdm(todo, desc=f"{self.dataset_name} {self.config_name}", disable=not state.is_local_main_process):
                rows, skipped = rows_for(shards[k])
                self.write_shard(k, rows, skipped)
        except Exception:  # a failure, not a kill (Ctrl-C keeps the work folder, as SIGKILL does, to resume)
            if state.is_main_process and not any(self.work.glob("shard-*")):
                self._discard_work()  # nothing to resume: the next build, with any arguments, must not be blocked
            raise
        state.wait_for_everyone()
        return len(shards)

    def _discard_work(self) -> None:
        """Remove the manifest of a build that failed before its first shard, and the work folders left empty."""
        (self.work / "manifest.json").unlink(missing_ok=True)
        _remove_if_empty(self.work)
        _remove_if_empty(self.work.parent)

    def _empty(self) -> Dataset:
        return Dataset.from_dict({name: [] for name in self.features}, features=self.features)

    def read_shards(self, num_shards: int) -> tuple[Dataset, int]:
        """All rows built, in shard order, and how many items were skipped.

        Args:
            num_shards (`int`): The number of shards of the build.

        Returns:
            `tuple[Dataset, int]`: The rows, and the skipped items summed over the shards.

        Raises:
            FileNotFoundError: When a shard is missing or incomplete (rerunning the command builds it).
        """
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
        """Write the config into the folder (card, shards, provenance), drop the work folder, push if asked.

        Args:
            splits (`dict[str, Dataset]`): The config's splits.
            provenance (`dict`): What built it; its ``content_sha256`` is added.
            pretty_name (`str`): The card's title.
            card_kwargs (`dict`, *optional*): More fields of the card template.

        Returns:
            `Path`: The dataset folder.
        """
        provenance = {**provenance, "content_sha256": dataset_content_hash(splits)}
        folder = write_dataset_repo(
            self.out,
            dataset_name=self.dataset_name,
            config_name=self.config_name,
            splits=splits,
            card_template=package_data(f"dataset_builders/{self.dataset_name}/README.md"),
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
    """The build of ``config`` (a builder config with target, out, config_name, overwrite, push_to_hub) and the
    accelerate process state, after checking the destination may receive it.

    Args:
        config (`dataclass`): The builder config.
        dataset_name (`str`): The dataset built.
        features (`datasets.Features`): The rows' features.

    Returns:
        `tuple[ShardedBuild, accelerate.PartialState]`
    """
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


def split_by_item(rows: Dataset, ids: list, split_of: dict, order: Sequence[str] = ("train", "test", "ood")
                  ) -> dict[str, Dataset]:
    """The rows of each split (in ``order``), by the split of the item each row came from (``ids``).

    Args:
        rows (`Dataset`): Every row built.
        ids (`list`): Per row, the key of the item it came from.
        split_of (`dict`): An item's key -> its split.
        order (`Sequence[str]`, *optional*, defaults to `("train", "test", "ood")`): The splits, in order.

    Returns:
        `dict[str, Dataset]`: The non-empty splits, in ``order``.
    """
    splits = {}
    for split in order:
        indices = [i for i, item_id in enumerate(ids) if split_of[item_id] == split]
        if indices:
            splits[split] = rows.select(indices)
    return splits


def fraction_true(splits: dict[str, Dataset], column: str) -> dict:
    """The share of rows with ``column`` true, overall and per split (for the provenance).

    Args:
        splits (`dict[str, Dataset]`): The dataset's splits.
        column (`str`): A boolean column.

    Returns:
        `dict`: ``{"overall": share, "by_split": {split: share}}``, rounded to 4 decimals.
    """
    total = sum(len(ds) for ds in splits.values())
    overall = sum(sum(ds[column]) for ds in splits.values())
    return {
        "overall": round(overall / max(1, total), 4),
        "by_split": {split: round(sum(ds[column]) / max(1, len(ds)), 4) for split, ds in splits.items()},
    }


def base_provenance(loaded, seed: int, **fields) -> dict:
    """What every provenance records: target and revision, seed, package version, the command; then ``fields``.

    Args:
        loaded (`LoadedModel`): The target (its name and revision are recorded).
        seed (`int`): The build's seed.
        **fields: The task's own fields (they may override the base ones).

    Returns:
        `dict`: The provenance.
    """
    return {
        "target": loaded.name,
        "target_revision": loaded.revision,
        "seed": seed,
        "package_version": __version__,
        "command": build_command(),
        **fields,
    }


class DatasetBuilder:
    """The build loop of an explanation dataset, written once; a task's builder subclasses it.

    ``run()`` is the template: :func:`start_build` (the destination checked) → lock the config in the output
    folder → :meth:`prepare` → :meth:`load_target` → :meth:`setup` → :meth:`items` → fingerprint →
    :meth:`before_shards` → the shards (:meth:`build_shard` on each shard of items not on disk yet) → read back →
    :meth:`split_of` each item → :meth:`provenance_extras` → :meth:`publish`.

    Class attributes:
        dataset_name (`str`): Hub repo name of the dataset, e.g. ``"self-explain-patching"``.
        features (`datasets.Features`): The rows' features (declared once, in the task's ``features.py``).
        pretty_name (`str`): The card's title.
        key_columns (`tuple[str, ...]`): The item attributes (and row columns) that identify an item.
        split_stream (`tuple[int, ...]`): Extra keys of the seeded draw of an item's split.
        split_names (`tuple[str, ...]`): The dataset's splits, in the card's order.

    Args:
        config (`dataclass`): The task's builder config (with target, out, seed, config_name, overwrite, ...).
        recipe (`Recipe`, *optional*): The YAML recipe the config was read from; the provenance records it.
    """

    dataset_name: ClassVar[str]
    features: ClassVar[Features]
    pretty_name: ClassVar[str]
    key_columns: ClassVar[tuple[str, ...]]
    split_stream: ClassVar[tuple[int, ...]] = ()
    split_names: ClassVar[tuple[str, ...]] = ("train", "test", "ood")

    def __init__(self, config, recipe: Recipe | None = None):
        self.config = config
        self.recipe = recipe
        self.build: ShardedBuild | None = None
        self.state = None
        self.target: LoadedModel | None = None

    def run(self) -> Path:
        """Build the dataset; returns its folder."""
        self.build, self.state = start_build(self.config, self.dataset_name, self.features)
        with self.build.locked(self.state):
            return self._run()

    def _run(self) -> Path:
        self.prepare()
        self.target = self.load_target()
        self.setup()
        items = self.items()
        fingerprint = build_fingerprint(self.config, self.target.revision, items)
        self.before_shards(items, fingerprint)
        num_shards = self.build.build_shards(items, self.shard_size(items), fingerprint, self.build_shard, self.state)
        if not self.state.is_main_process:
            return self.build.out
        rows, skipped = self.build.read_shards(num_shards)
        keys = list(zip(*(rows[column] for column in self.key_columns))) if len(rows) else []
        splits = split_by_item(rows, keys, {self.item_key(item): self.split_of(item) for item in items},
                               self.split_names)
        if not splits:
            raise ValueError(self.no_rows_message(items, skipped))
        provenance = base_provenance(self.target, self.config.seed,
                                     **self.provenance_extras(items, splits, rows, skipped))
        provenance["options"] = {key: value for key, value in asdict(self.config).items()
                                 if key not in PROVENANCE_OPTIONS_IGNORED}
        if self.recipe is not None:
            provenance["recipe"] = self.recipe.to_provenance()
        return self.publish(splits, provenance)

    # --- hooks ------------------------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Read and check the inputs that need no model, before the target is loaded (fail early)."""

    def load_target(self) -> LoadedModel:
        """The model the dataset explains."""
        from ..core.models import load_model

        return load_model(self.config.target, revision=self.config.revision,
                          trust_remote_code=self.config.trust_remote_code)

    def setup(self) -> None:
        """What needs the target (``self.target``) and comes before the items."""

    def items(self) -> list:
        """The items the rows are built from (dataclasses; their ``key_columns`` identify them)."""
        raise NotImplementedError

    def before_shards(self, items: list, fingerprint: str) -> None:
        """Work shared by every shard, done once per build (it may keep results in ``self.build.work``).

        Args:
            items (`list`): Every item of the build.
            fingerprint (`str`): The build's fingerprint.
        """

    def shard_size(self, items: list) -> int:
        """Items per shard (the unit of resumption).

        Args:
            items (`list`): Every item of the build.

        Returns:
            `int`: The config's ``shard_size`` unless a task says otherwise.
        """
        return self.config.shard_size

    def build_shard(self, items: list) -> tuple[list[dict], int]:
        """The rows of a shard's items, and how many items gave none for a reason the provenance reports.

        Args:
            items (`list`): The shard's items.

        Returns:
            `tuple[list[dict], int]`: The rows, and the number of items skipped.
        """
        raise NotImplementedError

    def item_key(self, item) -> tuple:
        """The key identifying an item: its ``key_columns`` attributes.

        Args:
            item: An item of the build.

        Returns:
            `tuple`: The values of ``key_columns``, in order (the same columns identify its rows).
        """
        return tuple(getattr(item, column) for column in self.key_columns)

    def split_of(self, item) -> str:
        """The item's own split when it has one (a user's file says so); else ``test`` with probability
        ``--test-fraction``, drawn from the seed and the item's key alone.

        Args:
            item: An item of the build.

        Returns:
            `str`: The item's split.
        """
        own = getattr(item, "split", None)
        if own is not None:
            return own
        rng = seeded_rng(self.config.seed, *self.item_key(item), *self.split_stream)
        return "test" if rng.random() < self.config.test_fraction else "train"

    def no_rows_message(self, items: list, skipped: int) -> str:
        """The error message of a build that gave no rows.

        Args:
            items (`list`): Every item of the build.
            skipped (`int`): How many items were skipped.

        Returns:
            `str`: The message (a task may say why its items were skipped).
        """
        return f"no rows were built: all {len(items)} items were skipped"

    def provenance_extras(self, items: list, splits: dict[str, Dataset], rows: Dataset, skipped: int) -> dict:
        """The task's own provenance fields (they may override the base ones).

        Args:
            items (`list`): Every item of the build.
            splits (`dict[str, Dataset]`): The splits built.
            rows (`Dataset`): Every row, before the split.
            skipped (`int`): How many items gave no row.

        Returns:
            `dict`: The fields; by default the rows per split.
        """
        return {"rows": {split: len(ds) for split, ds in splits.items()}}

    def publish(self, splits: dict[str, Dataset], provenance: dict) -> Path:
        """Write the config into the output folder (and push it when asked).

        Args:
            splits (`dict[str, Dataset]`): The splits built.
            provenance (`dict`): What built them.

        Returns:
            `Path`: The dataset folder.
        """
        return self.build.publish(splits, provenance, pretty_name=self.pretty_name)


def load_split(dataset: str, config: str | None, split: str, revision: str | None = None,
               max_rows: int | None = None, seed: int = 0):
    """One split of an explanation dataset (Hub id or folder), or a seeded subsample of ``max_rows`` rows.

    Args:
        dataset (`str`): A dataset folder or Hub id.
        config (`str`, *optional*): The config (None: the dataset's default).
        split (`str`): The split, e.g. ``"test"``.
        revision (`str`, *optional*): The revision of a Hub dataset.
        max_rows (`int`, *optional*): At most this many rows, drawn by a seeded shuffle; None: all of them.
        seed (`int`, *optional*, defaults to 0): Seed of the shuffle.

    Returns:
        `datasets.Dataset`: The rows.

    Raises:
        ValueError: When the split cannot be read (naming dataset, config and split) or has no rows.
    """
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
    """A local dataset folder's provenance of ``config`` (what built it, and the model it explains), or None.

    Args:
        dataset (`str` or `Path`): A dataset folder (a Hub id has no local provenance: None).
        config (`str`, *optional*): The config.

    Returns:
        `dict` or `None`: ``provenance/<config>.json``, or None when there is none.
    """
    path = Path(dataset) / "provenance" / f"{config}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
