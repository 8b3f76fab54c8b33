"""``self-explain build ablation``: ground truth of input ablation, as a Hub dataset folder.

Each example is a text x with a span (the toy world's hint line, or any span of a user's text). The
target answers x greedily with and without the span (in its chat template, when it has one); the row
records both answers, whether the answer changed, and the explainer's question and answer in the
paper's templates. Built shard by shard like every dataset (see ``sharded_build``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from ...core.models import LoadedModel, is_toy_model, load_model
from ...toyworld import toy_world_for
from ...toyworld.world import ANSWER_PREFIX
from ..build import (
    base_provenance,
    build_fingerprint,
    fraction_true,
    seeded_rng,
    split_by_item,
    start_build,
)
from ..causal_answers import causal_answer
from .config import AblationConfig
from .features import ABLATION_FEATURES
from .ground_truth import run_ablations
from .prompts import ablation_question
from .sources import AblationExample, jsonl_examples, toy_hint_examples

logger = logging.getLogger(__name__)

DATASET_NAME = "self-explain-ablation"


def ablation_examples_for(config: AblationConfig) -> list[AblationExample]:
    if config.examples:
        return jsonl_examples(config.examples, config.span_regex)
    if not is_toy_model(config.target):
        raise ValueError(
            f"--examples FILE is required for {config.target!r}: only toy-world targets have built-in hint questions"
        )
    return toy_hint_examples(toy_world_for(config.target), config.num_examples, config.seed, config.ood_relations)


def answer_prefix_for(config: AblationConfig) -> str:
    if config.answer_prefix is not None:
        return config.answer_prefix
    return ANSWER_PREFIX if is_toy_model(config.target) else ""


def ablation_rows(config: AblationConfig, loaded: LoadedModel, examples: list[AblationExample]) -> list[dict]:
    outcomes = run_ablations(
        loaded, [(e.text, e.ablated_text) for e in examples], answer_prefix_for(config), config.max_new_tokens,
        names=[f"example {e.example_id}" for e in examples],
    )
    rows = []
    for example, outcome in zip(examples, outcomes):
        rng = seeded_rng(config.seed, example.example_id)
        rows.append(
            {
                "example_id": example.example_id,
                "text": example.text,
                "ablated_text": example.ablated_text,
                "span": {"text": example.span, "start": example.span_start, "end": example.span_end},
                "original_prompt": outcome.original_prompt,
                "ablated_prompt": outcome.ablated_prompt,
                "token_span": {"start": outcome.token_start, "end": outcome.token_end},
                "original_prediction": outcome.original_prediction,
                "ablated_prediction": outcome.ablated_prediction,
                "is_different": outcome.changed,
                "answer_logprob_change": outcome.answer_logprob_change,
                "choice_question": example.choice_question,
                "choices": list(example.choices),
                "correct_answer": example.correct_answer,
                "hint_giver": example.hint_giver,
                "hint_answer": example.hint_answer,
                "relation": example.relation,
                "question": ablation_question(example.text, config.span_name, rng),
                "answer": causal_answer(outcome.changed, outcome.original_prediction, outcome.ablated_prediction),
            }
        )
    return rows


def assign_split(example: AblationExample, config: AblationConfig) -> str:
    if example.split is not None:
        return example.split
    return "test" if seeded_rng(config.seed, example.example_id, 1).random() < config.test_fraction else "train"


def build_ablation_dataset(config: AblationConfig) -> Path:
    build, state = start_build(config, DATASET_NAME, ABLATION_FEATURES)
    examples = ablation_examples_for(config)
    loaded = load_model(config.target, revision=config.revision, trust_remote_code=config.trust_remote_code)

    def rows_for(shard: list[AblationExample]) -> tuple[list[dict], int]:
        rows = []
        for start in range(0, len(shard), config.batch_size):
            rows += ablation_rows(config, loaded, shard[start : start + config.batch_size])
        return rows, 0

    fingerprint = build_fingerprint(config, loaded.revision, examples)
    num_shards = build.build_shards(examples, config.shard_size, fingerprint, rows_for, state)
    if not state.is_main_process:
        return build.out
    rows, _ = build.read_shards(num_shards)
    splits = split_by_item(rows, rows["example_id"], {e.example_id: assign_split(e, config) for e in examples})
    changed = fraction_true(splits, "is_different")
    provenance = base_provenance(
        loaded,
        config.seed,
        num_examples=len(examples),
        source=config.examples or "toy-world hint questions",
        span_regex=config.span_regex,
        answer_prefix=answer_prefix_for(config),
        max_new_tokens=config.max_new_tokens,
        rows={split: len(ds) for split, ds in splits.items()},
        fraction_changed=changed["overall"],
        fraction_changed_by_split=changed["by_split"],
    )
    if "hint_giver" in rows.column_names and any(rows["hint_giver"]):
        provenance["fraction_changed_by_hint_giver"] = _changed_by(rows, "hint_giver")
    return build.publish(splits, provenance, pretty_name="self-explain: input ablation")


def _changed_by(rows, column: str) -> dict[str, float]:
    groups: dict[str, list[bool]] = {}
    for key, changed in zip(rows[column], rows["is_different"]):
        groups.setdefault(key, []).append(changed)
    return {key: round(sum(values) / len(values), 4) for key, values in sorted(groups.items())}
