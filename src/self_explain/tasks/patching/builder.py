"""``self-explain build patching``: ground truth of activation patching, as a Hub dataset folder.

For each prompt pair (x, x'), the counterfactual's residual at an aligned position is written at the
original position over a window of layers, and the greedy next token with and without the patch is
recorded (the paper's ground truth). Work is split in shards written as the build goes: a killed
build resumes, and under ``accelerate launch`` each process builds its own shards.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shlex
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from datasets import Dataset, concatenate_datasets
from tqdm.auto import tqdm

from ... import __version__
from ...engine import Patch, clean_runs, patch_sweep
from ...files import write_atomically
from ...hub import (
    check_output_folder,
    check_remote_config,
    package_data,
    push_dataset,
    write_dataset_repo,
)
from ...models import LoadedModel, is_toy_model, load_model, short_model_name
from ...toyworld import toy_world_for
from .config import PatchingConfig
from .features import PATCHING_FEATURES
from .prompts import patching_answer, patching_question
from .sources import PromptPair, jsonl_pairs, toy_world_pairs

logger = logging.getLogger(__name__)

DATASET_NAME = "self-explain-patching"


@dataclass(frozen=True)
class AlignedPosition:
    orig_pos: int
    counterfact_pos: int
    token_type: str  # subject: last differing token; suffix: a shared token after it; last: the final token


def align_positions(original: list[int], counterfactual: list[int]) -> list[AlignedPosition]:
    """Positions of x whose residual differs from x' and their counterparts in x'.

    The two prompts share a prefix and a suffix; the differing span's last token is aligned with the
    counterfactual span's last token, and each shared suffix token with its counterpart from the end.
    Empty when the prompts cannot be aligned (identical, or x has no differing token).
    """
    prefix = 0
    while prefix < min(len(original), len(counterfactual)) and original[prefix] == counterfactual[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < min(len(original), len(counterfactual)) - prefix
        and original[-1 - suffix] == counterfactual[-1 - suffix]
    ):
        suffix += 1
    subject_end, counterfact_end = len(original) - suffix, len(counterfactual) - suffix
    if subject_end <= prefix or counterfact_end <= prefix:
        return []
    positions = [AlignedPosition(subject_end - 1, counterfact_end - 1, "subject")]
    for offset in range(suffix):
        positions.append(AlignedPosition(subject_end + offset, counterfact_end + offset, "suffix"))
    last = positions[-1]
    positions[-1] = AlignedPosition(last.orig_pos, last.counterfact_pos, "last")
    return positions


def _rng(seed: int, *keys: int) -> random.Random:
    """A generator that depends only on the seed and the row's keys, not on sharding or batching."""
    return random.Random(":".join(map(str, (seed, *keys))))


def start_layers(config: PatchingConfig, num_layers: int) -> list[int]:
    last_start = num_layers - config.window
    if last_start < 0:
        raise ValueError(f"--window {config.window} is wider than the target's {num_layers} layers")
    if config.layers is None:
        return list(range(last_start + 1))
    for layer in config.layers:
        if not 0 <= layer <= last_start:
            raise ValueError(
                f"--layers {layer} out of range: {config.target} has {num_layers} layers, so with "
                f"--window {config.window} a window can start at layers 0..{last_start}"
            )
    return sorted(set(config.layers))


class PatchingBuilder:
    def __init__(self, config: PatchingConfig, loaded: LoadedModel):
        self.config = config
        self.loaded = loaded
        self.tokenizer = loaded.tokenizer
        self.layers = start_layers(config, len(loaded.adapter.layers(loaded.model)))
        self.context = getattr(loaded.model.config, "max_position_embeddings", None) or getattr(
            loaded.model.config, "n_positions", None
        )

    def _encode(self, text: str, what: str, pair: PromptPair) -> list[int]:
        ids = self.tokenizer(text).input_ids
        if self.context is not None and len(ids) > self.context:
            raise ValueError(
                f"prompt {pair.prompt_id} {what} has {len(ids)} tokens, longer than the model's context "
                f"of {self.context} tokens"
            )
        return ids

    def rows_for(self, pairs: list[PromptPair]) -> tuple[list[dict], int]:
        """Rows of a group of prompt pairs (one batched sweep), and how many pairs could not be aligned."""
        encoded, skipped = [], 0
        for pair in pairs:
            original = self._encode(pair.text, "text", pair)
            counterfactual = self._encode(pair.counterfactual, "counterfactual", pair)
            positions = align_positions(original, counterfactual)
            if positions:
                encoded.append((pair, original, counterfactual, positions))
            else:
                skipped += 1
        if not encoded:
            return [], skipped
        model = self.loaded.model
        original_runs = clean_runs(model, [e[1] for e in encoded])
        counterfactual_runs = clean_runs(model, [e[2] for e in encoded])
        patches, meta = [], []
        for index, (pair, original, counterfactual, positions) in enumerate(encoded):
            for position in positions:
                for start in self.layers:
                    window = list(range(start, start + self.config.window))
                    vectors = counterfactual_runs[index].residuals[window, position.counterfact_pos]
                    patches.append(Patch(tuple(window), position.orig_pos, vectors, prompt=index))
                    meta.append((index, position, window))
        patched_top = patch_sweep(model, original_runs, patches).argmax(-1).tolist()
        clean_top = torch.stack([run.logits for run in original_runs]).argmax(-1).tolist()
        rows = []
        for (index, position, window), patched_id in zip(meta, patched_top):
            pair, original, counterfactual, _ = encoded[index]
            rng = _rng(self.config.seed, pair.prompt_id, position.orig_pos, window[0])
            tokens = self.tokenizer.convert_ids_to_tokens(original)
            orig_token = self.tokenizer.decode([original[position.orig_pos]])
            original_next = self.tokenizer.decode([clean_top[index]])
            patched_next = self.tokenizer.decode([patched_id])
            changed = patched_id != clean_top[index]
            rows.append(
                {
                    "prompt_id": pair.prompt_id,
                    "original_text": pair.text,
                    "counterfactual_text": pair.counterfactual,
                    "input_tokens": tokens,
                    "layer": window[0],
                    "layers": window,
                    "patch_position": {
                        "orig_pos": position.orig_pos,
                        "orig_text_token": orig_token,
                        "counterfact_pos": position.counterfact_pos,
                        "counterfact_text_token": self.tokenizer.decode([counterfactual[position.counterfact_pos]]),
                    },
                    "token_type": position.token_type,
                    "original_continuation": original_next,
                    "ablated_continuation": patched_next,
                    "is_different": changed,
                    "gt_original_target": pair.original_target,
                    "gt_counterfactual_target": pair.counterfactual_target,
                    "relation": pair.relation,
                    "question": patching_question(pair.text, orig_token.strip(), window, rng),
                    "answer": patching_answer(changed, original_next.strip(), patched_next.strip()),
                }
            )
        return rows, skipped


def prompt_pairs(config: PatchingConfig) -> list[PromptPair]:
    if config.prompts:
        return jsonl_pairs(config.prompts)
    if not is_toy_model(config.target):
        raise ValueError(
            f"--prompts FILE is required for {config.target!r}: only toy-world targets have built-in prompts"
        )
    return toy_world_pairs(toy_world_for(config.target), config.num_prompts, config.seed, config.ood_relations)


def assign_split(pair: PromptPair, config: PatchingConfig) -> str:
    if pair.split is not None:
        return pair.split
    return "test" if _rng(config.seed, pair.prompt_id).random() < config.test_fraction else "train"


def build_fingerprint(config: PatchingConfig, revision: str, pairs: list[PromptPair]) -> str:
    """Identifies a build: a resumed build must have been started with the same inputs."""
    fields = {k: v for k, v in asdict(config).items() if k not in ("push_to_hub", "overwrite", "out", "batch_prompts")}
    fields["revision"] = revision
    fields["package_version"] = __version__
    fields["pairs"] = hashlib.sha256(json.dumps([asdict(p) for p in pairs]).encode()).hexdigest()
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def _write_shard(rows: list[dict], path: Path) -> None:
    write_atomically(path, Dataset.from_list(rows, features=PATCHING_FEATURES).to_parquet)


def build_patching_dataset(config: PatchingConfig) -> Path:
    from accelerate import PartialState

    state = PartialState()
    out = Path(config.out)
    config_name = config.config_name or short_model_name(config.target)
    check_output_folder(out, DATASET_NAME, config_name, config.overwrite)
    if config.push_to_hub and state.is_main_process:
        check_remote_config(config.push_to_hub, config_name, config.overwrite)
    loaded = load_model(config.target, revision=config.revision, trust_remote_code=config.trust_remote_code)
    builder = PatchingBuilder(config, loaded)
    pairs = prompt_pairs(config)
    fingerprint = build_fingerprint(config, loaded.revision, pairs)
    work = out / ".build" / config_name
    manifest = work / "manifest.json"
    if state.is_main_process:
        if manifest.exists() and json.loads(manifest.read_text())["fingerprint"] != fingerprint:
            if not config.overwrite:
                raise FileExistsError(
                    f"{work} holds an unfinished build with other arguments; rerun with the same arguments "
                    f"to resume it, or pass --overwrite to start again"
                )
            for stale in work.glob("shard-*.parquet"):
                stale.unlink()
        work.mkdir(parents=True, exist_ok=True)
        manifest.write_text(json.dumps({"fingerprint": fingerprint, "num_pairs": len(pairs)}) + "\n")
    state.wait_for_everyone()

    shards = [pairs[i : i + config.shard_size] for i in range(0, len(pairs), config.shard_size)]
    mine = [k for k in range(len(shards)) if k % state.num_processes == state.process_index]
    for k in tqdm(mine, desc=f"patching {config_name}", disable=not state.is_local_main_process):
        path = work / f"shard-{k:05d}.parquet"
        if path.exists():
            continue
        rows, skipped = [], 0
        for start in range(0, len(shards[k]), config.batch_prompts):
            group_rows, group_skipped = builder.rows_for(shards[k][start : start + config.batch_prompts])
            rows += group_rows
            skipped += group_skipped
        _write_shard(rows, path)
        (work / f"shard-{k:05d}.skipped").write_text(f"{skipped}\n")
    state.wait_for_everyone()
    if not state.is_main_process:
        return out
    return _finish(config, config_name, loaded, builder.layers, pairs, work, len(shards))


def _finish(
    config: PatchingConfig, config_name: str, loaded: LoadedModel, layers: list[int], pairs, work: Path, num_shards: int
) -> Path:
    shard_paths = [work / f"shard-{k:05d}.parquet" for k in range(num_shards)]
    rows = concatenate_datasets([Dataset.from_parquet(str(p), features=PATCHING_FEATURES) for p in shard_paths])
    skipped = sum(int((work / f"shard-{k:05d}.skipped").read_text()) for k in range(num_shards))
    split_of = {pair.prompt_id: assign_split(pair, config) for pair in pairs}
    prompt_ids = rows["prompt_id"]
    splits = {}
    for split in ("train", "test", "ood"):
        indices = [i for i, prompt_id in enumerate(prompt_ids) if split_of[prompt_id] == split]
        if indices:
            splits[split] = rows.select(indices)
    if not splits:
        raise ValueError(f"no rows were built: all {len(pairs)} prompt pairs were skipped as unalignable")
    changed = rows["is_different"]
    provenance = {
        "target": loaded.name,
        "target_revision": loaded.revision,
        "seed": config.seed,
        "package_version": __version__,
        "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "num_prompt_pairs": len(pairs),
        "skipped_unaligned": skipped,
        "layers": layers,
        "window": config.window,
        "rows": {split: len(ds) for split, ds in splits.items()},
        "fraction_changed": round(sum(changed) / max(1, len(changed)), 4),
        "fraction_changed_by_split": {
            split: round(sum(ds["is_different"]) / max(1, len(ds)), 4) for split, ds in splits.items()
        },
        "content_sha256": dataset_content_hash(splits),
    }
    folder = write_dataset_repo(
        config.out,
        dataset_name=DATASET_NAME,
        config_name=config_name,
        splits=splits,
        card_template=package_data(f"dataset_builders/{DATASET_NAME}/README.md"),
        card_kwargs={"pretty_name": "self-explain: activation patching", "features": PATCHING_FEATURES},
        provenance=provenance,
        overwrite=config.overwrite,
    )
    for leftover in work.iterdir():
        leftover.unlink()
    work.rmdir()
    if not any(work.parent.iterdir()):
        work.parent.rmdir()
    logger.info("wrote %s config %s: %s", folder, config_name, provenance["rows"])
    if config.push_to_hub:
        push_dataset(folder, config.push_to_hub, config_name, overwrite=config.overwrite)
    return folder


def dataset_content_hash(splits: dict[str, Dataset]) -> str:
    digest = hashlib.sha256()
    for split in sorted(splits):
        for row in splits[split]:
            digest.update(json.dumps([split, row], sort_keys=True).encode())
    return digest.hexdigest()
