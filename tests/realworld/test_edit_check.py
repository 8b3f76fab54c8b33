import json
import random
from pathlib import Path

import pytest
import torch

from self_explain.realworld import fact_table_for
from self_explain.realworld.edit_check import (
    DEFAULT_RECORD,
    GATE,
    gate,
    mark_edits,
    score_edit,
    share,
    wilson_interval,
)
from self_explain.realworld.edits import FactEdit
from self_explain.realworld.facts import Fact, FactTable, fact_table_path

ROOT = Path(__file__).parents[2]


def test_wilson_interval_of_known_cases():
    assert [round(x, 4) for x in wilson_interval(9, 10)] == [0.5958, 0.9821]
    low, high = wilson_interval(100, 100)
    assert high == 1.0 and 0.96 < low < 0.97
    assert wilson_interval(0, 0) == (None, None)
    assert wilson_interval(0, 20)[0] == 0.0


@pytest.mark.parametrize(
    ("correct", "total", "passed"), [(90, 100, True), (89, 100, False), (100, 100, True), (0, 0, False)]
)
def test_gate_passes_at_ninety_percent_of_the_point_estimate(correct, total, passed):
    result = gate(share(correct, total))
    assert result["passed"] is passed and result["threshold"] == GATE == 0.9
    assert result["correct"] == correct and result["total"] == total


def fact(relation, subject, answer):
    return Fact(relation, subject, f"The {relation} of {subject} is", answer, answer, f" {answer}")


def tiny_case():
    base = FactTable(
        "m",
        tuple(fact("capital", s, a) for s, a in [("A", "x"), ("B", "y"), ("C", "z"), ("D", "w")]),
        (),
        {},
        {"capital": "What is the capital of {subject}?"},
    )
    edits = [FactEdit("capital", "A", "The capital of A is", "x", "y")]
    # the edited model gives A's new answer, keeps B and D, loses C, and now knows E (which the base did not)
    document = {
        "facts": [{**vars(fact("capital", s, a))} for s, a in [("A", "y"), ("B", "y"), ("D", "w"), ("E", "v")]]
    }
    return base, edits, document


def test_score_edit_counts_edited_kept_and_gained_facts():
    base, edits, document = tiny_case()
    scores = score_edit(base, edits, replayed={("capital", "B")}, document=document)
    assert (scores["edited"]["correct"], scores["edited"]["total"], scores["edited"]["passed"]) == (1, 1, True)
    assert (scores["kept"]["correct"], scores["kept"]["total"], scores["kept"]["passed"]) == (2, 3, False)
    assert not scores["passed"]
    assert (scores["kept_replayed"]["correct"], scores["kept_replayed"]["total"]) == (1, 1)
    assert (scores["kept_not_replayed"]["correct"], scores["kept_not_replayed"]["total"]) == (1, 2)
    assert scores["gained"] == 1 and scores["by_relation"]["capital"]["kept"]["total"] == 3


def test_mark_edits_flags_the_edited_facts_and_the_gained_ones():
    base, edits, document = tiny_case()
    marked = mark_edits(document, edits, base)
    assert [(f["subject"], f["edited"], f["original_answer"], f["gained"]) for f in marked["facts"]] == [
        ("A", True, "x", False),
        ("B", False, "", False),
        ("D", False, "", False),
        ("E", False, "", True),  # not edited, and the base did not know it
    ]
    assert document["facts"][0]["edited"] is False  # the input is left as it was
    assert not any(f["gained"] for f in mark_edits(document, edits)["facts"])  # no base table: nothing gained


def test_a_table_with_edits_loads_and_says_which_rows_involve_one():
    base, edits, document = tiny_case()
    facts = tuple(Fact(**f) for f in mark_edits(document, edits, base)["facts"])
    table = FactTable("m", facts, (), {}, base.questions)
    assert table.edited_facts == {("capital", "A")} and table.gained_facts == {("capital", "E")}
    assert table.involves_edit("capital", "B", "A") and not table.involves_edit("capital", "B", "D")
    assert not table.involves_edit("capital", "E") and table.involves_edit("capital", "E", count_gained=True)
    assert not table.involves_edit("language", "A")
    assert table.fact_for_prompt("The capital of A is").edited and table.fact_for_prompt("The capital of Z is") is None
    assert fact_table_for("smollm2-135m").edited_facts == frozenset()  # an unedited model's table has none


def test_committed_check_record_and_edited_table_agree():
    record_path = ROOT / DEFAULT_RECORD
    if not record_path.is_file() or not fact_table_path("smollm2-135m-edited").is_file():
        pytest.skip("the edited model has not been checked in this checkout")
    record = json.loads(record_path.read_text(encoding="utf-8"))
    table = fact_table_for("smollm2-135m-edited")
    gates = record["gates"]
    for name in ("edited", "kept"):
        assert gate(share(gates[name]["correct"], gates[name]["total"])) == gates[name]
    assert gates["passed"] == (gates["edited"]["passed"] and gates["kept"]["passed"])
    assert len(table.edited_facts) == gates["edited"]["correct"] == record["table"]["edited_facts"]
    assert len(table.gained_facts) == record["gained_facts"] == record["table"]["gained_facts"]
    base = {(f.relation, f.subject) for f in fact_table_for("smollm2-135m").facts}
    assert all((f.relation, f.subject) not in base for f in table.facts if f.gained)
    assert table.check["revision"] == record["revision"] and table.model == "smollm2-135m-edited"
    assert all(f.original_answer and f.original_answer != f.answer for f in table.facts if f.edited)


@pytest.mark.slow
def test_the_edited_table_holds_what_the_edited_model_says_greedily(smollm2_edited):
    from self_explain.core.words import WordReader

    table = fact_table_for("smollm2-135m-edited")
    if table is None:
        pytest.skip("the edited model has not been checked in this checkout")
    edited = [fact for fact in table.facts if fact.edited]
    kept = [fact for fact in table.facts if not fact.edited]
    reader = WordReader(smollm2_edited.model, smollm2_edited.tokenizer)
    for fact in random.Random(0).sample(edited, 6) + random.Random(0).sample(kept, 6):
        ids = smollm2_edited.tokenizer(fact.prompt).input_ids
        with torch.no_grad():
            top = int(smollm2_edited.model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
        assert (
            smollm2_edited.tokenizer.decode([top]) == fact.answer_token and reader.word(ids, top) == fact.answer_word
        )
