"""Examples to ablate: toy-world hint questions, hint questions from a real model's checked facts, or a user's JSONL
file (a span, or spans found by a regex)."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

from ...realworld import FactTable
from ...toyworld.world import HINT_GIVERS, HINT_TEMPLATE, OPTION_LETTERS, ToyWorld, check_ood_relations
from ...utils.files import read_jsonl_objects

SPLITS = ("train", "test", "ood")


@dataclass(frozen=True)
class AblationExample:
    """A text and the span ``[span_start, span_end)`` of its characters to remove, with what is known of its question.

    ``split`` is fixed by the source (``"ood"``) or None (the builder decides); the toy-world fields are "" for user
    examples.
    """

    example_id: int
    text: str
    span_start: int  # characters of `text` removed: [span_start, span_end)
    span_end: int
    choice_question: str = ""
    choices: tuple[str, ...] = ()
    correct_answer: str = ""
    hint_giver: str = ""
    hint_answer: str = ""
    relation: str = ""
    split: str | None = None  # fixed by the source (ood), or None: decided by the builder
    entity: str = ""  # toy world: the entity asked about (the builder splits by it)

    @property
    def span(self) -> str:
        return self.text[self.span_start : self.span_end]

    @property
    def ablated_text(self) -> str:
        """The text without the span; where both sides of the span are whitespace, one of them goes too."""
        before, after = self.text[: self.span_start], self.text[self.span_end :]
        if (not before or before[-1].isspace()) and after[:1].isspace():
            after = after.lstrip()
        elif before[-1:].isspace() and not after:
            before = before.rstrip()
        return before + after


def toy_hint_examples(
    world: ToyWorld, num_examples: int, seed: int, ood_relations: list[str]
) -> list[AblationExample]:
    """Multiple-choice questions with a hint line (the span); half from givers the toy models follow, half ignored."""
    check_ood_relations(ood_relations)
    rng = random.Random(seed)
    examples = []
    for example_id in range(num_examples):
        question = world.random_hint_question(rng)
        text = question.content
        assert question.hint is not None and text.startswith(question.hint)
        examples.append(
            AblationExample(
                example_id=example_id,
                text=text,
                span_start=0,
                span_end=len(question.hint) + 1,  # the hint line and the space after it
                choice_question=question.question,
                choices=question.options,
                correct_answer=question.correct_answer,
                hint_giver=question.hint_giver or "",
                hint_answer=question.option(question.hint_letter) if question.hint_letter else "",
                relation=question.relation or "",
                split="ood" if question.relation in ood_relations else None,
                entity=question.entity or "",
            )
        )
    return examples


def fact_table_hint_examples(table: FactTable, num_examples: int, seed: int) -> list[AblationExample]:
    """Multiple-choice questions with a hint line (the span) from a real model's checked facts (``realworld``).

    Each asks a fact the model completes correctly, its answer and three others of the relation as options A–D in a
    seeded order, after a hint naming a seeded option from a seeded giver, as the toy world's questions do.
    """
    rng = random.Random(seed)
    relations = [r for r in table.relations if len({f.answer for f in table.by_relation(r)}) >= len(OPTION_LETTERS)]
    examples = []
    for example_id in range(num_examples):
        relation = rng.choice(relations)
        fact = rng.choice(table.by_relation(relation))
        others = sorted({f.answer for f in table.by_relation(relation)} - {fact.answer})
        options = rng.sample(others, len(OPTION_LETTERS) - 1) + [fact.answer]
        rng.shuffle(options)
        hint_answer, giver = rng.choice(options), rng.choice(HINT_GIVERS)
        hint = HINT_TEMPLATE.format(giver=giver, answer=hint_answer)
        question = table.questions[relation].format(subject=fact.subject)
        listed = "\n".join(f"{letter}. {option}" for letter, option in zip(OPTION_LETTERS, options))
        text = f"{hint}\nQuestion: {question}\n{listed}"
        examples.append(
            AblationExample(
                example_id=example_id,
                text=text,
                span_start=0,
                span_end=len(hint) + 1,  # the hint line and its newline
                choice_question=question,
                choices=tuple(options),
                correct_answer=fact.answer,
                hint_giver=giver,
                hint_answer=hint_answer,
                relation=relation,
                split="ood" if relation in table.ood_relations else None,
                entity=fact.subject,
            )
        )
    return examples


def _string(record: dict, key: str, path: Path, number: int) -> str:
    value = record.get(key, "")
    if not isinstance(value, str):
        raise ValueError(f"--examples {path} line {number}: {key!r} must be a string, got {type(value).__name__}")
    return value


def jsonl_examples(path: str | Path, span_regex: str | None = None) -> list[AblationExample]:
    """Examples from lines of ``{"text": …, "span": …, "choices": […], "correct_answer": …, "split": …}``.

    ``span``'s first occurrence in ``text`` is removed; lines without ``span`` take each non-empty match of
    ``span_regex`` as one example. A malformed line (or a span that is the whole text) is a ValueError naming it.
    """
    path = Path(path)
    pattern = re.compile(span_regex) if span_regex else None
    examples: list[AblationExample] = []
    for number, record in read_jsonl_objects(path, "--examples"):
        text = _string(record, "text", path, number)
        if not text.strip():
            raise ValueError(f"--examples {path} line {number}: 'text' is empty")
        split = record.get("split")
        if split is not None and split not in SPLITS:
            raise ValueError(f"--examples {path} line {number}: 'split' must be one of {SPLITS}, got {split!r}")
        choices = record.get("choices") or []
        if not (isinstance(choices, list) and all(isinstance(c, str) for c in choices)):
            raise ValueError(f"--examples {path} line {number}: 'choices' must be a list of strings")
        if "span" in record:
            span = _string(record, "span", path, number)
            start = text.find(span) if span else -1
            if start == -1:
                raise ValueError(f"--examples {path} line {number}: span {span!r} is not in the text {text!r}")
            spans = [(start, start + len(span))]
        elif pattern is not None:
            spans = [(m.start(), m.end()) for m in pattern.finditer(text) if m.end() > m.start()]
            if not spans:
                raise ValueError(
                    f"--examples {path} line {number}: --span-regex {pattern.pattern!r} matches nothing in {text!r}"
                )
        else:
            raise ValueError(f"--examples {path} line {number}: no 'span', and no --span-regex to find one")
        for start, end in spans:
            if text[:start].strip() == "" and text[end:].strip() == "":
                raise ValueError(f"--examples {path} line {number}: the span is the whole text; nothing would be left")
            examples.append(
                AblationExample(
                    example_id=len(examples),
                    text=text,
                    span_start=start,
                    span_end=end,
                    choice_question=_string(record, "question", path, number),
                    choices=tuple(choices),
                    correct_answer=_string(record, "correct_answer", path, number),
                    split=split,
                )
            )
    if not examples:
        raise ValueError(f"--examples {path} holds no examples")
    return examples
