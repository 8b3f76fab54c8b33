import doctest
import itertools
import logging
import re
import sys
from pathlib import Path

import evaluate
import numpy as np
import pytest

from self_explain.metrics import METRICS, metric_path


@pytest.fixture(scope="module")
def simulator_correlation():
    return evaluate.load(metric_path("simulator_correlation"), keep_in_memory=True)


def run_doctests(text: str, globs: dict, name: str) -> doctest.TestResults:
    test = doctest.DocTestParser().get_doctest(text, dict(globs), name, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    return runner.summarize(verbose=False)


# --- the evaluate module ------------------------------------------------------------------------------------------


def test_kwargs_description_examples_run(simulator_correlation):
    module = sys.modules[type(simulator_correlation).__module__]
    results = run_doctests(module._KWARGS_DESCRIPTION, vars(module), "simulator_correlation._KWARGS_DESCRIPTION")
    assert results.attempted > 0
    assert results.failed == 0
    assert module._KWARGS_DESCRIPTION in type(simulator_correlation).__doc__


def test_metric_card_examples_run():
    card = (Path(metric_path("simulator_correlation")) / "README.md").read_text()
    assert card.startswith("---\ntitle: Simulator Correlation\n")
    code = "\n\n".join(re.findall(r"```python\n(.*?)```", card, flags=re.DOTALL))
    results = run_doctests(code, {}, "simulator_correlation/README.md")
    assert results.attempted > 0
    assert results.failed == 0


def test_is_discovered():
    assert "simulator_correlation" in METRICS


# --- against numpy ------------------------------------------------------------------------------------------------


def test_matches_numpy_corrcoef_on_random_data(simulator_correlation):
    rng = np.random.default_rng(0)
    truths = [rng.normal(size=n) for n in (5, 12, 30, 7)]
    simulations = [truth * 0.5 + rng.normal(size=truth.size) for truth in truths]
    results = simulator_correlation.compute(
        predictions=[s.tolist() for s in simulations], references=[t.tolist() for t in truths]
    )
    per_example = [np.corrcoef(s, t)[0, 1] for s, t in zip(simulations, truths)]
    pooled = np.corrcoef(np.concatenate(simulations), np.concatenate(truths))[0, 1]
    assert results["mean_correlation"] == pytest.approx(np.mean(per_example), abs=1e-9)
    assert results["pooled_correlation"] == pytest.approx(pooled, abs=1e-9)
    assert all(type(value) is float for value in results.values())


def test_nested_exemplars_are_pooled_within_each_example(simulator_correlation):
    rng = np.random.default_rng(1)
    examples = [[rng.normal(size=n) for n in lengths] for lengths in ((4, 6), (3,), (5, 2, 8))]
    simulated = [[row + rng.normal(size=row.size) for row in example] for example in examples]
    results = simulator_correlation.compute(
        predictions=[[row.tolist() for row in example] for example in simulated],
        references=[[row.tolist() for row in example] for example in examples],
    )
    per_example = [np.corrcoef(np.concatenate(s), np.concatenate(t))[0, 1] for s, t in zip(simulated, examples)]
    all_simulated, all_true = list(itertools.chain(*simulated)), list(itertools.chain(*examples))
    pooled = np.corrcoef(np.concatenate(all_simulated), np.concatenate(all_true))[0, 1]
    assert results["mean_correlation"] == pytest.approx(np.mean(per_example), abs=1e-9)
    assert results["pooled_correlation"] == pytest.approx(pooled, abs=1e-9)


def test_numpy_arrays_and_scale_invariance(simulator_correlation):
    truth = np.array([0.0, 3.0, 1.0, 0.0, 5.0])
    results = simulator_correlation.compute(predictions=[truth * 10 + 2], references=[truth])
    assert results == {"mean_correlation": pytest.approx(1.0), "pooled_correlation": pytest.approx(1.0)}
    results = simulator_correlation.compute(predictions=[-truth], references=[truth])
    assert results["mean_correlation"] == pytest.approx(-1.0)


# --- constant sides -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prediction", "reference"),
    [
        ([0.0, 0.0, 0.0], [1.0, 2.0, 3.0]),  # constant simulation
        ([1.0, 2.0, 3.0], [0.3, 0.3, 0.3]),  # feature never varies (0.3 is not exact in binary: no float noise)
        ([0.1, 0.1], [0.1, 0.1]),
        ([4.0], [2.0]),  # one token
    ],
)
def test_constant_side_scores_zero(simulator_correlation, prediction, reference):
    results = simulator_correlation.compute(predictions=[prediction], references=[reference])
    assert results == {"mean_correlation": 0.0, "pooled_correlation": 0.0}


def test_constant_example_counts_as_zero_in_the_mean_and_is_logged(simulator_correlation, caplog):
    with caplog.at_level(logging.INFO):
        results = simulator_correlation.compute(predictions=[[1, 2, 3], [5, 5]], references=[[2, 4, 6], [1, 2]])
    assert results["mean_correlation"] == pytest.approx(0.5)
    assert results["pooled_correlation"] == pytest.approx(np.corrcoef([1, 2, 3, 5, 5], [2, 4, 6, 1, 2])[0, 1])
    assert "1 of 2 examples have a constant side" in caplog.text


# --- bad inputs ---------------------------------------------------------------------------------------------------


def test_token_count_mismatch_names_the_example(simulator_correlation):
    with pytest.raises(ValueError, match=r"Example 1, exemplar 0: 2 predicted activations but 3 true ones"):
        simulator_correlation.compute(predictions=[[1, 2], [1, 2]], references=[[1, 2], [1, 2, 3]])


def test_exemplar_count_mismatch_names_the_example(simulator_correlation):
    with pytest.raises(ValueError, match=r"Example 2: 1 predicted exemplars but 2 reference exemplars"):
        simulator_correlation.compute(
            predictions=[[[1, 2]], [[1, 2]], [[1, 2]]], references=[[[1, 2]], [[1, 2]], [[1, 2], [3]]]
        )


def test_nested_exemplar_length_mismatch_names_both_indices(simulator_correlation):
    with pytest.raises(ValueError, match=r"Example 0, exemplar 1: 1 predicted activations but 2 true ones"):
        simulator_correlation.compute(predictions=[[[1, 2], [3]]], references=[[[1, 2], [3, 4]]])


def test_mixed_forms_are_rejected(simulator_correlation):
    with pytest.raises(ValueError):
        simulator_correlation.compute(predictions=[[1.0, 2.0]], references=[[[1.0, 2.0]]])


def test_nan_is_rejected(simulator_correlation):
    with pytest.raises(ValueError, match=r"Example 1: prediction exemplar 0 has a NaN"):
        simulator_correlation.compute(predictions=[[1, 2], [1, float("nan")]], references=[[1, 2], [1, 2]])


def test_empty_example_is_rejected(simulator_correlation):
    with pytest.raises(ValueError, match=r"Example 0 has no tokens"):
        simulator_correlation._compute(predictions=[[]], references=[[]])


def test_length_mismatch(simulator_correlation):
    with pytest.raises(ValueError, match="number of predictions"):
        simulator_correlation.compute(predictions=[[1, 2]], references=[[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="1 predictions but 2 references"):
        simulator_correlation._compute(predictions=[[1, 2]], references=[[1, 2], [3, 4]])


def test_empty_inputs(simulator_correlation):
    with pytest.raises(ValueError, match="at least one"):
        simulator_correlation._compute(predictions=[], references=[])


def test_direct_compute_accepts_either_form_per_example(simulator_correlation):
    results = simulator_correlation._compute(
        predictions=[[1, 2, 3], [[1, 2], [3]]], references=[[1, 2, 4], [[2, 4], [6]]]
    )
    assert results["mean_correlation"] == pytest.approx((np.corrcoef([1, 2, 3], [1, 2, 4])[0, 1] + 1) / 2)


def test_non_list_example_is_a_type_error(simulator_correlation):
    with pytest.raises(TypeError, match="Example 0: prediction must be a list"):
        simulator_correlation._compute(predictions=[3.0], references=[[1.0]])


def test_empty_inputs_are_named_before_evaluate_reads_them():
    import evaluate

    from self_explain.metrics import metric_path

    metric = evaluate.load(metric_path("simulator_correlation"))
    with pytest.raises(ValueError, match="simulator_correlation: predictions is empty; give at least one prediction"):
        metric.compute(predictions=[], references=[])
