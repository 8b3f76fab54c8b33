import doctest

import pytest

from self_explain.tasks.ablation import options
from self_explain.tasks.ablation.options import parse_choice

CAPITALS = ["Rome", "Berlin", "Madrid", "Paris"]


def test_examples_in_the_docstrings():
    assert doctest.testmod(options).failed == 0


@pytest.mark.parametrize(
    "answer, choice, via",
    [
        ("D. Paris is the only remaining capital in the list", "Paris", "text"),  # the two rewordings:
        ("The answer is: D) Paris", "Paris", "text"),  # one choice, no change
        ("(B)", "Berlin", "letter"),
        ("Answer: C", "Madrid", "letter"),
        ("The correct answer is A.", "Rome", "letter"),
        ("C. Paris", "Paris", "text"),  # a mislabelled option: what is named is what was chosen
        ("A. Rome, not Berlin", "Rome", "letter"),  # several named: the letter decides
        ("It is madrid, I think; or Rome", "Madrid", "text"),  # several named, no letter: the earliest
        ("E. none of these", "E.", "unparsed"),  # a letter with no option behind it
        ("A city in Europe", "A", "unparsed"),  # the article A, not option A
        ("A German friend thinks the answer is D.", "A", "unparsed"),  # the hint repeated: no option named
        ("", "", "unparsed"),
    ],
)
def test_the_option_is_read_by_its_text_then_letter_then_unparsed(answer, choice, via):
    first = answer.split()[0] if answer else ""
    assert parse_choice(answer, CAPITALS, first) == options.ChoiceParse(choice, via)


def test_without_options_the_first_token_is_compared():
    assert parse_choice("Paris, of course", [], " Paris") == options.ChoiceParse("Paris", "first token")


def test_an_answer_that_names_no_option_is_not_a_choice():
    assert not parse_choice("I think the hint is right.", CAPITALS, "I").parsed
    assert parse_choice("Paris", CAPITALS, "Paris").parsed
    assert parse_choice("Paris, of course", [], "Paris").parsed  # no options: the first token is the choice
