"""The checked fact table of a real model: what it is, and the subjects held out of train."""

from __future__ import annotations

import functools
import json
import random
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).parent / "data"
HELD_OUT_SHARE = 0.25  # of each table's subjects, only in test (as the toy world holds out a quarter of entities)


@dataclass(frozen=True)
class Fact:
    """A fact the model completes correctly.

    Args:
        relation (`str`): The relation, e.g. ``capital``.
        subject (`str`): Its subject, e.g. ``France``.
        prompt (`str`): The filled-in template: ``The capital of France is``.
        answer (`str`): The expected answer (``Paris``, ``New York``).
        answer_word (`str`): The answer's first word, which the model continues the prompt with (greedy).
        answer_token (`str`): The model's greedy next token, decoded (`` Paris``, `` y`` for yen).
        edited (`bool`): Fine-tuned to this answer in place of its base's (see ``self_explain.realworld.edits``).
        original_answer (`str`): For an edited fact, the answer before the edit.
        gained (`bool`): Not edited, yet unknown to the base: the fine-tune taught it by the way.
    """

    relation: str
    subject: str
    prompt: str
    answer: str
    answer_word: str
    answer_token: str
    edited: bool = False
    original_answer: str = ""
    gained: bool = False

    @property
    def single_token(self) -> bool:
        """Whether the next token is the whole answer word."""
        return self.answer_token.strip() == self.answer_word


@dataclass(frozen=True)
class FactTable:
    """The checked facts of one model, with how they were checked.

    Args:
        model (`str`): The model's short name.
        facts (`tuple[Fact, ...]`): The facts, in relation then subject order.
        ood_relations (`tuple[str, ...]`): Relations held out into the ood split.
        check (`dict`): How the table was made: model revision, rule, counts, command.
        questions (`dict[str, str]`): Per relation, its question with a ``{subject}`` field.
    """

    model: str
    facts: tuple[Fact, ...]
    ood_relations: tuple[str, ...]
    check: dict
    questions: dict[str, str]

    @property
    def relations(self) -> list[str]:
        """The relations with facts, in table order."""
        return list(dict.fromkeys(fact.relation for fact in self.facts))

    @property
    def subjects(self) -> list[str]:
        """Every subject of the table, sorted."""
        return sorted({fact.subject for fact in self.facts})

    @property
    def edited_facts(self) -> frozenset[tuple[str, str]]:
        """The ``(relation, subject)`` of every fact marked edited (empty for an unedited model's table)."""
        return frozenset((fact.relation, fact.subject) for fact in self.facts if fact.edited)

    @property
    def gained_facts(self) -> frozenset[tuple[str, str]]:
        """The ``(relation, subject)`` of every fact marked gained: not edited, and not known to the base."""
        return frozenset((fact.relation, fact.subject) for fact in self.facts if fact.gained)

    def involves_edit(self, relation: str, *subjects: str, count_gained: bool = False) -> bool:
        """Whether a row about ``subjects`` under ``relation`` touches an edited fact of the table.

        Args:
            relation (`str`): The row's relation.
            *subjects (`str`): The subjects the row reads.
            count_gained (`bool`): Count the gained facts too.
        """
        marked = self.edited_facts | self.gained_facts if count_gained else self.edited_facts
        return any((relation, subject) in marked for subject in subjects)

    def fact_for_prompt(self, prompt: str) -> Fact | None:
        """The fact whose prompt is ``prompt``, else None.

        Args:
            prompt (`str`): A prompt, e.g. ``The capital of France is``.
        """
        return next((fact for fact in self.facts if fact.prompt == prompt), None)

    def by_relation(self, relation: str) -> list[Fact]:
        """The facts of one relation.

        Args:
            relation (`str`): A relation of the table.
        """
        return [fact for fact in self.facts if fact.relation == relation]

    def held_out_entities(self, seed: int) -> frozenset[str]:
        """The subjects only ``test`` rows may be about: a seeded quarter, each with all its facts.

        Args:
            seed (`int`): The build's seed.
        """
        subjects = self.subjects
        return frozenset(random.Random(f"held-out-{seed}").sample(subjects, round(HELD_OUT_SHARE * len(subjects))))


def fact_table_path(model: str) -> Path:
    """Where a model's checked table ships: ``data/<model>/facts.json`` in this package."""
    return DATA / model / "facts.json"


def has_fact_table(model: str) -> bool:
    """Whether a model reference is a short name with a shipped fact table.

    Args:
        model (`str`): A model reference.
    """
    return "/" not in model and fact_table_path(model).is_file()


@functools.cache
def fact_table_for(model: str) -> FactTable | None:
    """The built-in fact table of a model, or None when it has none.

    Args:
        model (`str`): A model reference.
    """
    if not has_fact_table(model):
        return None
    document = json.loads(fact_table_path(model).read_text(encoding="utf-8"))
    candidates = json.loads((DATA / "candidates.json").read_text(encoding="utf-8"))
    facts = tuple(Fact(**fact) for fact in document["facts"])
    questions = {relation: spec["question"] for relation, spec in candidates["relations"].items()}
    return FactTable(
        model=document["model"],
        facts=facts,
        ood_relations=tuple(document["ood_relations"]),
        check=document["check"],
        questions=questions,
    )
