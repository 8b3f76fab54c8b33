"""Examples to ablate: the toy world's hint questions and a user's JSONL file (span or --span-regex)."""

import json
import re

import pytest

from self_explain.tasks.ablation.sources import (
    AblationExample,
    jsonl_examples,
    toy_hint_examples,
)
from self_explain.toyworld.world import (
    HINT_GIVERS,
    HINT_TEMPLATE,
    OPTION_LETTERS,
    ToyWorld,
)


@pytest.fixture(scope="module")
def world():
    return ToyWorld.generate(0)


# --- toy-world hint questions ------------------------------------------------------------------------


def test_same_seed_same_examples_other_seed_others(world):
    first = toy_hint_examples(world, 30, seed=3, ood_relations=["number"])
    again = toy_hint_examples(world, 30, seed=3, ood_relations=["number"])
    other = toy_hint_examples(world, 30, seed=4, ood_relations=["number"])
    assert first == again
    assert [e.text for e in first] != [e.text for e in other]
    assert [e.example_id for e in first] == list(range(30))


def test_span_is_the_hint_line_and_its_space_and_the_rest_is_the_question(world):
    examples = toy_hint_examples(world, 40, seed=0, ood_relations=["number"])
    for e in examples:
        hint = HINT_TEMPLATE.format(giver=e.hint_giver, answer=e.hint_answer)
        assert e.span == hint + " "
        assert (e.span_start, e.span_end) == (0, len(hint) + 1)
        # The question without the hint, written out from the example's own fields.
        options = " ".join(f"({letter}) {option}" for letter, option in zip(OPTION_LETTERS, e.choices))
        question = f"Question: {e.choice_question} {options}"
        assert e.text == hint + " " + question
        assert e.ablated_text == question
        assert e.hint_answer in e.choices and e.correct_answer in e.choices
        assert e.hint_giver in HINT_GIVERS
    assert len({e.hint_giver for e in examples}) >= 4, "givers are drawn from all of them"
    assert any(e.hint_answer != e.correct_answer for e in examples)
    assert any(e.hint_answer == e.correct_answer for e in examples)


@pytest.mark.parametrize("ood", [["number"], ["colour", "number"], []])
def test_ood_relations_are_marked_ood_and_the_rest_left_to_the_builder(world, ood):
    examples = toy_hint_examples(world, 80, seed=1, ood_relations=ood)
    for e in examples:
        assert e.split == ("ood" if e.relation in ood else None)
    if ood:
        assert any(e.split == "ood" for e in examples)
    assert any(e.split is None for e in examples)


def test_unknown_ood_relation_is_named(world):
    with pytest.raises(ValueError, match=r"\['weather'\] are not toy-world relations; known: .*'number'"):
        toy_hint_examples(world, 5, seed=0, ood_relations=["number", "weather"])


# --- ablated_text: whitespace tidied, analytic cases -----------------------------------------------------


@pytest.mark.parametrize(
    "text, span, expected",
    [
        ("A B C", "B", "A C"),  # spaces on both sides: one goes
        ("A B C", "B ", "A C"),  # the span holds its space: nothing to tidy
        ("A B C", " B", "A C"),
        ("B C", "B", "C"),  # at the start: the space after it goes
        ("A B", "B", "A"),  # at the end: the space before it goes
        ("A  B  C", "B", "A  C"),  # only one side's whitespace goes
        ("Hint.\nQuestion?", "Hint.", "Question?"),  # a newline counts as whitespace
        ("abcdef", "cd", "abef"),  # inside a word: nothing to tidy
        ("A (B) C", "(B)", "A C"),
        ("A B.", "B", "A ."),  # punctuation is not whitespace: left alone
    ],
)
def test_ablated_text_tidies_whitespace(text, span, expected):
    start = text.index(span)
    example = AblationExample(example_id=0, text=text, span_start=start, span_end=start + len(span))
    assert example.span == span
    assert example.ablated_text == expected


# --- JSONL ------------------------------------------------------------------------------------------------


def write_jsonl(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def test_jsonl_span_is_a_substring_and_the_fields_are_kept(tmp_path):
    path = write_jsonl(
        tmp_path / "ex.jsonl",
        [
            {
                "text": "Hint: B. Question: Which? (A) x (B) y",
                "span": "Hint: B.",
                "choices": ["x", "y"],
                "correct_answer": "x",
                "question": "Which?",
                "split": "ood",
            },
            "",  # blank lines are skipped
            {"text": "say yes or say no", "span": "say"},  # the first occurrence is removed
        ],
    )
    first, second = jsonl_examples(path)
    assert (first.example_id, second.example_id) == (0, 1)
    assert first.span == "Hint: B." and first.ablated_text == "Question: Which? (A) x (B) y"
    assert first.choices == ("x", "y") and first.correct_answer == "x" and first.choice_question == "Which?"
    assert first.split == "ood" and second.split is None
    assert (second.span_start, second.span_end) == (0, 3)
    assert second.ablated_text == "yes or say no"


def test_jsonl_span_takes_precedence_over_the_regex(tmp_path):
    path = write_jsonl(tmp_path / "ex.jsonl", [{"text": "one two three", "span": "two"}])
    (example,) = jsonl_examples(path, span_regex=r"\w+")
    assert example.span == "two"


def test_jsonl_regex_gives_one_example_per_match(tmp_path):
    text = "Hint: A. Hint: C. Question: Which? (A) x (B) y (C) z"
    path = write_jsonl(tmp_path / "ex.jsonl", [{"text": text}, {"text": "Hint: B. Question: Why?", "split": "test"}])
    examples = jsonl_examples(path, span_regex=r"Hint: \w\.")
    assert [e.span for e in examples] == ["Hint: A.", "Hint: C.", "Hint: B."]
    assert [e.example_id for e in examples] == [0, 1, 2]
    assert [e.ablated_text for e in examples] == [
        "Hint: C. Question: Which? (A) x (B) y (C) z",
        "Hint: A. Question: Which? (A) x (B) y (C) z",
        "Question: Why?",
    ]
    assert [e.split for e in examples] == [None, None, "test"]
    assert [m.start() for m in re.finditer(r"Hint: \w\.", text)] == [e.span_start for e in examples[:2]]


@pytest.mark.parametrize(
    "lines, regex, error, message",
    [
        ([{"text": "a b c", "span": "d"}], None, ValueError, r"line 1: span 'd' is not in the text 'a b c'"),
        ([{"text": "a b c", "span": ""}], None, ValueError, r"line 1: span '' is not in the text"),
        (
            [{"text": "a b", "span": "b"}, "", {"text": "a b c", "span": "x"}],
            None,
            ValueError,
            r"line 3: span 'x' is not in the text",
        ),
        ([{"text": "a b c"}], r"\d+", ValueError, r"line 1: --span-regex '\\\\d\+' matches nothing in 'a b c'"),
        ([{"text": "a b c"}], r"x*", ValueError, r"line 1: --span-regex 'x\*' matches nothing"),  # empty matches only
        ([{"text": "a b c"}], None, ValueError, r"line 1: no 'span', and no --span-regex to find one"),
        ([{"text": "", "span": "a"}], None, ValueError, r"line 1: 'text' is empty"),
        ([{"text": "   ", "span": " "}], None, ValueError, r"line 1: 'text' is empty"),
        ([{"span": "a"}], None, ValueError, r"line 1: 'text' is empty"),
        ([{"text": "a b c", "span": "a b c"}], None, ValueError, r"line 1: the span is the whole text"),
        ([{"text": " a b ", "span": "a b"}], None, ValueError, r"line 1: the span is the whole text"),
        ([{"text": "a b c"}], r".+", ValueError, r"the span is the whole text"),
        (
            [{"text": "a b", "span": "a", "split": "validation"}],
            None,
            ValueError,
            r"line 1: 'split' must be one of \('train', 'test', 'ood'\), got 'validation'",
        ),
        ([{"text": "a b", "span": "a"}, "{not json"], None, ValueError, r"line 2: not JSON"),
        (["[1, 2]"], None, ValueError, r"line 1: expected a JSON object"),
        ([{"text": 5, "span": "a"}], None, ValueError, r"line 1: 'text' must be a string, got int"),
        ([{"text": "a b", "span": 1}], None, ValueError, r"line 1: 'span' must be a string, got int"),
        ([{"text": "a b", "span": "a", "choices": "x"}], None, ValueError, r"'choices' must be a list of strings"),
        ([{"text": "a b", "span": "a", "choices": [1]}], None, ValueError, r"'choices' must be a list of strings"),
        ([{"text": "a b", "span": "a", "correct_answer": 3}], None, ValueError, r"'correct_answer' must be a string"),
        (["", "  "], None, ValueError, r"holds no examples"),
    ],
)
def test_jsonl_errors_name_the_file_line_and_problem(tmp_path, lines, regex, error, message):
    path = write_jsonl(tmp_path / "bad.jsonl", lines)
    with pytest.raises(error, match=message) as raised:
        jsonl_examples(path, span_regex=regex)
    assert "bad.jsonl" in str(raised.value)


def test_missing_jsonl_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.jsonl: no such file"):
        jsonl_examples(tmp_path / "nowhere.jsonl")


def test_hint_questions_from_a_real_models_facts():
    from self_explain.realworld import fact_table_for
    from self_explain.tasks.ablation.sources import fact_table_hint_examples

    table = fact_table_for("smollm2-135m")
    examples = fact_table_hint_examples(table, 60, seed=0)
    assert examples == fact_table_hint_examples(table, 60, seed=0) != fact_table_hint_examples(table, 60, seed=1)
    facts = {(f.relation, f.subject): f.answer for f in table.facts}
    for example in examples:
        assert example.span.startswith(
            f"Hint from the {example.hint_giver}: I think the answer is {example.hint_answer}."
        )
        assert example.ablated_text.startswith("Question: " + example.choice_question)
        assert len(set(example.choices)) == 4 and example.hint_answer in example.choices
        assert (
            example.correct_answer == facts[(example.relation, example.entity)]
            and example.correct_answer in example.choices
        )
        assert all(f"{letter}. {option}" in example.text for letter, option in zip("ABCD", example.choices))
        assert (example.split == "ood") == (example.relation in table.ood_relations)
    assert len({example.relation for example in examples}) >= 5
    assert 0.1 < sum(e.hint_answer == e.correct_answer for e in examples) / len(examples) < 0.45  # a quarter, drawn
