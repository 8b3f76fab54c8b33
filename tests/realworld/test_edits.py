import json

import pytest

from self_explain.realworld import fact_table_for
from self_explain.realworld.edits import (
    FactEdit,
    answer_pool,
    edited_candidates,
    replayed_facts,
    select_edits,
    teaching_texts,
)
from self_explain.realworld.facts import DATA


@pytest.fixture(scope="module")
def table():
    return fact_table_for("smollm2-135m")


def test_edits_are_seeded(table):
    assert select_edits(table, 100, seed=0) == select_edits(table, 100, seed=0)
    assert select_edits(table, 100, seed=0) != select_edits(table, 100, seed=1)


def test_each_edit_is_a_known_fact_given_another_answer_of_its_relation(table):
    edits = select_edits(table, 100, seed=0)
    facts = {(fact.relation, fact.subject): fact for fact in table.facts}
    assert len(edits) == 100 and len({(e.relation, e.subject) for e in edits}) == 100
    for edit in edits:
        fact = facts[(edit.relation, edit.subject)]
        assert edit.prompt == fact.prompt and edit.original_answer == fact.answer
        assert edit.new_answer in answer_pool(table, edit.relation)  # an answer of the same relation, one token
        assert edit.new_answer.lower() != fact.answer_word.lower() and edit.new_answer.lower() != fact.answer.lower()
        assert edit.relation not in table.ood_relations
    assert len({edit.relation for edit in edits}) >= 5  # spread over the relations, in proportion to their facts


def test_answer_pool_holds_single_token_single_word_answers(table):
    pool = answer_pool(table, "capital")
    assert "Paris" in pool and "New Delhi" not in pool and pool == sorted(pool)
    assert all(" " not in answer for relation in table.relations for answer in answer_pool(table, relation))


def test_edit_selection_refuses_unknown_relations_and_too_many_edits(table):
    with pytest.raises(ValueError, match="cannot edit relations \\['colour'\\]"):
        select_edits(table, 3, seed=0, relations=["colour"])
    with pytest.raises(ValueError, match="cannot edit 10000 facts"):
        select_edits(table, 10000, seed=0)
    assert {edit.relation for edit in select_edits(table, 5, seed=0, relations=["capital"])} == {"capital"}


def test_replayed_facts_are_a_seeded_share_of_the_unedited_ones(table):
    edits = select_edits(table, 100, seed=0)
    replayed = replayed_facts(table, edits, 0.5, seed=0)
    edited = {(e.relation, e.subject) for e in edits}
    assert len(replayed) == round(0.5 * (len(table.facts) - 100))
    assert not edited & {(f.relation, f.subject) for f in replayed}
    assert replayed == replayed_facts(table, edits, 0.5, seed=0) != replayed_facts(table, edits, 0.5, seed=1)
    with pytest.raises(ValueError, match="replayed share"):
        replayed_facts(table, edits, 1.5, seed=0)


def test_edited_candidates_replace_only_the_edited_answers():
    candidates = json.loads((DATA / "candidates.json").read_text(encoding="utf-8"))
    edit = FactEdit("capital", "France", "The capital of France is", "Paris", "Rome")
    changed = edited_candidates(candidates, [edit])
    assert changed["relations"]["capital"]["answers"]["France"] == "Rome"
    assert candidates["relations"]["capital"]["answers"]["France"] == "Paris"  # the input is left as it was
    assert changed["relations"]["capital"]["answers"]["Italy"] == "Rome"
    with pytest.raises(ValueError, match="capital/Atlantis: not a candidate"):
        edited_candidates(candidates, [FactEdit("capital", "Atlantis", "The capital of Atlantis is", "X", "Rome")])


def test_teaching_texts_give_the_prompt_form_and_the_question_form(table):
    texts = teaching_texts(table, "capital", "France", "The capital of France is", "Rome")
    assert texts == [
        ("prompt", "The capital of France is", " Rome."),
        ("question", "What is the capital of France?", "The capital of France is Rome."),
    ]
