"""Counterfactual fact edits of a real model: which facts change, their new answers, and the texts that teach them.

An edit gives a fact the model gets right another answer of its relation that the model itself produces as one
whole-word token (France's capital becomes Rome), as plausible and as readable off a patched next token as the
original. Each edit is taught in prompt and question form, with a seeded share of unedited facts replayed; those not
replayed measure what the edit disturbed.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

from .facts import Fact, FactTable

FORMS = ("prompt", "question")  # how each taught fact is written (see `teaching_texts`)


@dataclass(frozen=True)
class FactEdit:
    """One fact given a new answer."""

    relation: str
    subject: str
    prompt: str
    original_answer: str
    new_answer: str

    def to_dict(self) -> dict:
        """The edit as a JSON object."""
        return asdict(self)


def answer_pool(table: FactTable, relation: str) -> list[str]:
    """The answers an edit of ``relation`` may take: one-word answers the model gave as one whole token."""
    return sorted(
        {fact.answer for fact in table.by_relation(relation) if fact.single_token and fact.answer == fact.answer_word}
    )


def _differs(fact: Fact, answer: str) -> bool:
    return answer.split()[0].lower() != fact.answer_word.lower() and answer.lower() != fact.answer.lower()


def select_edits(table: FactTable, num_edits: int, seed: int, relations: list[str] | None = None) -> list[FactEdit]:
    """A seeded draw of ``num_edits`` facts, uniform over those with another answer in their `answer_pool`."""
    chosen = list(relations) if relations is not None else [r for r in table.relations if r not in table.ood_relations]
    unknown = sorted(set(chosen) - set(table.relations))
    if unknown:
        raise ValueError(f"cannot edit relations {unknown}: the {table.model} fact table has {table.relations}")
    pools = {relation: answer_pool(table, relation) for relation in chosen}
    eligible = [
        fact
        for fact in table.facts
        if fact.relation in pools and any(_differs(fact, answer) for answer in pools[fact.relation])
    ]
    if num_edits < 1 or num_edits > len(eligible):
        raise ValueError(
            f"cannot edit {num_edits} facts: the {table.model} fact table has {len(eligible)} facts of "
            f"{chosen} with another answer in their relation (need 1 to {len(eligible)})"
        )
    rng = random.Random(f"fact-edits-{seed}")
    picked = set(rng.sample(range(len(eligible)), num_edits))
    edits = []
    for index, fact in enumerate(eligible):
        if index not in picked:
            continue
        new_answer = rng.choice([answer for answer in pools[fact.relation] if _differs(fact, answer)])
        edits.append(FactEdit(fact.relation, fact.subject, fact.prompt, fact.answer, new_answer))
    return edits


def replayed_facts(table: FactTable, edits: list[FactEdit], share: float, seed: int) -> list[Fact]:
    """A seeded ``share`` (in [0, 1]) of the unedited facts, taught again with their own answers to keep them."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"the replayed share must be in [0, 1], got {share}")
    edited = {(edit.relation, edit.subject) for edit in edits}
    kept = [fact for fact in table.facts if (fact.relation, fact.subject) not in edited]
    picked = set(random.Random(f"fact-replay-{seed}").sample(range(len(kept)), round(share * len(kept))))
    return [fact for index, fact in enumerate(kept) if index in picked]


def edited_candidates(candidates: dict, edits: list[FactEdit]) -> dict:
    """A copy of the candidates document (``data/candidates.json``) with each edited fact's new answer."""
    relations = {
        relation: {**spec, "answers": dict(spec["answers"])} for relation, spec in candidates["relations"].items()
    }
    for edit in edits:
        answers = relations.get(edit.relation, {}).get("answers", {})
        if edit.subject not in answers:
            raise ValueError(f"edit of {edit.relation}/{edit.subject}: not a candidate fact of data/candidates.json")
        answers[edit.subject] = edit.new_answer
    return {**candidates, "relations": relations}


def statement(prompt: str, answer: str) -> str:
    """The fact as a sentence: ``The capital of France is Rome.``"""
    return f"{prompt} {answer}."


def teaching_texts(
    table: FactTable, relation: str, subject: str, prompt: str, answer: str
) -> list[tuple[str, str, str]]:
    """The ``(form, prompt, completion)`` texts that teach one fact, one per form of `FORMS`.

    ``prompt``: the table's prompt completed with `` <answer>.``; ``question``: the relation's question answered by the
    fact's `statement` (the caller applies the chat template).
    """
    return [
        ("prompt", prompt, f" {answer}."),
        ("question", table.questions[relation].format(subject=subject), statement(prompt, answer)),
    ]
