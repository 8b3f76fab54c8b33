"""``self-explain build patching``: ground truth of activation patching, as a Hub dataset folder.

For each prompt pair (x, x'), the counterfactual's residual stream at an aligned position is written at the original
position over a window of layers, and the greedy next token with and without the patch is recorded. As in the
reference (Transluce's introspective-interp), layer ℓ is the output of decoder block ℓ, the default window is a
quarter of the target's depth, and one vector (the counterfactual's output of the window's first block) is written
at every block of the window; it is also the vector the explainer sees. ``--design sites``: see
`~self_explain.tasks.patching.sites`.
"""

from __future__ import annotations

import logging

import torch

from ...core.engine import Patch, clean_runs, patch_sweep
from ...core.models import context_length, is_toy_model
from ...core.words import WordReader
from ..build import DatasetBuilder, fraction_true, require_input, seeded_rng
from .config import PatchingConfig, default_window
from .positions import PatchedPosition, align_positions
from .prompts import patching_answer, patching_question
from .provenance import target_mismatches, unchanged_by_pair_kind
from .schema import PATCHING_FEATURES
from .sites import (
    CounterfactualSet,
    SiteCandidate,
    fact_table_sets,
    select_sites,
    sets_from_pairs,
    site_statistics,
    toy_world_sets,
)
from .sources import PromptPair, fact_table_pairs, jsonl_pairs, toy_world_pairs, unknown_words

logger = logging.getLogger(__name__)

DATASET_NAME = "self-explain-patching"


def window_size(config: PatchingConfig, num_layers: int) -> int:
    """Layers patched at once: ``config.window``, else `default_window` (round(8/32 · L), at least 1)."""
    return default_window(num_layers) if config.window is None else config.window


def start_layers(config: PatchingConfig, num_layers: int) -> list[int]:
    """The windows' sorted first layers: ``config.layers`` or every layer a window fits; ValueError if one does not."""
    window = window_size(config, num_layers)
    last_start = num_layers - window
    if last_start < 0:
        raise ValueError(f"--window {window} is wider than the target's {num_layers} layers")
    if config.layers is None:
        return list(range(last_start + 1))
    for layer in config.layers:
        if not 0 <= layer <= last_start:
            raise ValueError(
                f"--layers {layer} out of range: {config.target} has {num_layers} layers, so with "
                f"--window {window} a window can start at layers 0..{last_start}"
            )
    return sorted(set(config.layers))


class PatchingBuilder(DatasetBuilder):
    """``self-explain build patching``: the build loop over prompt pairs, swept in groups of ``--batch-prompts``."""

    dataset_name = DATASET_NAME
    features = PATCHING_FEATURES
    pretty_name = "self-explain: activation patching"
    key_columns = ("prompt_id",)
    input_file_option = "prompts"
    content_columns = ("original_text", "counterfactual_text", "question")

    def setup(self) -> None:
        """Read the target's tokenizer, the window size, the windows' start layers and the context length."""
        self.tokenizer = self.target.tokenizer
        num_layers = len(self.target.adapter.layers(self.target.model))
        self.window = window_size(self.config, num_layers)
        self.layers = start_layers(self.config, num_layers)
        self.context = context_length(self.target.model)
        self.words = WordReader(self.target.model, self.tokenizer)

    @property
    def sites_design(self) -> bool:
        """Whether the build draws sites with k counterfactuals each (``--design sites``) rather than pairs."""
        return self.config.design == "sites"

    def items(self) -> list[PromptPair] | list[CounterfactualSet]:
        """The prompt pairs (``--prompts``, else the fact table or toy world); with ``--design sites``, the texts with
        their candidate counterfactuals (a file's pairs grouped by text)."""
        config = self.config
        table = self.fact_table()
        require_input(
            config.target,
            config.prompts,
            "--prompts FILE",
            "built-in prompts",
            has_builtin=is_toy_model(config.target) or table is not None,
        )
        if self.sites_design:
            return self._sets(table)
        if config.prompts:
            return jsonl_pairs(config.prompts)
        if table is not None:
            return fact_table_pairs(
                table,
                config.num_prompts,
                config.seed,
                held_out=self.held_out_entities(),
                same_value_share=config.same_value_share,
            )
        return toy_world_pairs(
            self.toy_world(),
            config.num_prompts,
            config.seed,
            config.ood_relations,
            held_out=self.held_out_entities(),
            same_value_share=config.same_value_share,
        )

    def _sets(self, table) -> list[CounterfactualSet]:
        config = self.config
        if config.prompts:
            return sets_from_pairs(jsonl_pairs(config.prompts))
        if table is not None:
            return fact_table_sets(
                table, config.num_prompts, config.seed, config.candidates_per_text, held_out=self.held_out_entities()
            )
        return toy_world_sets(
            self.toy_world(),
            config.num_prompts,
            config.seed,
            config.ood_relations,
            config.candidates_per_text,
            held_out=self.held_out_entities(),
        )

    def item_content(self, item: PromptPair | CounterfactualSet) -> tuple[str, ...]:
        """The item's prompt and counterfactuals: items of a ``--prompts`` file that share one land in one split."""
        if isinstance(item, CounterfactualSet):
            return (item.text, *item.counterfactuals)
        return (item.text, item.counterfactual)

    def build_shard(self, pairs: list[PromptPair] | list[CounterfactualSet]) -> tuple[list[dict], int]:
        """The rows of a shard (`rows_for`, or `site_rows` with ``--design sites``) and how many pairs could not be
        aligned (texts that kept no site)."""
        if self.sites_design:
            return self.site_rows(pairs)
        rows, skipped = [], 0
        for start in range(0, len(pairs), self.config.batch_prompts):
            group_rows, group_skipped = self.rows_for(pairs[start : start + self.config.batch_prompts])
            rows += group_rows
            skipped += group_skipped
        return rows, skipped

    def site_rows(self, sets: list[CounterfactualSet]) -> tuple[list[dict], int]:
        """The rows of texts with candidates, and how many texts kept no site.

        Every candidate is patched at every site; each site keeps k candidates with distinct changed outputs and up to
        ``--unchanged-per-site`` unchanged ones (`select_sites`); a site with fewer outputs is left out.
        """
        config = self.config
        pairs = [pair for item in sets for pair in item.pairs()]
        patched: list[PatchedPosition] = []
        for start in range(0, len(pairs), config.batch_prompts):
            patched += self.sweep(pairs[start : start + config.batch_prompts])[0]
        decode = self.tokenizer.decode
        candidates = [
            SiteCandidate(
                (p.pair.prompt_id, p.position.orig_pos, p.window[0]),
                p.changed,
                decode([p.clean_id]).strip(),
                decode([p.patched_id]).strip(),
            )
            for p in patched
        ]
        kept, _ = select_sites(candidates, config.counterfactuals_per_site, config.unchanged_per_site, config.seed)
        rows = [self.row(patched[index]) for index in kept]
        with_rows = {row["prompt_id"] for row in rows}
        return rows, sum(1 for item in sets if item.prompt_id not in with_rows)

    def no_rows_message(self, items: list[PromptPair], skipped: int) -> str:
        """The error of a build whose every pair was unalignable."""
        if self.sites_design:
            return (
                f"no rows were built: none of the {len(items)} texts has a site where "
                f"--counterfactuals-per-site {self.config.counterfactuals_per_site} of its candidates give "
                "distinct changed outputs; try more --candidates-per-text or a smaller --counterfactuals-per-site"
            )
        source = f" of --prompts {self.config.prompts}" if self.config.prompts else ""
        return (
            f"no rows were built: all {len(items)} prompt pairs{source} were skipped as unalignable: a text and "
            "its counterfactual must each have a span the other lacks (e.g. the subject: 'Ann lives in' / 'Bob "
            "lives in'); fix or remove such pairs"
        )

    def provenance_extras(self, items: list[PromptPair], splits: dict, rows, skipped: int) -> dict:
        """The patching provenance: pairs, unaligned pairs, layers, window, rows, and the shares of changed and
        unchanged rows overall, by split and by pair kind (``same_value`` or ``different_value``)."""
        changed = fraction_true(splits, "is_different")
        if self.sites_design:
            return {**self._site_provenance(items, splits, skipped), **self._common_provenance(splits, changed, rows)}
        extras = {
            "num_prompt_pairs": len(items),
            "skipped_unaligned": skipped,
        }
        if not self.config.prompts:
            extras.update(unchanged_by_pair_kind(items, rows, self.config.same_value_share))
        return {**extras, **self._common_provenance(splits, changed, rows)}

    def _common_provenance(self, splits: dict, changed: dict, rows) -> dict:
        """The provenance fields of either design: layers, window, rows, shares changed, fact table, mismatches."""
        extras = {
            "layers": self.layers,
            "window": self.window,
            "layer_convention": "output of decoder block",
            "rows": {split: len(ds) for split, ds in splits.items()},
            "fraction_changed": changed["overall"],
            "fraction_changed_by_split": changed["by_split"],
            "fraction_unchanged": round(1 - changed["overall"], 4),
            "fraction_unchanged_by_split": {
                split: round(1 - share, 4) for split, share in changed["by_split"].items()
            },
        }
        table = self.fact_table()
        if table is not None:
            extras["fact_table"] = {"facts": len(table.facts), "relations": table.relations, **table.check}
        if self.toy_world() is None:  # a toy model does not know a third of its world's facts, by design
            extras["target_mismatches"] = target_mismatches(rows)
        return extras

    def _site_provenance(self, items: list[CounterfactualSet], splits: dict, skipped: int) -> dict:
        """The ``--design sites`` fields: options, texts, candidates, sites per split, `site_statistics`."""
        config = self.config
        tried: dict[str, int] = {}
        for item in items:
            split = self.split_of(item)
            tried[split] = tried.get(split, 0) + self.sites_tried.get(item.prompt_id, 0)
        return {
            "design": "sites",
            "counterfactuals_per_site": config.counterfactuals_per_site,
            "unchanged_per_site": config.unchanged_per_site,
            "candidates_per_text": config.candidates_per_text,
            "num_texts": len(items),
            "num_prompt_pairs": sum(len(item.counterfactuals) for item in items),
            "texts_without_site": skipped,
            "sites_tried": tried,
            "sites": {split: site_statistics(ds) for split, ds in splits.items()},
        }

    def before_shards(self, items: list[PromptPair], fingerprint: str) -> None:
        """Read every prompt once before the first shard, so a prompt the target cannot read (too long, unknown words)
        fails the build before anything is written."""
        if self.sites_design:
            self._check_sets(items)
            return
        for pair in items:
            self._encode(pair.text, "text", pair)
            self._encode(pair.counterfactual, "counterfactual", pair)

    def _check_sets(self, sets: list[CounterfactualSet]) -> None:
        """Read every text and candidate once (as `before_shards`) and count each text's sites tried."""
        self.sites_tried: dict[int, int] = {}
        for item in sets:
            pairs = item.pairs()
            if not pairs:
                continue
            original = self._encode(item.text, "text", pairs[0])
            positions = set()
            for pair in pairs:
                counterfactual = self._encode(pair.counterfactual, "counterfactual", pair)
                positions.update(p.orig_pos for p in align_positions(original, counterfactual))
            self.sites_tried[item.prompt_id] = len(positions) * len(self.layers)

    def _encode(self, text: str, what: str, pair: PromptPair) -> list[int]:
        ids = self.tokenizer(text).input_ids
        if self.context is not None and len(ids) > self.context:
            raise ValueError(
                f"prompt {pair.prompt_id} {what} has {len(ids)} tokens, longer than the model's context "
                f"of {self.context} tokens; shorten it or remove it from --prompts"
            )
        if self.tokenizer.unk_token_id in ids:
            raise ValueError(
                f"prompt {pair.prompt_id} {what} has words outside the target's vocabulary, which it would read as "
                f"{self.tokenizer.unk_token!r}: {unknown_words(self.tokenizer, text)}; use words the target knows, or "
                "remove the prompt from --prompts"
            )
        return ids

    def rows_for(self, pairs: list[PromptPair]) -> tuple[list[dict], int]:
        """Rows of a group of pairs (one sweep: a row per aligned position and start layer) and the unaligned count."""
        patched, skipped = self.sweep(pairs)
        return [self.row(p) for p in patched], skipped

    def sweep(self, pairs: list[PromptPair]) -> tuple[list[PatchedPosition], int]:
        """Every patch of a group of pairs in one batched sweep, and how many pairs could not be aligned."""
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
        model = self.target.model
        original_runs = clean_runs(model, [e[1] for e in encoded])
        counterfactual_runs = clean_runs(model, [e[2] for e in encoded])
        patches, meta = [], []
        for index, (_, _, _, positions) in enumerate(encoded):
            for position in positions:
                for start in self.layers:
                    window = list(range(start, start + self.window))
                    # As the reference: one vector, the counterfactual's output of the window's first block, written
                    # at the output of every block of the window (and the vector the explainer sees).
                    vector = counterfactual_runs[index].outputs[start, position.counterfact_pos]
                    patches.append(Patch(tuple(window), position.orig_pos, vector, prompt=index))
                    meta.append((index, position, window))
        patched_top = patch_sweep(model, original_runs, patches).argmax(-1).tolist()
        clean_top = torch.stack([run.logits for run in original_runs]).argmax(-1).tolist()
        counterfactual_top = torch.stack([run.logits for run in counterfactual_runs]).argmax(-1).tolist()
        clean_words = [self.words.word(e[1], clean_top[i]) for i, e in enumerate(encoded)]
        results = []
        for patch, (index, position, window), patched_id in zip(patches, meta, patched_top):
            pair, original, counterfactual, _ = encoded[index]
            results.append(
                PatchedPosition(
                    pair,
                    original,
                    counterfactual,
                    position,
                    window,
                    patch,
                    patched_id,
                    clean_top[index],
                    counterfactual_top[index],
                    clean_words[index],
                )
            )
        return results, skipped

    def row(self, patched: PatchedPosition) -> dict:
        """The dataset row of one patch: the greedy next token with and without it, the question and the answer."""
        pair, original, counterfactual, position, window = (
            patched.pair,
            patched.original,
            patched.counterfactual,
            patched.position,
            patched.window,
        )
        # Seeded by the site (text, position, window): every counterfactual of a site is asked the same question.
        rng = seeded_rng(self.config.seed, pair.prompt_id, position.orig_pos, window[0])
        orig_token = self.tokenizer.decode([original[position.orig_pos]])
        original_next = self.tokenizer.decode([patched.clean_id])
        patched_next = self.tokenizer.decode([patched.patched_id])
        changed = patched.changed
        return {
            "prompt_id": pair.prompt_id,
            "original_text": pair.text,
            "counterfactual_text": pair.counterfactual,
            "input_tokens": [self.tokenizer.decode([token]) for token in original],  # readable: ' France'
            "input_ids": original,
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
            "original_word": patched.clean_word,
            "ablated_word": (
                self.words.word(original, patched.patched_id, patched.patch) if changed else patched.clean_word
            ),
            "counterfactual_continuation": self.tokenizer.decode([patched.counterfactual_id]),
            "is_different": changed,
            "gt_original_target": pair.original_target,
            "gt_counterfactual_target": pair.counterfactual_target,
            "relation": pair.relation,
            "entity": pair.entity,
            "question": patching_question(pair.text, orig_token.strip(), window, rng),
            "answer": patching_answer(changed, original_next.strip(), patched_next.strip()),
        }


build_patching_dataset = PatchingBuilder.build_dataset  # ``self-explain build patching``: the task's build function
