"""The one build loop of every explanation dataset.

:class:`DatasetBuilder` runs it as a template method; a task's builder keeps only its items, how a shard of items
becomes rows, its splits and its provenance. :class:`~self_explain.tasks.shards.ShardedBuild` is the work folder
under it, so that a killed build resumes and each ``accelerate launch`` process builds its own shards.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shlex
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from datasets import Dataset, Features

from ..utils.version import __version__
from .shards import ShardedBuild, start_build

if TYPE_CHECKING:
    from ..core.models import LoadedModel
    from ..realworld import FactTable
    from ..toyworld.world import ToyWorld
    from ..utils.recipes import Recipe

logger = logging.getLogger(__name__)

BUILD_CONFIG_KEYS_IGNORED = ("push_to_hub", "repo_id", "overwrite", "output_dir", "batch_prompts", "batch_size")
# Where the output goes, not what is built: left out of the options a provenance records.
PROVENANCE_OPTIONS_IGNORED = ("output_dir", "overwrite", "push_to_hub", "repo_id")


def seeded_rng(seed: int, *keys: int) -> random.Random:
    """A generator that depends only on the seed and the row's keys, not on sharding or batching."""
    return random.Random(":".join(map(str, (seed, *keys))))


def build_fingerprint(config, revision: str, items: Sequence) -> str:
    """16 hex digits identifying a build's inputs (not its output or batching options), so a resume can check them."""
    fields = {k: v for k, v in asdict(config).items() if k not in BUILD_CONFIG_KEYS_IGNORED}
    fields["revision"] = revision
    fields["package_version"] = __version__
    fields["items"] = hashlib.sha256(json.dumps([asdict(item) for item in items]).encode()).hexdigest()
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def build_command() -> str:
    """The command line of this process, shell-quoted."""
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])


def require_input(target: str, given, option: str, builtin: str, has_builtin: bool | None = None) -> None:
    """Raise ValueError when ``option`` is not given and the target has no built-in input (toy-world targets)."""
    if given:
        return
    if has_builtin is None:
        from ..core.models import is_toy_model

        has_builtin = is_toy_model(target)
    if not has_builtin:
        raise ValueError(f"{option} is required for {target!r}: only toy-world targets have {builtin}")


def split_by_item(
    rows: Dataset, ids: list, split_of: dict, order: Sequence[str] = ("train", "test", "ood")
) -> dict[str, Dataset]:
    """The non-empty splits (in ``order``) of ``rows``, each row going to the split of its item (``ids``)."""
    splits = {}
    for split in order:
        indices = [i for i, item_id in enumerate(ids) if split_of[item_id] == split]
        if indices:
            splits[split] = rows.select(indices)
    return splits


def content_groups(keys: list[tuple], contents: list[Sequence[str]]) -> dict[tuple, tuple]:
    """Item key -> group key: items sharing a content text form one group, keyed by its first key."""
    parent = list(range(len(keys)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    first_with: dict[str, int] = {}
    for index, texts in enumerate(contents):
        for text in texts:
            if not text:
                continue
            if text in first_with:
                a, b = root(first_with[text]), root(index)
                parent[max(a, b)] = min(a, b)  # the earliest item is the group's root
            else:
                first_with[text] = index
    return {key: keys[root(index)] for index, key in enumerate(keys)}


def content_overlap(splits: dict[str, Dataset], columns: Sequence[str], reference: str = "train") -> dict[str, int]:
    """Per split other than ``reference``, the rows sharing a non-empty text of ``columns`` with ``reference``."""
    seen = set()
    if reference in splits:
        for column in columns:
            seen.update(text for text in splits[reference][column] if text)
    overlap = {}
    for split, rows in splits.items():
        if split == reference:
            continue
        values = zip(*(rows[column] for column in columns))
        overlap[split] = sum(1 for texts in values if any(text and text in seen for text in texts))
    return overlap


def fraction_true(splits: dict[str, Dataset], column: str) -> dict:
    """``{"overall": share, "by_split": {split: share}}`` of rows with ``column`` true, rounded to 4 decimals."""
    total = sum(len(ds) for ds in splits.values())
    overall = sum(sum(ds[column]) for ds in splits.values())
    return {
        "overall": round(overall / max(1, total), 4),
        "by_split": {split: round(sum(ds[column]) / max(1, len(ds)), 4) for split, ds in splits.items()},
    }


def base_provenance(loaded, seed: int, **fields) -> dict:
    """What every provenance records (target, revision, seed, version, command), then ``fields``."""
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

    ``run()``: :func:`start_build` → lock the config → :meth:`prepare` → :meth:`load_target` → :meth:`setup` →
    :meth:`items` → fingerprint → :meth:`before_shards` → :meth:`build_shard` per missing shard → read back →
    :meth:`split_of` → :meth:`provenance_extras` → :meth:`publish`. ``content_columns`` are the string columns whose
    text must not occur in ``train`` for a row of another split; () when rows are not texts.

    Content held out: a toy-world build puts a seeded quarter of the entities only in ``test`` and fails when a row of
    another split shares content text with ``train``; a user's file's items keep their split or are drawn ``test`` per
    group of items sharing a text, and an overlap is only a warning.

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
    content_columns: ClassVar[tuple[str, ...]] = ()
    # The config field of a user's item file (``prompts``, ``examples``); a task that names one draws its items,
    # when the file is not given, from the target's fact table or else its toy world (see `toy_world`).
    input_file_option: ClassVar[str | None] = None

    def __init__(self, config, recipe: Recipe | None = None):
        self.config = config
        self.recipe = recipe
        self.build: ShardedBuild | None = None
        self.state = None
        self.target: LoadedModel | None = None
        self.split_groups: dict[tuple, tuple] = {}

    @classmethod
    def build_dataset(cls, config, recipe: Recipe | None = None) -> Path:
        """Build the dataset of ``config`` (a task's ``Task.build``); returns its folder.

        Args:
            config (`BuildConfig`): The options of ``self-explain build <task>``.
            recipe (`Recipe`, *optional*): The YAML recipe the options came from (the provenance records it).

        Returns:
            `Path`: The dataset folder.
        """
        return cls(config, recipe).run()

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
        item_keys = [self.item_key(item) for item in items]
        self.split_groups = content_groups(item_keys, [self.item_content(item) for item in items])
        splits = split_by_item(
            rows, keys, {key: self.split_of(item) for key, item in zip(item_keys, items)}, self.split_names
        )
        if not splits:  # a rerun would end the same way: no work to keep, no folder left holding only it
            self.build.discard_work()
            raise ValueError(self.no_rows_message(items, skipped))
        held_out = self.content_provenance(splits)
        provenance = base_provenance(
            self.target, self.config.seed, **held_out, **self.provenance_extras(items, splits, rows, skipped)
        )
        provenance["options"] = {
            key: value for key, value in asdict(self.config).items() if key not in PROVENANCE_OPTIONS_IGNORED
        }
        if self.recipe is not None:
            provenance["recipe"] = self.recipe.to_provenance()
        return self.publish(splits, provenance)

    # --- hooks ------------------------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Read and check the inputs that need no model, before the target is loaded (fail early)."""

    def load_target(self) -> LoadedModel:
        """The model the dataset explains."""
        from ..core.models import load_model

        return load_model(
            self.config.target, revision=self.config.revision, trust_remote_code=self.config.trust_remote_code
        )

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

    def _builtin_items(self) -> bool:
        return self.input_file_option is not None and not getattr(self.config, self.input_file_option)

    def toy_world(self) -> ToyWorld | None:
        """The target's toy world when the items come from it (no input file, no fact table), else None."""
        if not self._builtin_items() or self.fact_table() is not None:
            return None
        from ..toyworld import toy_world_for

        return toy_world_for(self.config.target)

    def held_out_entities(self) -> frozenset[str] | None:
        """The entities (or fact-table subjects) only ``test`` rows may be about (a seeded quarter), or None."""
        if not hasattr(self, "_held_out_entities"):
            world = self.toy_world() or self.fact_table()
            self._held_out_entities = None if world is None else world.held_out_entities(self.config.seed)
        return self._held_out_entities

    def fact_table(self) -> FactTable | None:
        """The real model's checked facts when the items come from them (no input file given), else None."""
        if not self._builtin_items():
            return None
        from ..realworld import fact_table_for

        return fact_table_for(self.config.target)

    def entity_of(self, item) -> str:
        """The toy-world entity an item is about ("" when unknown).

        Args:
            item: An item of the build.

        Returns:
            `str`: The item's ``entity`` attribute, or "".
        """
        return getattr(item, "entity", "") or ""

    def item_content(self, item) -> tuple[str, ...]:
        """The texts of an item that become row content (prompt, counterfactual); items that share one are split
        together when splits are drawn (a user's file). Default: none, so each item is drawn on its own.

        Args:
            item: An item of the build.

        Returns:
            `tuple[str, ...]`: The item's content texts.
        """
        return ()

    def split_of(self, item) -> str:
        """The item's own split when it has one (a user's file says so, or the toy world's ood relation); else, for a
        toy-world build, ``test`` when its entity is held out (:meth:`held_out_entities`) and ``train`` otherwise;
        else ``test`` with probability ``--test-fraction``, drawn from the seed and the key of the item's group
        (items sharing a content text, see :meth:`item_content`; an item alone: its own key).

        Args:
            item: An item of the build.

        Returns:
            `str`: The item's split.
        """
        own = getattr(item, "split", None)
        if own is not None:
            return own
        held_out = self.held_out_entities()
        if held_out is not None:
            return "test" if self.entity_of(item) in held_out else "train"
        key = self.item_key(item)
        rng = seeded_rng(self.config.seed, *self.split_groups.get(key, key), *self.split_stream)
        return "test" if rng.random() < self.config.test_fraction else "train"

    def content_provenance(self, splits: dict[str, Dataset]) -> dict:
        """The content check and what the provenance records of it: ``held_out_entities`` (toy-world builds: the
        sorted entities only ``test`` rows are about) and ``content_overlap`` (tasks with ``content_columns``: the
        columns, and per split other than ``train`` the rows sharing a content text with ``train``).

        Args:
            splits (`dict[str, Dataset]`): The splits built.

        Returns:
            `dict`: The provenance fields ({} for a task without content columns and items not from the toy world).

        Raises:
            ValueError: For a toy-world build, when a row outside ``train`` shares a content text with ``train``.
        """
        fields = {}
        held_out = self.held_out_entities()
        if held_out is not None:
            fields["held_out_entities"] = sorted(held_out)
        if not self.content_columns:
            return fields
        overlap = content_overlap(splits, self.content_columns)
        fields["content_overlap"] = {"columns": list(self.content_columns), "rows": overlap}
        leaked = {split: count for split, count in overlap.items() if count}
        if leaked:
            message = (
                f"content held out: rows whose {'/'.join(self.content_columns)} text also occurs in train: "
                + ", ".join(f"{split} {count} of {len(splits[split])}" for split, count in leaked.items())
            )
            if held_out is not None:
                raise ValueError(
                    message + "; a build on the toy world or a fact table must share no text between "
                    "train and its other splits (a bug in the task's items)"
                )
            logger.warning("%s (the input file's own splits share these texts)", message)
        return fields

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


def subsample_indices(num_rows: int, max_rows: int | None, seed: int = 0) -> list[int]:
    """The rows of a split ``load_split`` keeps: the first ``max_rows`` of a seeded permutation (None: all).

    It is the permutation ``Dataset.shuffle(seed=seed)`` draws, so the selection equals
    ``rows.shuffle(seed=seed).select(range(k))``.
    """
    import numpy as np

    if max_rows is None or max_rows >= num_rows:
        return list(range(num_rows))
    return [int(i) for i in np.random.default_rng(seed).permutation(num_rows)[:max_rows]]


def load_split(
    dataset: str,
    config: str | None,
    split: str,
    revision: str | None = None,
    max_rows: int | None = None,
    seed: int = 0,
):
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
        ValueError: The split cannot be read (or a data file is damaged) or has no rows.
        FileNotFoundError: A local dataset's card names a missing data file.
        ConnectionError: The dataset is no local folder and the Hub cannot be reached.
    """
    from datasets import load_dataset
    from datasets.exceptions import DatasetGenerationError

    try:
        rows = load_dataset(dataset, config, split=split, revision=revision)
    except DatasetGenerationError as error:  # a data file that is damaged, or whose columns are not the card's
        cause = " ".join(str(error.__cause__ or error).split())[:300]
        named = f" config {config!r}" if config else ""
        raise ValueError(
            f"cannot read split {split!r} of dataset {dataset}{named}: a data file is damaged or not "
            f"this dataset's ({cause}); build the config again with --overwrite, or restore the "
            "file"
        ) from None
    except ValueError as error:
        raise ValueError(f"cannot read split {split!r} of dataset {dataset!r} config {config!r}: {error}") from error
    except ConnectionError as error:  # datasets' "Couldn't reach '<name>' on the Hub"
        if Path(dataset).exists():
            raise
        raise ConnectionError(
            f"dataset {dataset!r}: no such local folder, and {error}; check the path, or the network for a Hub dataset"
        ) from None
    except FileNotFoundError as error:
        if not Path(dataset).is_dir():
            raise
        missing = str(error).split(" with any supported extension")[0]  # datasets' "Unable to find '<file>'"
        named = f" config {config!r}" if config else ""
        raise FileNotFoundError(
            f"cannot read split {split!r} of dataset {dataset}{named}: {missing}, a file its "
            "README.md names; build the config again with --overwrite, or restore the "
            "file"
        ) from None
    if max_rows is not None and max_rows < len(rows):
        rows = rows.select(subsample_indices(len(rows), max_rows, seed))
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

    Raises:
        ValueError: The file is not a JSON object (damaged).
    """
    path = Path(dataset) / "provenance" / f"{config}.json"
    if not path.is_file():
        return None
    try:
        provenance = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError is a ValueError
        provenance = error
    if not isinstance(provenance, dict):
        reason = provenance if isinstance(provenance, Exception) else f"a JSON {type(provenance).__name__}"
        raise ValueError(
            f"the provenance {path} of dataset config {config!r} is damaged ({reason}, not a JSON "
            "object); build the config again with --overwrite, or restore the file"
        )
    return provenance
