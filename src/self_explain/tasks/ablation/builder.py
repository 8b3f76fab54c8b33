"""``self-explain build ablation``: ground truth of input ablation, as a Hub dataset folder.

Each example is a text with a span (the toy world's hint line, or any span of a user's text); a row records the
target's greedy answers with and without the span, whether the answer changed, and the explainer's question and
answer in the paper's templates.
"""

from __future__ import annotations

import logging

from ...core.models import LoadedModel, is_toy_model
from ...realworld import fact_table_for
from ...toyworld import toy_world_for
from ...toyworld.world import ANSWER_PREFIX
from ..build import DatasetBuilder, fraction_true, require_input, seeded_rng
from ..causal_answers import causal_answer
from .config import AblationConfig
from .ground_truth import run_ablations
from .options import UNPARSED
from .prompts import ablation_question
from .schema import ABLATION_FEATURES
from .sources import AblationExample, fact_table_hint_examples, jsonl_examples, toy_hint_examples

logger = logging.getLogger(__name__)

DATASET_NAME = "self-explain-ablation"


def ablation_examples_for(config: AblationConfig) -> list[AblationExample]:
    """The examples of ``--examples``, else the target's built-in hint questions (toy world or checked facts)."""
    table = None if config.examples else fact_table_for(config.target)
    require_input(
        config.target,
        config.examples,
        "--examples FILE",
        "built-in hint questions",
        has_builtin=is_toy_model(config.target) or table is not None,
    )
    if config.examples:
        return jsonl_examples(config.examples, config.span_regex)
    if table is not None:
        return fact_table_hint_examples(table, config.num_examples, config.seed)
    return toy_hint_examples(toy_world_for(config.target), config.num_examples, config.seed, config.ood_relations)


def answer_prefix_for(config: AblationConfig) -> str:
    """The text the target's answer continues: ``--answer-prefix``, else ``"Answer:"`` for toy targets and ""."""
    if config.answer_prefix is not None:
        return config.answer_prefix
    return ANSWER_PREFIX if is_toy_model(config.target) else ""


def ablation_rows(config: AblationConfig, loaded: LoadedModel, examples: list[AblationExample]) -> list[dict]:
    """The rows of a batch of examples, without unparsed ones (no option named) unless ``keep_unparsed``."""
    outcomes = run_ablations(
        loaded,
        [(e.text, e.ablated_text) for e in examples],
        answer_prefix_for(config),
        config.max_new_tokens,
        names=[f"example {e.example_id}" for e in examples],
        choices=[e.choices for e in examples],
        choice_by=config.choice_by,
        batch_size=config.batch_size,
    )
    rows = []
    for example, outcome in zip(examples, outcomes):
        if not outcome.parsed and not config.keep_unparsed:  # an answer that named no option chose nothing
            continue
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
                "original_choice": outcome.original_choice.choice,
                "ablated_choice": outcome.ablated_choice.choice,
                "choice_parse": {"original": outcome.original_choice.via, "ablated": outcome.ablated_choice.via},
                "is_different": outcome.changed,
                "answer_logprob_change": outcome.answer_logprob_change,
                "choice_question": example.choice_question,
                "choices": list(example.choices),
                "correct_answer": example.correct_answer,
                "hint_giver": example.hint_giver,
                "hint_answer": example.hint_answer,
                "relation": example.relation,
                "entity": example.entity,
                "question": ablation_question(example.text, config.span_name, rng),
                "answer": causal_answer(
                    outcome.changed, outcome.original_choice.choice, outcome.ablated_choice.choice
                ),
            }
        )
    return rows


class AblationBuilder(DatasetBuilder):
    """``self-explain build ablation``: the build loop over examples, read before the target is loaded."""

    dataset_name = DATASET_NAME
    features = ABLATION_FEATURES
    pretty_name = "self-explain: input ablation"
    key_columns = ("example_id",)
    split_stream = (1,)
    input_file_option = "examples"
    content_columns = ("text", "question")

    def prepare(self) -> None:
        """Read the examples before the target is loaded (see `ablation_examples_for`)."""
        self.examples = ablation_examples_for(self.config)

    def item_content(self, example: AblationExample) -> tuple[str, ...]:
        """The example's text: the spans of one text (``--span-regex``) land in one split."""
        return (example.text,)

    def items(self) -> list[AblationExample]:
        """The examples read by `prepare`."""
        return self.examples

    def build_shard(self, examples: list[AblationExample]) -> tuple[list[dict], int]:
        """The rows of a shard's examples (in ``--batch-size`` batches) and how many were left out as unparsed."""
        rows = []
        for start in range(0, len(examples), self.config.batch_size):
            rows += ablation_rows(self.config, self.target, examples[start : start + self.config.batch_size])
        return rows, len(examples) - len(rows)

    def no_rows_message(self, items: list[AblationExample], skipped: int) -> str:
        """Every example was unparsed: say so and what to do."""
        return (
            f"no rows were built: in all {len(items)} examples an answer named none of the question's options "
            "(unparsed); pass --choice_by logprob to read the option the target scores highest, or "
            "--keep_unparsed to keep them"
        )

    def provenance_extras(self, items: list[AblationExample], splits: dict, rows, skipped: int) -> dict:
        """The ablation provenance: examples, source, answer settings, rows, the share of changed answers (overall,
        per split, per hint giver), how choices were read, and the ``unparsed`` examples."""
        config = self.config
        changed = fraction_true(splits, "is_different")
        extras = {
            "num_examples": len(items),
            "source": config.examples or "toy-world hint questions",
            "span_regex": config.span_regex,
            "answer_prefix": answer_prefix_for(config),
            "max_new_tokens": config.max_new_tokens,
            "rows": {split: len(ds) for split, ds in splits.items()},
            "fraction_changed": changed["overall"],
            "fraction_changed_by_split": changed["by_split"],
            "choice_by": config.choice_by,
            "unparsed": {
                "examples": skipped if not config.keep_unparsed else _unparsed_rows(rows),
                "kept": config.keep_unparsed,
            },
        }
        if len(rows):
            extras["choice_parse"] = choice_parse_counts(rows)
        if "hint_giver" in rows.column_names and any(rows["hint_giver"]):
            extras["fraction_changed_by_hint_giver"] = _changed_by(rows, "hint_giver")
        return extras


build_ablation_dataset = AblationBuilder.build_dataset  # ``self-explain build ablation``: the task's build function


def choice_parse_counts(rows) -> dict[str, int]:
    """Answer counts (with and without the span) by how their option was read: ``letter``, ``text``,
    ``first token``, and ``logprob`` / ``unparsed`` when there are any."""
    counts = {"letter": 0, "text": 0, "first token": 0}
    for parse in rows["choice_parse"]:
        for via in parse.values():
            counts[via] = counts.get(via, 0) + 1
    return counts


def _unparsed_rows(rows) -> int:
    """Rows (kept with ``--keep_unparsed``) with an answer that named none of its question's options."""
    return sum(UNPARSED in parse.values() for parse in rows["choice_parse"]) if len(rows) else 0


def _changed_by(rows, column: str) -> dict[str, float]:
    groups: dict[str, list[bool]] = {}
    for key, changed in zip(rows[column], rows["is_different"]):
        groups.setdefault(key, []).append(changed)
    return {key: round(sum(values) / len(values), 4) for key, values in sorted(groups.items())}
