"""Prompt pairs to patch: from the toy world, a real model's checked facts, or a user's JSONL file."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from ...realworld import FactTable
from ...toyworld.world import RELATIONS, ToyWorld, check_ood_relations
from ...utils.files import read_jsonl_objects

SPLITS = ("train", "test", "ood")


@dataclass(frozen=True)
class PromptPair:
    """A prompt and its counterfactual: the activation of the one is patched into the other."""

    prompt_id: int
    text: str
    counterfactual: str
    original_target: str = ""
    counterfactual_target: str = ""
    relation: str = ""
    split: str | None = None  # fixed by the source (ood), or None: decided by the builder
    entity: str = ""  # toy world: the original's entity (the builder splits by it)
    counterfactual_entity: str = ""  # toy world: on the same side of the held-out entities as ``entity``


def unknown_words(tokenizer, text: str) -> list[str]:
    """The words of ``text`` the tokenizer reads only as its unknown token, each once ([] without an unknown token)."""
    unk = tokenizer.unk_token_id
    if unk is None or unk not in tokenizer(text, add_special_tokens=False).input_ids:
        return []
    words = []
    for word in text.split():
        if unk in tokenizer(word, add_special_tokens=False).input_ids and word not in words:
            words.append(word)
    return words


def toy_world_pairs(
    world: ToyWorld,
    num_prompts: int,
    seed: int,
    ood_relations: list[str],
    held_out: frozenset[str] = frozenset(),
    same_value_share: float = 0.0,
) -> list[PromptPair]:
    """CounterFact-style pairs: one template, two entities on the same side of ``held_out``.

    A seeded ``same_value_share`` of pairs asks about two entities with the same value of the fact, both known to the
    target, so that patching mostly leaves the answer unchanged and the verdict cannot be read off the texts; the
    others have values that differ (also when no same-value partner exists on the entity's side).
    """
    check_ood_relations(ood_relations)
    rng = random.Random(seed)
    pairs = []
    relations = list(RELATIONS)
    partners = _same_value_partners(world, held_out)
    for prompt_id in range(num_prompts):
        relation = rng.choice(relations)
        template = rng.randrange(len(RELATIONS[relation].templates))
        same_value = rng.random() < same_value_share and bool(partners[relation])
        if same_value:
            entity = rng.choice(sorted(partners[relation]))
            other = rng.choice(partners[relation][entity])
        else:
            entity = rng.choice(world.entities)
            others = [
                e
                for e in world.entities
                if world.facts[(e, relation)] != world.facts[(entity, relation)]
                and (e in held_out) == (entity in held_out)
            ]
            other = rng.choice(others)
        original, counterfactual = (
            world.fact_prompt(entity, relation, template),
            world.fact_prompt(other, relation, template),
        )
        pairs.append(
            PromptPair(
                prompt_id=prompt_id,
                text=original.text,
                counterfactual=counterfactual.text,
                original_target=original.answer,
                counterfactual_target=counterfactual.answer,
                relation=relation,
                split="ood" if relation in ood_relations else None,
                entity=entity,
                counterfactual_entity=other,
            )
        )
    return pairs


def fact_table_pairs(
    table: FactTable,
    num_prompts: int,
    seed: int,
    held_out: frozenset[str] = frozenset(),
    same_value_share: float = 0.0,
    single_token: bool = True,
) -> list[PromptPair]:
    """CounterFact-style pairs from a real model's checked facts: one relation's prompt about two subjects.

    Subjects are on the same side of ``held_out``; a seeded ``same_value_share`` have the same answer (Spain and
    Mexico: Spanish). ``single_token`` keeps facts whose next token is the whole answer word (``Paris``, not ``y``).
    """
    rng = random.Random(seed)
    by_relation: dict[str, list] = {}
    for fact in table.facts:
        if fact.single_token or not single_token:
            by_relation.setdefault(fact.relation, []).append(fact)
    unused = {
        relation: {
            (a, b)
            for a in facts
            for b in facts
            if a.subject != b.subject and (a.subject in held_out) == (b.subject in held_out)
        }
        for relation, facts in by_relation.items()
    }
    pairs: list[PromptPair] = []
    while len(pairs) < num_prompts:
        relations = sorted(relation for relation, left in unused.items() if left)
        if not relations:
            break
        relation = rng.choice(relations)
        left = sorted(unused[relation], key=lambda pair: (pair[0].subject, pair[1].subject))
        same = [pair for pair in left if pair[0].answer_word == pair[1].answer_word]
        different = [pair for pair in left if pair[0].answer_word != pair[1].answer_word]
        pool = same if (rng.random() < same_value_share and same) or not different else different
        original, counterfactual = rng.choice(pool)
        unused[relation].discard((original, counterfactual))
        pairs.append(
            PromptPair(
                prompt_id=len(pairs),
                text=original.prompt,
                counterfactual=counterfactual.prompt,
                original_target=original.answer_word,
                counterfactual_target=counterfactual.answer_word,
                relation=relation,
                split="ood" if relation in table.ood_relations else None,
                entity=original.subject,
                counterfactual_entity=counterfactual.subject,
            )
        )
    return pairs


def _same_value_partners(world: ToyWorld, held_out: frozenset[str]) -> dict[str, dict[str, list[str]]]:
    """Per relation, each known entity -> the other known entities with its value, on its side of ``held_out``."""
    partners: dict[str, dict[str, list[str]]] = {}
    for relation in RELATIONS:
        groups: dict[tuple[str, bool], list[str]] = {}
        for entity in world.entities:
            if world.knows(entity, relation):
                groups.setdefault((world.facts[(entity, relation)], entity in held_out), []).append(entity)
        partners[relation] = {
            entity: [e for e in group if e != entity]
            for group in groups.values()
            if len(group) > 1
            for entity in group
        }
    return partners


def jsonl_pairs(path: str | Path) -> list[PromptPair]:
    """Prompt pairs from lines of ``{"text": …, "counterfactual": …, "targets": [original, cf], "split": …}``."""
    path = Path(path)
    expected = "an object with string 'text' and 'counterfactual'"
    pairs = []
    for number, record in read_jsonl_objects(path, "--prompts", expected):
        if not isinstance(record.get("text"), str) or not isinstance(record.get("counterfactual"), str):
            raise ValueError(f"--prompts {path} line {number}: expected {expected}")
        if not record["text"].strip():
            raise ValueError(f"--prompts {path} line {number}: 'text' is empty")
        targets = record.get("targets") or ["", ""]
        if not (isinstance(targets, list) and len(targets) == 2 and all(isinstance(t, str) for t in targets)):
            raise ValueError(f"--prompts {path} line {number}: 'targets' must be [original, counterfactual] strings")
        split = record.get("split")
        if split is not None and split not in SPLITS:
            raise ValueError(f"--prompts {path} line {number}: 'split' must be one of {SPLITS}, got {split!r}")
        pairs.append(
            PromptPair(len(pairs), record["text"], record["counterfactual"], targets[0], targets[1], split=split)
        )
    if not pairs:
        raise ValueError(f"--prompts {path} holds no prompts")
    return pairs
