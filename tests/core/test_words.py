import doctest

from self_explain.core import words
from self_explain.core.words import is_word_level
from self_explain.tasks.patching.builder import target_mismatches


def test_examples_in_the_docstrings():
    assert doctest.testmod(words).failed == 0


def test_toy_tokenizer_is_word_level_so_a_token_is_its_word(random_toy_model_dir):
    from transformers import AutoTokenizer

    assert is_word_level(AutoTokenizer.from_pretrained(str(random_toy_model_dir)))


def row(prompt_id, word, token, counterfactual_token, original_target, counterfactual_target):
    return {
        "prompt_id": prompt_id,
        "original_word": word,
        "original_continuation": token,
        "counterfactual_continuation": counterfactual_token,
        "gt_original_target": original_target,
        "gt_counterfactual_target": counterfactual_target,
    }


def test_target_mismatches_count_pairs_once_and_skip_pairs_without_targets(caplog):
    rows = [
        row(0, "yen", " y", " rub", "yen", "ruble"),
        row(0, "yen", " y", " rub", "yen", "ruble"),
        row(1, "Paris", " Paris", " the", "Paris", "Cairo"),
        row(2, "Rome", " Rome", " Madrid", "", ""),
        row(3, "Bern", " Bern", " Oslo", "Zurich", "Oslo"),
    ]
    found = target_mismatches(rows)
    assert found["pairs_with_targets"] == 3 and found["original"] == 1 and found["counterfactual"] == 1
    assert any("Zurich" in example for example in found["examples"]) and "Cairo" in caplog.text
