import random

import pytest
import torch

from self_explain.realworld import fact_table_for, has_fact_table
from self_explain.tasks.patching.sources import fact_table_pairs


@pytest.fixture(scope="module")
def table():
    return fact_table_for("smollm2-135m")


def test_smollm2_ships_a_checked_table_of_at_least_150_facts(table):
    assert has_fact_table("smollm2-135m") and not has_fact_table("toy-target") and fact_table_for("org/x") is None
    assert len(table.facts) >= 150 and len(set(table.relations)) >= 5
    assert table.check["revision"].startswith("sha256:") and table.check["kept"] == len(table.facts)
    assert sum(fact.single_token for fact in table.facts) >= 150
    assert all(fact.answer.split()[0].lower() == fact.answer_word.lower() for fact in table.facts)
    assert set(table.ood_relations) <= set(table.relations)


def test_a_seeded_quarter_of_the_subjects_is_held_out(table):
    held_out = table.held_out_entities(0)
    assert held_out == table.held_out_entities(0) and held_out != table.held_out_entities(1)
    assert abs(len(held_out) - len(table.subjects) / 4) <= 1


def test_pairs_keep_held_out_subjects_together_and_are_drawn_once(table):
    held_out = table.held_out_entities(0)
    pairs = fact_table_pairs(table, 300, seed=0, held_out=held_out, same_value_share=0.3)
    assert len(pairs) == 300 and len({(p.text, p.counterfactual) for p in pairs}) == 300
    assert all((p.entity in held_out) == (p.counterfactual_entity in held_out) for p in pairs)
    assert all((p.split == "ood") == (p.relation in table.ood_relations) for p in pairs)
    same = sum(p.original_target == p.counterfactual_target for p in pairs)
    assert 0.15 < same / len(pairs) < 0.45  # 30 % asked for; relations without a same-answer pair give none
    words = {(fact.prompt, fact.answer_word) for fact in table.facts}
    assert all(
        (p.text, p.original_target) in words and (p.counterfactual, p.counterfactual_target) in words for p in pairs
    )
    assert fact_table_pairs(table, 300, seed=0, held_out=held_out, same_value_share=0.3) == pairs


@pytest.mark.slow
def test_the_table_holds_what_the_model_says_greedily(smollm2, table):
    from self_explain.core.words import WordReader

    reader = WordReader(smollm2.model, smollm2.tokenizer)
    for fact in random.Random(0).sample(table.facts, 12):
        ids = smollm2.tokenizer(fact.prompt).input_ids
        with torch.no_grad():
            top = int(smollm2.model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
        assert smollm2.tokenizer.decode([top]) == fact.answer_token and reader.word(ids, top) == fact.answer_word
