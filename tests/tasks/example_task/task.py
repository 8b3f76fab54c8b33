"""The truncation task: its config, row schema, builder (the shared build loop) and :class:`Task` subclass."""

from dataclasses import dataclass, field

import torch
from datasets import Features, Value

from self_explain import ExperimentSettings, ExplainerExamples, Task, TaskCard
from self_explain.tasks.build import DatasetBuilder
from self_explain.tasks.causal_answers import (
    CAUSAL_METRIC_LABELS,
    causal_answer,
    parse_causal_answer,
)
from self_explain.tasks.config import BuildConfig
from self_explain.toyworld import toy_world_for

QUESTION = "If the first word of <<<{text}>>> were removed, how would your next token change?"

SCHEMA = Features(
    {
        "index": Value("int64"),
        "text": Value("string"),
        "truncated": Value("string"),
        "original_token": Value("string"),
        "truncated_token": Value("string"),
        "is_different": Value("bool"),
        "question": Value("string"),
        "answer": Value("string"),
    }
)


@dataclass
class TruncationConfig(BuildConfig):
    """Options of ``self-explain build truncation``: the shared ones, and how many toy-world prompts to use."""

    num_prompts: int = field(default=32, metadata={"help": "Toy-world fact prompts the rows are built from."})
    shard_size: int = field(default=64, metadata={"help": "Prompts per shard (resumption unit)."})


@dataclass(frozen=True)
class Prompt:
    """One item of the build: a text and the split it goes to."""

    index: int
    text: str
    split: str


def next_token(target, text: str) -> str:
    """The target's greedy next token after ``text``."""
    ids = target.tokenizer(text, return_tensors="pt").input_ids
    with torch.no_grad():
        logits = target.model(input_ids=ids).logits[0, -1]
    return target.tokenizer.decode([int(logits.argmax())], skip_special_tokens=True).strip()


def ground_truth(target, text: str) -> dict:
    """The next token with and without the first word, and the answer sentence."""
    truncated = text.split(" ", 1)[-1]
    original, new = next_token(target, text), next_token(target, truncated)
    return {
        "text": text,
        "truncated": truncated,
        "original_token": original,
        "truncated_token": new,
        "is_different": original != new,
        "question": QUESTION.format(text=text),
        "answer": causal_answer(original != new, original, new),
    }


class TruncationBuilder(DatasetBuilder):
    """Builds the rows with the shared loop (shards, resume, fingerprint, splits, provenance, card)."""

    dataset_name = "self-explain-truncation"
    features = SCHEMA
    pretty_name = "Self-explain truncation (example task)"
    key_columns = ("index",)
    split_names = ("train", "test")

    def items(self) -> list[Prompt]:
        prompts = toy_world_for(self.config.target).fact_prompts()[: self.config.num_prompts]
        return [Prompt(i, p.text, "test" if i % 4 == 0 else "train") for i, p in enumerate(prompts)]

    def build_shard(self, items: list[Prompt]) -> tuple[list[dict], int]:
        return [{"index": item.index, **ground_truth(self.target, item.text)} for item in items], 0


class TruncationTask(Task):
    """Would dropping the first word of a text change the target's next token?"""

    name = "truncation"
    config_class = TruncationConfig
    dataset_name = TruncationBuilder.dataset_name
    metric = "causal_match"
    max_new_tokens = 16
    card = TaskCard(
        description="predicts whether dropping the first word of a text changes the target's next token",
        metric_labels=CAUSAL_METRIC_LABELS,
    )
    experiment = ExperimentSettings(headline_metrics=("exact_match", "has_changed_macro_f1"))

    def build(self, config, recipe=None):
        return TruncationBuilder.build_dataset(config, recipe)

    def templates(self):
        return [QUESTION, causal_answer(True, "", "{b}"), causal_answer(False, "{a}", "")]

    def examples(self, dataset, target, seed=0):
        return ExplainerExamples(list(dataset["question"]), list(dataset["answer"]))

    def request(self, inputs, target):
        return ExplainerExamples([QUESTION.format(text=inputs["text"])], None)

    def parse(self, explanation):
        answer = parse_causal_answer(explanation)
        return {"changed": answer.changed, "content": answer.content}

    def verify(self, inputs, target, parsed):
        truth = ground_truth(target, inputs["text"])
        expected = truth["truncated_token"] if truth["is_different"] else truth["original_token"]
        held = parsed.get("changed") == truth["is_different"] and parsed.get("content") == expected
        return {"changed": truth["is_different"], "next_token": expected, "verified": held}
