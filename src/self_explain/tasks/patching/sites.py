"""The ``sites`` design of patching: each (text, layer window, token) site with k counterfactuals whose patched
outputs differ, so that the text cannot answer the changed rows.

In the paper's ``pairs`` design most rows are "unchanged", and on the changed rows an explainer ignoring the
vector can still guess from the text. Here a site is kept only with k counterfactuals whose patched top-1 outputs
are k distinct words, each unlike the unpatched output. The k rows of a site share their question word for word,
so any function of the question is right on at most 1 in k changed rows. Up to ``unchanged_per_site`` unchanged
counterfactuals are kept beside them, so the verdict cannot be read off the text either.

A text's candidates are the same relation and template about other entities (or subjects) on the same side of the
held-out ones, so splits stay held out by content; a user's file gives them as the pairs sharing the text.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass

from ...realworld import FactTable
from ...toyworld.world import RELATIONS, ToyWorld, check_ood_relations
from ..build import seeded_rng
from .sources import PromptPair

logger = logging.getLogger(__name__)

SELECTION_STREAM = 7  # the stream of the seeded order in which a site's candidates are considered


@dataclass(frozen=True)
class CounterfactualSet:
    """A text and the candidate counterfactuals tried at each of its sites (the item of a ``design: sites`` build).

    ``split`` is fixed by the source or None (the builder decides); ``counterfactual_entities`` are on the same side of
    the held-out entities as ``entity``.
    """

    prompt_id: int
    text: str
    counterfactuals: tuple[str, ...]
    original_target: str = ""
    counterfactual_targets: tuple[str, ...] = ()
    relation: str = ""
    split: str | None = None
    entity: str = ""
    counterfactual_entities: tuple[str, ...] = ()

    def pairs(self) -> list[PromptPair]:
        """The text with each of its candidates, as prompt pairs of the set's ``prompt_id``."""
        targets = self.counterfactual_targets or ("",) * len(self.counterfactuals)
        entities = self.counterfactual_entities or ("",) * len(self.counterfactuals)
        return [
            PromptPair(
                self.prompt_id,
                self.text,
                counterfactual,
                self.original_target,
                target,
                self.relation,
                self.split,
                self.entity,
                entity,
            )
            for counterfactual, target, entity in zip(self.counterfactuals, targets, entities)
        ]


def toy_world_sets(
    world: ToyWorld,
    num_texts: int,
    seed: int,
    ood_relations: list[str],
    candidates: int,
    held_out: frozenset[str] = frozenset(),
) -> list[CounterfactualSet]:
    """Toy-world texts, each with ``candidates`` counterfactuals: the same template about other entities.

    Every (entity, relation, template) is a text at most once; candidates are drawn from the same side of
    ``held_out`` whatever their value, so no text of a held-out entity's set occurs in another side's set.
    """
    check_ood_relations(ood_relations)
    rng = random.Random(f"patching-sites-{seed}")
    texts = [
        (entity, relation, template)
        for entity in world.entities
        for relation in RELATIONS
        for template in range(len(RELATIONS[relation].templates))
    ]
    rng.shuffle(texts)
    if num_texts > len(texts):
        logger.info("--num-prompts %d: the toy world has %d texts, each drawn once", num_texts, len(texts))
    sets = []
    for prompt_id, (entity, relation, template) in enumerate(texts[:num_texts]):
        side = [e for e in world.entities if e != entity and (e in held_out) == (entity in held_out)]
        others = rng.sample(side, min(candidates, len(side)))
        original = world.fact_prompt(entity, relation, template)
        prompts = [world.fact_prompt(other, relation, template) for other in others]
        sets.append(
            CounterfactualSet(
                prompt_id=prompt_id,
                text=original.text,
                counterfactuals=tuple(p.text for p in prompts),
                original_target=original.answer,
                counterfactual_targets=tuple(p.answer for p in prompts),
                relation=relation,
                split="ood" if relation in ood_relations else None,
                entity=entity,
                counterfactual_entities=tuple(others),
            )
        )
    return sets


def fact_table_sets(
    table: FactTable,
    num_texts: int,
    seed: int,
    candidates: int,
    held_out: frozenset[str] = frozenset(),
    single_token: bool = True,
) -> list[CounterfactualSet]:
    """Texts of a real model's checked facts, each with the relation's prompt about other subjects as candidates."""
    rng = random.Random(f"patching-sites-{seed}")
    facts = [fact for fact in table.facts if fact.single_token or not single_token]
    order = list(range(len(facts)))
    rng.shuffle(order)
    sets = []
    for prompt_id, index in enumerate(order[:num_texts]):
        fact = facts[index]
        side = [
            other
            for other in facts
            if other.relation == fact.relation
            and other.subject != fact.subject
            and (other.subject in held_out) == (fact.subject in held_out)
        ]
        others = rng.sample(side, min(candidates, len(side)))
        sets.append(
            CounterfactualSet(
                prompt_id=prompt_id,
                text=fact.prompt,
                counterfactuals=tuple(o.prompt for o in others),
                original_target=fact.answer_word,
                counterfactual_targets=tuple(o.answer_word for o in others),
                relation=fact.relation,
                split="ood" if fact.relation in table.ood_relations else None,
                entity=fact.subject,
                counterfactual_entities=tuple(o.subject for o in others),
            )
        )
    return sets


def sets_from_pairs(pairs: list[PromptPair]) -> list[CounterfactualSet]:
    """A user's prompt pairs grouped by text (one set per text); ValueError when a text's pairs differ in split."""
    grouped: dict[str, list[PromptPair]] = {}
    for pair in pairs:
        grouped.setdefault(pair.text, []).append(pair)
    sets = []
    for prompt_id, (text, group) in enumerate(grouped.items()):
        splits = {pair.split for pair in group}
        if len(splits) > 1:
            raise ValueError(
                f"--prompts: the pairs of text {text!r} give it different splits "
                f"({sorted(str(s) for s in splits)}); with --design sites a text's pairs share one split"
            )
        unique = list({pair.counterfactual: pair for pair in group}.values())
        sets.append(
            CounterfactualSet(
                prompt_id=prompt_id,
                text=text,
                counterfactuals=tuple(p.counterfactual for p in unique),
                original_target=group[0].original_target,
                counterfactual_targets=tuple(p.counterfactual_target for p in unique),
                split=group[0].split,
            )
        )
    return sets


@dataclass(frozen=True)
class SiteCandidate:
    """One patch of a site ``(prompt id, patched position, window's first layer)``, as the selection sees it."""

    site: tuple[int, int, int]
    changed: bool
    original: str
    patched: str


def select_sites(candidates: list[SiteCandidate], k: int, unchanged: int, seed: int) -> tuple[list[int], int]:
    """Per site, k candidates with k distinct changed outputs and up to ``unchanged`` unchanged ones.

    Candidates are taken in a seeded order (the seed and the site's keys: the same whatever the sharding); a site
    short of k distinct changed outputs is dropped whole. Returns the kept indices (sites in order of first
    appearance) and the number of sites dropped.
    """
    by_site: dict[tuple, list[int]] = {}
    for index, candidate in enumerate(candidates):
        by_site.setdefault(candidate.site, []).append(index)
    kept, dropped = [], 0
    for site, indices in by_site.items():
        order = list(indices)
        seeded_rng(seed, *site, SELECTION_STREAM).shuffle(order)
        changed, same = [], []
        seen = {candidates[indices[0]].original}
        for index in order:
            candidate = candidates[index]
            if candidate.changed:
                if len(changed) < k and candidate.patched not in seen:
                    seen.add(candidate.patched)
                    changed.append(index)
            elif len(same) < unchanged:
                same.append(index)
        if len(changed) == k:
            kept += sorted(changed + same)
        else:
            dropped += 1
    return kept, dropped


def _answer_content(row: dict) -> str:
    return (row["ablated_continuation"] if row["is_different"] else row["original_continuation"]).strip()


def site_statistics(rows) -> dict:
    """What a split of a ``design: sites`` build holds, and the best that ignoring the vector can do on it.

    The text-only ceiling groups rows by question (what the explainer reads besides the vector): per question, the
    count of its most frequent answer content (changed rows) or answer (all rows).
    """
    sites: dict[tuple, list[dict]] = {}
    for row in rows:
        key = (row["original_text"], tuple(row["layers"]), row["patch_position"]["orig_pos"])
        sites.setdefault(key, []).append(row)
    changed_by_question: dict[str, Counter] = {}
    answers_by_question: dict[str, Counter] = {}
    for row in rows:
        answers_by_question.setdefault(row["question"], Counter())[row["answer"]] += 1
        if row["is_different"]:
            changed_by_question.setdefault(row["question"], Counter())[_answer_content(row)] += 1
    num_rows = sum(len(site) for site in sites.values())
    num_changed = sum(sum(c.values()) for c in changed_by_question.values())
    per_site = [len(site) for site in sites.values()]
    distinct = [len({_answer_content(r) for r in site if r["is_different"]}) for site in sites.values()]
    by_position = Counter(f"{site[0]['token_type']}@{site[0]['layer']}" for site in sites.values())

    def spread(values: list[int]) -> dict:
        return {"min": min(values), "mean": round(sum(values) / len(values), 3), "max": max(values)} if values else {}

    def ceiling(groups: dict[str, Counter], total: int) -> float | None:
        return round(sum(max(c.values()) for c in groups.values()) / total, 4) if total else None

    return {
        "rows": num_rows,
        "sites": len(sites),
        "changed_rows": num_changed,
        "fraction_changed": round(num_changed / num_rows, 4) if num_rows else None,
        "counterfactuals_per_site": spread(per_site),
        "distinct_changed_outputs_per_site": spread(distinct),
        "sites_by_position": dict(sorted(by_position.items())),
        "text_only_ceiling": {
            "changed_content_match": ceiling(changed_by_question, num_changed),
            "exact_match": ceiling(answers_by_question, num_rows),
        },
    }
