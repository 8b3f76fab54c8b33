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
    """A prompt and its counterfactual: the activation of the one is patched into the other.

    Args:
        prompt_id (`int`): The pair's index in its source.
        text (`str`): The original prompt, the one patched.
        counterfactual (`str`): The prompt the patched activation is read from.
        original_target (`str`, *optional*, defaults to `""`): The original's expected answer; "" when unknown.
        counterfactual_target (`str`, *optional*, defaults to `""`): The counterfactual's expected answer.
        relation (`str`, *optional*, defaults to `""`): The toy-world relation; "" for user prompts.
        split (`str`, *optional*): Fixed by the source (``"ood"``), or None: decided by the builder.
        entity (`str`, *optional*, defaults to `""`): The toy-world entity of the original; "" for user prompts.
        counterfactual_entity (`str`, *optional*, defaults to `""`): The toy-world entity of the counterfactual.
    """

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
    """The words of ``text`` the tokenizer can only read as its unknown token (a toy tokenizer's closed
    vocabulary), in order, each once; [] for a tokenizer without an unknown token (byte-level BPE).

    Args:
        tokenizer (`PreTrainedTokenizerBase`): The target's tokenizer.
        text (`str`): A prompt (a patching text or counterfactual).

    Returns:
        `list[str]`: The words that become ``unk_token``, e.g. ``["Blorptown"]``.
    """
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
    """CounterFact-style pairs: one template, two entities, both held out or both not (so that no text of a held-out
    entity's pair occurs in another pair).

    A seeded ``same_value_share`` of the pairs asks about two entities with the same value of the fact in ``world``
    (the target's world), both facts known to its model, so that the target answers both alike and patching one
    into the other mostly leaves its answer unchanged: whether a patch changes the output then cannot be read off
    the texts. The other pairs ask about two entities whose values differ (any fact, known or not). When no
    same-value partner exists on the entity's side of ``held_out``, the pair is drawn with values that differ.

    Args:
        world (`ToyWorld`): The toy world whose facts the prompts ask about.
        num_prompts (`int`): How many pairs to draw.
        seed (`int`): Seed of the draw (relation, template, entities).
        ood_relations (`list[str]`): Relations whose pairs go to the ood split.
        held_out (`frozenset[str]`, *optional*): The entities held out of train (the builder's test entities); a
            counterfactual's entity is held out exactly when the original's is.
        same_value_share (`float`, *optional*, defaults to 0.0): The share of pairs whose two entities have the same
            value of the fact (``world.facts``), both known.

    Returns:
        `list[PromptPair]`: ``num_prompts`` pairs with their targets, relation and entities; ``split="ood"`` for the
        held-out relations, None otherwise.

    Raises:
        ValueError: When ``ood_relations`` names a relation the toy world does not have.
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
    """CounterFact-style pairs from a real model's checked facts: one relation's prompt about two subjects, both
    held out or both not, each pair drawn once.

    A seeded ``same_value_share`` of the pairs have two subjects with the same answer (Spain and Mexico: Spanish),
    where patching one into the other mostly leaves the answer as it was; the others' answers differ.

    Args:
        table (`FactTable`): The model's checked facts (``realworld``).
        num_prompts (`int`): How many pairs to draw (fewer when the table has fewer distinct pairs).
        seed (`int`): Seed of the draw.
        held_out (`frozenset[str]`, *optional*): The subjects held out of train (the builder's test subjects).
        same_value_share (`float`, *optional*, defaults to 0.0): The share of same-answer pairs, where one exists.
        single_token (`bool`, *optional*, defaults to `True`): Only facts whose next token is the whole answer word
            (``Paris``, not ``y`` of ``yen``), so that the answer is a word.

    Returns:
        `list[PromptPair]`: The pairs, their targets the model's answer words, ``split="ood"`` for the table's ood
        relations.
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
    """Per relation, each entity whose fact the world's model knows -> the other such entities with the same value,
    on the same side of ``held_out`` (entities without one are left out)."""
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
    """Read prompt pairs from a JSONL file (``--prompts``).

    Lines of ``{"text": …, "counterfactual": …, "targets": [original, counterfactual], "split": …}``;
    ``targets`` and ``split`` are optional.

    Args:
        path (`str` or `Path`): The JSONL file.

    Returns:
        `list[PromptPair]`: One pair per line, numbered in order.

    Raises:
        ValueError: Naming the line, when a line is not an object with string ``text`` and ``counterfactual``,
            ``text`` is empty, ``targets`` is not two strings or ``split`` is not one of ``SPLITS``; or when the
            file holds no prompts.
    """
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
