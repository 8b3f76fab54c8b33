import doctest
import re
import socket
import sys
from pathlib import Path

import evaluate
import pytest

from self_explain.metrics import METRICS, metric_path
from self_explain.tasks import causal_answers as templates
from self_explain.tasks.causal_answers import (
    CausalAnswer,
    causal_answer,
    parse_causal_answer,
)

CHANGED = "The most likely output would change to <<<{}>>>."
UNCHANGED = "The output would remain unchanged from <<<{}>>>."
OVERALL_KEYS = ("exact_match", "content_match", "has_changed_f1", "has_changed_macro_f1", "valid_rate")
STRATIFIED_KEYS = (
    "changed_exact_match",
    "changed_content_match",
    "changed_valid_rate",
    "unchanged_exact_match",
    "unchanged_content_match",
    "unchanged_valid_rate",
    "has_unchanged_f1",
    "has_changed_precision",
    "has_changed_recall",
    "has_unchanged_precision",
    "has_unchanged_recall",
)


@pytest.fixture
def causal_match():
    return evaluate.load(metric_path("causal_match"), keep_in_memory=True)


def run_doctests(text: str, globs: dict, name: str) -> doctest.TestResults:
    test = doctest.DocTestParser().get_doctest(text, dict(globs), name, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    return runner.summarize(verbose=False)


# --- the evaluate module ------------------------------------------------------------------------------------------


def test_kwargs_description_examples_run(causal_match):
    module = sys.modules[type(causal_match).__module__]
    results = run_doctests(module._KWARGS_DESCRIPTION, vars(module), "causal_match._KWARGS_DESCRIPTION")
    assert results.attempted > 0
    assert results.failed == 0
    assert module._KWARGS_DESCRIPTION in type(causal_match).__doc__


def test_metric_card_examples_run():
    card = (Path(metric_path("causal_match")) / "README.md").read_text()
    assert card.startswith("---\ntitle: Causal Match\n")
    code = "\n\n".join(re.findall(r"```python\n(.*?)```", card, flags=re.DOTALL))
    results = run_doctests(code, {}, "causal_match/README.md")
    assert results.attempted > 0
    assert results.failed == 0


def test_parser_docstring_examples_run():
    results = doctest.testmod(templates)
    assert results.attempted > 0
    assert results.failed == 0


def test_normalize_answer_examples_run(causal_match):
    module = sys.modules[type(causal_match).__module__]
    test = doctest.DocTestFinder().find(module.normalize_answer, "normalize_answer", globs=vars(module))[0]
    runner = doctest.DocTestRunner()
    runner.run(test)
    assert runner.summarize(verbose=False) == doctest.TestResults(0, 1)


def test_metric_uses_the_package_parser(causal_match):
    module = sys.modules[type(causal_match).__module__]
    assert module.parse_causal_answer is parse_causal_answer


def test_loads_and_computes_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)

    def no_network(*args, **kwargs):
        raise OSError("network access in an offline test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    metric = evaluate.load(metric_path("causal_match"), keep_in_memory=True)
    refs = [CHANGED.format("Rome")]
    results = metric.compute(predictions=refs, references=refs)
    assert {name: results[name] for name in OVERALL_KEYS} == dict.fromkeys(OVERALL_KEYS, 1.0)
    # one "changed" row: its stratum is perfect, the "unchanged" stratum has no row (not estimable)
    assert [results[f"changed_{key}"] for key in ("exact_match", "content_match", "valid_rate")] == [1.0] * 3
    assert [results[f"unchanged_{key}"] for key in ("exact_match", "content_match", "valid_rate")] == [None] * 3
    assert results["has_unchanged_f1"] == 0.0  # valid answers exist, with no true positive of "unchanged"
    assert results["has_unchanged_precision"] is None and results["has_unchanged_recall"] is None


def test_loads_from_the_script_path_too():
    metric = evaluate.load(str(Path(metric_path("causal_match")) / "causal_match.py"), keep_in_memory=True)
    assert metric.name == "causal_match"
    assert set(metric.features) == {"predictions", "references"}


# --- hand-computed scores -----------------------------------------------------------------------------------------


def test_six_items_by_hand(causal_match):
    references = [
        CHANGED.format("Rome"),  # 1  C
        UNCHANGED.format("Paris"),  # 2  U
        CHANGED.format("Oslo"),  # 3  C
        UNCHANGED.format("Lima"),  # 4  U
        CHANGED.format("Kyiv"),  # 5  C
        UNCHANGED.format("Bern"),  # 6  U
    ]
    predictions = [
        "THE MOST LIKELY OUTPUT WOULD CHANGE TO <<<ROME>>>.",  # 1 case only: exact, content; pred C
        "  The output would remain \n  unchanged from <<<Paris>>>.. ",  # 2 whitespace, "..": exact, content; pred U
        UNCHANGED.format("Oslo"),  # 3 wrong verdict, right content: content only; pred U
        "I think it stays the same.",  # 4 invalid: nothing; left out of has_changed_f1
        CHANGED.format("Kiev"),  # 5 right verdict, wrong content: nothing; pred C
        CHANGED.format("Bern") + " ",  # 6 wrong verdict, right content, trailing space: content only; pred C
    ]
    # Normalised (whitespace runs -> " ", strip, lower, strip "."), item 2 reads
    # "the output would remain unchanged from <<<paris>>>", equal to its normalised reference; item 1 equals its own.
    # valid: items 1, 2, 3, 5, 6 (item 4 has no <<<>>>)                     -> valid_rate    = 5/6
    # exact: items 1, 2                                                       -> exact_match   = 2/6 = 1/3
    # content (lowercased, any verdict): items 1 rome, 2 paris, 3 oslo, 6 bern -> content_match = 4/6 = 2/3
    # has_changed_f1 over the valid items 1, 2, 3, 5, 6 (labels C U C C U, predicted C U U C C):
    #   tp = items 1, 5 = 2; fp = item 6 = 1; fn = item 3 = 1 -> 2*2 / (2*2 + 1 + 1) = 4/6 = 2/3
    # has_changed_macro_f1 over all six (labels C U C U C U; predicted C U U C C C, item 4 invalid -> wrong class C):
    #   changed:   tp = 1, 5 (2); fp = 4, 6 (2); fn = 3 (1) -> 4 / (4 + 2 + 1) = 4/7
    #   unchanged: tp = 2 (1);    fp = 3 (1);    fn = 4, 6 (2) -> 2 / (2 + 1 + 2) = 2/5
    #   mean (4/7 + 2/5) / 2 = 17/35
    results = causal_match.compute(predictions=predictions, references=references)
    assert results["valid_rate"] == pytest.approx(5 / 6)
    assert results["exact_match"] == pytest.approx(1 / 3)
    assert results["content_match"] == pytest.approx(2 / 3)
    assert results["has_changed_f1"] == pytest.approx(2 / 3)
    assert results["has_changed_macro_f1"] == pytest.approx(17 / 35)
    # Stratified by the reference's class, each over its own three rows:
    #   changed rows 1, 3, 5: exact 1 (1/3); content 1, 3 (2/3); valid 1, 3, 5 (1)
    #   unchanged rows 2, 4, 6: exact 2 (1/3); content 2, 6 (2/3); valid 2, 6 (2/3)
    assert results["changed_exact_match"] == pytest.approx(1 / 3)
    assert results["changed_content_match"] == pytest.approx(2 / 3)
    assert results["changed_valid_rate"] == 1.0
    assert results["unchanged_exact_match"] == pytest.approx(1 / 3)
    assert results["unchanged_content_match"] == pytest.approx(2 / 3)
    assert results["unchanged_valid_rate"] == pytest.approx(2 / 3)
    # Over the valid items (label, said): 1 CC, 2 UU, 3 CU, 5 CC, 6 UC
    #   changed:   tp 1, 5; fp 6; fn 3 -> precision 2/3, recall 2/3
    #   unchanged: tp 2; fp 3; fn 6 -> precision 1/2, recall 1/2, F1 2 / (2 + 1 + 1) = 1/2
    assert results["has_changed_precision"] == pytest.approx(2 / 3)
    assert results["has_changed_recall"] == pytest.approx(2 / 3)
    assert results["has_unchanged_precision"] == pytest.approx(1 / 2)
    assert results["has_unchanged_recall"] == pytest.approx(1 / 2)
    assert results["has_unchanged_f1"] == pytest.approx(1 / 2)
    assert list(results) == [*OVERALL_KEYS, *STRATIFIED_KEYS]
    assert all(type(value) is float for value in results.values())


def test_four_rows_by_hand(causal_match):
    references = [CHANGED.format("Rome"), CHANGED.format("Oslo"), UNCHANGED.format("Paris"), UNCHANGED.format("Lima")]
    predictions = [
        CHANGED.format("Rome"),  # exact
        UNCHANGED.format("Oslo"),  # right content, wrong verdict
        "  " + UNCHANGED.format("Paris") + "\n",  # exact after strip
        UNCHANGED.format("lima"),  # right verdict, content differs in case: exact once lowercased
    ]
    results = causal_match.compute(predictions=predictions, references=references)
    # all valid; labels C C U U, predicted C U U U
    # has_changed_f1: tp = 1, fp = 0, fn = 1 -> 2 / (2 + 0 + 1) = 2/3
    assert results["has_changed_f1"] == pytest.approx(2 / 3)
    # macro: F1(C) = 2*1/(2*1+0+1) = 2/3, F1(U) = 2*2/(2*2+1+0) = 4/5
    assert results["has_changed_macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert results["exact_match"] == 0.75
    assert results["content_match"] == 1.0
    assert results["valid_rate"] == 1.0
    assert all(type(value) is float for value in results.values())


def test_invalid_prediction_left_out_of_f1_and_wrong_class_in_macro_f1(causal_match):
    references = [CHANGED.format("Rome"), UNCHANGED.format("Paris"), UNCHANGED.format("Lima")]
    predictions = [CHANGED.format("Rome"), "I don't know", "unchanged, still Lima"]
    results = causal_match.compute(predictions=predictions, references=references)
    # valid: item 1 only, a true positive -> has_changed_f1 = 2 / (2 + 0 + 0) = 1
    assert results["has_changed_f1"] == 1.0
    # macro: labels C U U, predicted C C C: F1(C) = 2/(2+2+0) = 1/2, F1(U) = 0
    assert results["has_changed_macro_f1"] == pytest.approx(0.25)
    assert results["valid_rate"] == pytest.approx(1 / 3)
    assert results["exact_match"] == pytest.approx(1 / 3)
    assert results["content_match"] == pytest.approx(1 / 3)


def test_no_valid_prediction_makes_has_changed_f1_not_estimable(causal_match):
    references = [CHANGED.format("Rome"), UNCHANGED.format("Paris")]
    results = causal_match.compute(
        predictions=["I don't know", "It would change, I think: <<<Rome>>>"], references=references
    )
    assert {name: results[name] for name in OVERALL_KEYS} == {
        "exact_match": 0.0,
        "content_match": 0.0,
        "has_changed_f1": None,
        "has_changed_macro_f1": 0.0,
        "valid_rate": 0.0,
    }
    # both strata have a row, with nothing valid in either; every valid-answer statistic is not estimable
    assert results["changed_valid_rate"] == 0.0 and results["unchanged_exact_match"] == 0.0
    assert all(
        results[f"has_{cls}_{key}"] is None
        for cls in ("changed", "unchanged")
        for key in ("f1", "precision", "recall")
    )


def test_no_true_positive_gives_zero_f1(causal_match):
    references = [UNCHANGED.format("a"), UNCHANGED.format("b")]
    # valid, all right, but no "changed" anywhere: tp = fp = fn = 0 -> 0 (not 0/0)
    assert causal_match.compute(predictions=references, references=references)["has_changed_f1"] == 0.0


def test_class_absent_from_both_sides_is_left_out_of_macro_f1(causal_match):
    references = [UNCHANGED.format("a"), UNCHANGED.format("b")]
    results = causal_match.compute(predictions=references, references=references)
    assert results["has_changed_macro_f1"] == 1.0  # only "unchanged" is present: not (1 + 0) / 2
    # an invalid prediction brings in "changed": F1(U) = 2/(2+0+1) = 2/3, F1(C) = 0
    results = causal_match.compute(predictions=[UNCHANGED.format("a"), "junk"], references=references)
    assert results["has_changed_macro_f1"] == pytest.approx(1 / 3)


def test_always_unchanged_on_a_balanced_set(causal_match):
    references = [CHANGED.format("x"), UNCHANGED.format("y")] * 3
    predictions = [UNCHANGED.format("y")] * 6
    results = causal_match.compute(predictions=predictions, references=references)
    assert results["has_changed_f1"] == 0.0  # no true positive
    assert results["has_changed_macro_f1"] == pytest.approx(1 / 3)  # F1(U) = 2/3, F1(C) = 0


def test_always_changed_scores_2p_over_1_plus_p(causal_match):
    references = [CHANGED.format("x")] + [UNCHANGED.format("y")] * 3  # p = 1/4
    predictions = [CHANGED.format("x")] * 4
    # tp = 1, fp = 3, fn = 0 -> 2 / (2 + 3) = 2/5 = 2p / (1 + p)
    assert causal_match.compute(predictions=predictions, references=references)["has_changed_f1"] == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("prediction", "content_match", "exact_match"),
    [
        ("The most likely output would change to <<< Rome >>>. Sure.", 1.0, 0.0),  # stripped, other wording
        ("the most likely output WOULD CHANGE TO <<<Rome>>>", 1.0, 1.0),  # case and final period do not count
        ("The most likely output would change to <<<rome>>>.", 1.0, 1.0),  # content compared lowercased
        ("The  most likely\toutput would change to <<<Rome>>>...", 1.0, 1.0),  # whitespace runs, periods
        ("The output would remain unchanged from <<<Rome>>>.", 1.0, 0.0),  # same content, wrong verdict
        ("The most likely output would change to <<<Roma>>>.", 0.0, 0.0),
        ("The most likely output would change to Rome.", 0.0, 0.0),  # no brackets: invalid
        ("It would change, I think: <<<Rome>>>", 0.0, 0.0),  # no "change to": invalid
    ],
)
def test_content_and_exact_match(causal_match, prediction, content_match, exact_match):
    results = causal_match.compute(predictions=[prediction], references=[CHANGED.format("Rome")])
    assert results["content_match"] == content_match
    assert results["exact_match"] == exact_match


def test_reference_read_case_insensitively(causal_match):
    references = ["THE MOST LIKELY OUTPUT WOULD CHANGE TO <<<ROME>>>"]
    results = causal_match.compute(predictions=[CHANGED.format("rome")], references=references)
    assert results["exact_match"] == 1.0 and results["has_changed_f1"] == 1.0


# --- bad inputs ---------------------------------------------------------------------------------------------------


def test_unparseable_reference_is_named(causal_match):
    with pytest.raises(ValueError, match=r"Reference 1 .*'Rome'"):
        causal_match.compute(predictions=["a", "b"], references=[CHANGED.format("Rome"), "Rome"])


def test_length_mismatch(causal_match):
    with pytest.raises(ValueError, match="number of predictions"):
        causal_match.compute(predictions=[CHANGED.format("Rome")], references=[CHANGED.format("Rome")] * 2)


def test_empty_inputs(causal_match):
    with pytest.raises(ValueError, match="at least one"):
        causal_match.compute(predictions=[], references=[])


@pytest.mark.parametrize(
    ("predictions", "references", "message"),
    [
        ([CHANGED.format("Rome")], None, r"causal_match: references is missing \(None\); give a list"),
        (None, [CHANGED.format("Rome")], r"causal_match: predictions is missing \(None\)"),
        (CHANGED.format("Rome"), [CHANGED.format("Rome")], r"causal_match: predictions must be a list .*, got str"),
    ],
)
def test_missing_or_unlisted_inputs_are_named(causal_match, predictions, references, message):
    with pytest.raises(ValueError, match=message):
        causal_match.compute(predictions=predictions, references=references)


def test_compute_without_evaluate_checks_length(causal_match):
    with pytest.raises(ValueError, match="1 predictions but 2 references"):
        causal_match._compute(predictions=["x"], references=[CHANGED.format("a")] * 2)


# --- metric_path --------------------------------------------------------------------------------------------------


def test_metric_path_points_at_the_module_folder():
    assert "causal_match" in METRICS
    folder = Path(metric_path("causal_match"))
    assert (folder / "causal_match.py").is_file()
    assert (folder / "README.md").is_file()


def test_metric_path_unknown_name_lists_known_metrics():
    with pytest.raises(ValueError, match=r"'bleu'.*causal_match"):
        metric_path("bleu")


# --- the parser ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (UNCHANGED.format("Paris"), CausalAnswer(True, False, "Paris")),
        (CHANGED.format("Rome"), CausalAnswer(True, True, "Rome")),
        ("THE OUTPUT WOULD REMAIN   UNCHANGED FROM <<<  Paris >>>", CausalAnswer(True, False, "Paris")),
        ("It is unchanged: <<<Paris>>>", CausalAnswer(False, False, "Paris")),  # no "remain unchanged from"
        ("The output would change\n to <<<Rome>>>. Then <<<Oslo>>> too.", CausalAnswer(True, True, "Rome")),
        ("It would change, I think: <<<Rome>>>", CausalAnswer(False, True, "Rome")),  # no "change to <<<"
        ("The output would change to <<<b>>>, not remain unchanged from <<<a>>>", CausalAnswer(True, False, "a")),
        (
            "It would change to <<<a>>>, or change to <<<b>>>",
            CausalAnswer(True, True, "b"),
        ),  # greedy, as the reference
        ("change to <<<a>>>\nchange to <<<b>>>", CausalAnswer(True, True, "a")),  # ... on the first line with one
        ("would change to <<<ROME>>>", CausalAnswer(True, True, "ROME")),  # content keeps its case
        ("would change to <<<a>b>>>> after", CausalAnswer(True, True, "a>b")),  # up to the first ">>>"
        ("would remain unchanged from <<<a>>>, it would not change to <<<b>>>", CausalAnswer(True, False, "a")),
        ("The most likely output would change to <<<New\nYork>>>.", CausalAnswer(True, True, "New\nYork")),
        ("The most likely output would change to <<< >>>.", CausalAnswer(True, True, "")),
        ("The output would remain unchanged from Paris.", CausalAnswer(False, False, None)),
        ("The output would remain unchanged from <<<Paris.", CausalAnswer(False, False, None)),
        ("<<<Rome>>>", CausalAnswer(False, None, "Rome")),
        ("The output would not be affected <<<Rome>>>", CausalAnswer(False, None, "Rome")),
        ("exchanged tokens", CausalAnswer(False, None, None)),
        ("", CausalAnswer(False, None, None)),
    ],
)
def test_parse_causal_answer(text, expected):
    assert parse_causal_answer(text) == expected


@pytest.mark.parametrize("changed", [True, False])
def test_parser_round_trips_the_templates(changed):
    parsed = parse_causal_answer(causal_answer(changed, original=" Paris", new=" Rome"))
    assert parsed == CausalAnswer(True, changed, "Rome" if changed else "Paris")


# --- linear time, with the reference's greedy ".*" kept exactly ----------------------------------------------------

# The reference evaluator's patterns (introspective-interp, causal_exact_match_eval.py): the definition parsing keeps.
_REFERENCE = (
    (False, re.compile(r".*remain\s+unchanged\s+from\s+<<<((?s:.*?))>>>", re.IGNORECASE)),
    (True, re.compile(r".*change\s+to\s+<<<((?s:.*?))>>>", re.IGNORECASE)),
)


def _reference_parse(text: str) -> tuple[bool, str] | None:
    for changed, pattern in _REFERENCE:
        match = pattern.search(text)
        if match is not None:
            return changed, match.group(1).strip()
    return None


def test_parsing_equals_the_reference_patterns_on_random_texts():
    import random

    pieces = [
        "change",
        "Change",
        "to",
        "remain",
        "unchanged",
        "from",
        "<<<",
        ">>>",
        "<",
        ">",
        " ",
        "  ",
        "\n",
        "\t",
        "a",
        "B",
        "x.",
        "ex",
        "would",
        "<<<<",
        ">>>>",
        "\r",
    ]
    rng = random.Random(0)
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 24)))
        expected = _reference_parse(text)
        parsed = parse_causal_answer(text)
        assert (parsed.valid, parsed.changed, parsed.content) == (
            (True, *expected) if expected else (False, parsed.changed, parsed.content)
        ), repr(text)
        assert parsed.valid == (expected is not None), repr(text)


@pytest.mark.parametrize(
    "ramble",
    [
        "change to <<<x " * 400_000,  # every phrase open, none closed: the reference backtracks over the whole line
        "a" * 5_000_000,
        ("remain unchanged from <<<" + "y" * 60) * 60_000 + ">>>",
        "x " * 2_500_000 + CHANGED.format("Rome"),
    ],
)
def test_a_5_mb_prediction_parses_in_under_a_second(causal_match, ramble):
    import time

    assert len(ramble) >= 5_000_000
    started = time.process_time()  # CPU time: the machine's other load does not count
    parse_causal_answer(ramble)
    results = causal_match.compute(predictions=[ramble], references=[CHANGED.format("Rome")])
    assert time.process_time() - started < 1.0
    assert 0 <= results["valid_rate"] <= 1
