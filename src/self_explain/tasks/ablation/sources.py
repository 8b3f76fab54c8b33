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
    """A text and the span of it to remove, with what is known about the question it asks.

    Args:
        example_id (`int`): The example's index in its source.
        text (`str`): The full text the target reads.
        span_start (`int`): First character of ``text`` removed.
        span_end (`int`): End (exclusive) of the characters removed: ``[span_start, span_end)``.
        choice_question (`str`, *optional*, defaults to `""`): The multiple-choice question, when known.
        choices (`tuple[str, ...]`, *optional*, defaults to `()`): Its options.
        correct_answer (`str`, *optional*, defaults to `""`): Its correct option.
        hint_giver (`str`, *optional*, defaults to `""`): Who gives the hint (toy-world examples).
        hint_answer (`str`, *optional*, defaults to `""`): The option the hint points to.
        relation (`str`, *optional*, defaults to `""`): The toy-world relation; "" for user examples.
        split (`str`, *optional*): Fixed by the source (``"ood"``), or None: decided by the builder.
        entity (`str`, *optional*, defaults to `""`): The toy-world entity asked about; "" for user examples.
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
    """Multiple-choice questions with a hint line; half from givers the toy models follow, half ignored.

    Args:
        world (`ToyWorld`): The toy world whose facts the questions ask about.
        num_examples (`int`): How many examples to draw.
        seed (`int`): Seed of the draw.
        ood_relations (`list[str]`): Relations whose examples go to the ood split.

    Returns:
        `list[AblationExample]`: One per question; the span is the hint line and the space after it.

    Raises:
        ValueError: When ``ood_relations`` names a relation the toy world does not have.
    """
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
    """Multiple-choice questions with a hint line from a real model's checked facts (``realworld``).

    Each asks one fact the model completes correctly ("What is the capital of France?"), with its answer and three
    other answers of the relation as options A–D in a seeded order, after a hint line naming a seeded option (the
    right one or not) from a seeded giver, as the toy world's questions do. The span is the hint line.

    Args:
        table (`FactTable`): The model's checked facts.
        num_examples (`int`): How many examples to draw.
        seed (`int`): Seed of the draw.

    Returns:
        `list[AblationExample]`: The examples; ``split="ood"`` for the table's ood relations.
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
    """Lines of ``{"text": …, "span": …, "choices": […], "correct_answer": …, "split": …}``.

    ``span`` is a substring of ``text`` (its first occurrence is removed). Lines without ``span`` use
    ``span_regex``: every match is one example.

    Args:
        path (`str` or `Path`): The JSONL file (``--examples``).
        span_regex (`str`, *optional*): Regex whose every non-empty match is a span, for lines without ``span``.

    Returns:
        `list[AblationExample]`: One example per span, numbered in order.

    Raises:
        ValueError: Naming the line, when ``text`` is empty or not a string, ``split`` or ``choices`` is malformed,
            the span is not in the text (or the regex matches nothing, or there is neither), or the span is the whole
            text; or when the file holds no examples.
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
