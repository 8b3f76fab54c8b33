"""Simulator correlation: Pearson r of simulated and true feature activations (Bills et al. 2023; Li et al. 2025)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import datasets
import evaluate
import numpy as np

from self_explain.metrics import checked
from self_explain.utils.stats import pearson_correlation

logger = logging.getLogger(__name__)

_DESCRIPTION = """
Scores a feature description by how well activations simulated from it (by an LM simulator, or the toy world's
concept simulator) correlate with the feature's true activations, token by token. Each example is one feature (or
one context): its simulated and true activations over one or several exemplar texts. Reports the mean over examples
of the Pearson correlation pooled over each example's tokens, and the correlation pooled over all tokens.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: simulated activations. Per example, either a list of floats (one per token of one text) or a list
        of exemplars, each a list of floats (one per token): `[[0.0, 1.2], [0.3, 0.0, 2.0]]`. All examples of one
        call use the same form.
    references: true activations, in the same form and shape as `predictions` (same number of exemplars, same
        number of tokens in each).
Returns:
    mean_correlation (`float`): mean over examples of the Pearson r between the example's simulated and true
        activations, all its exemplars' tokens pooled. r is 0 for an example where either side is constant
        (including a single token): such a prediction carries no ranking information.
    pooled_correlation (`float`): Pearson r over all tokens of all examples (0 if either side is constant).
Examples:
    >>> import evaluate
    >>> from self_explain.metrics import metric_path
    >>> simulator_correlation = evaluate.load(metric_path("simulator_correlation"))

    A perfect linear fit (r = 1) and an uncorrelated one (r = 0) give a mean of 0.5:

    >>> results = simulator_correlation.compute(
    ...     predictions=[[0, 1, 2], [0, 1, 0, 1]],
    ...     references=[[0, 2, 4], [0, 1, 1, 0]],
    ... )
    >>> print({name: round(value, 3) for name, value in results.items()})
    {'mean_correlation': 0.5, 'pooled_correlation': 0.796}

    Several exemplars per example are pooled before the correlation; a constant side scores 0:

    >>> results = simulator_correlation.compute(
    ...     predictions=[[[0, 1], [2, 3]], [[0, 0], [0]]],
    ...     references=[[[0, 2], [4, 6]], [[1, 2], [3]]],
    ... )
    >>> print({name: round(value, 3) for name, value in results.items()})
    {'mean_correlation': 0.5, 'pooled_correlation': 0.867}
"""

_CITATION = """
@misc{bills2023language,
    title={Language models can explain neurons in language models},
    author={Steven Bills and Nick Cammarata and Dan Mossing and Henk Tillman and Leo Gao and Gabriel Goh and
        Ilya Sutskever and Jan Leike and Jeff Wu and William Saunders},
    year={2023},
    url={https://openaipublic.blob.core.windows.net/neuron-explainer/paper/index.html},
}
@misc{li2025explain,
    title={Training Language Models to Explain Their Own Computations},
    author={Belinda Z. Li and Zifan Carl Guo and Vincent Huang and Jacob Steinhardt and Jacob Andreas},
    year={2025},
    eprint={2511.08579},
    archivePrefix={arXiv},
    primaryClass={cs.CL},
    url={https://arxiv.org/abs/2511.08579},
}
"""


pearson = pearson_correlation  # the package's one Pearson r (0 when either side is constant)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)


def as_exemplars(example, index: int, side: str) -> list[np.ndarray]:
    """One example as a list of 1-D float64 arrays (a flat list of numbers is one exemplar); refuses NaN and inf."""
    if isinstance(example, np.ndarray):
        example = example.tolist()
    if not isinstance(example, Sequence) or isinstance(example, str):
        raise TypeError(f"Example {index}: {side} must be a list of floats or a list of lists, not {example!r}.")
    if all(_is_number(value) for value in example):
        rows = [example]
    elif all(isinstance(row, (Sequence, np.ndarray)) and not isinstance(row, str) for row in example):
        rows = list(example)
        for position, row in enumerate(rows):
            if not all(_is_number(value) for value in row):
                raise ValueError(f"Example {index}: {side} exemplar {position} is not a list of numbers: {row!r}.")
    else:
        raise ValueError(f"Example {index}: {side} mixes numbers and lists: {example!r}.")
    arrays = [np.asarray(row, dtype=np.float64) for row in rows]
    for position, array in enumerate(arrays):
        if not np.isfinite(array).all():
            raise ValueError(f"Example {index}: {side} exemplar {position} has a NaN or infinite activation.")
    return arrays


def example_tokens(prediction, reference, index: int) -> tuple[np.ndarray, np.ndarray]:
    """The example's simulated and true activations of every token, exemplars concatenated; ValueError on mismatch."""
    simulated = as_exemplars(prediction, index, "prediction")
    true = as_exemplars(reference, index, "reference")
    if len(simulated) != len(true):
        raise ValueError(f"Example {index}: {len(simulated)} predicted exemplars but {len(true)} reference exemplars.")
    for position, (sim, ref) in enumerate(zip(simulated, true)):
        if sim.shape != ref.shape:
            raise ValueError(
                f"Example {index}, exemplar {position}: {sim.size} predicted activations but {ref.size} true ones."
            )
    simulated_tokens, true_tokens = np.concatenate(simulated), np.concatenate(true)
    if simulated_tokens.size == 0:
        raise ValueError(f"Example {index} has no tokens.")
    return simulated_tokens, true_tokens


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SimulatorCorrelation(checked.InputCheckedMetric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features(
                    {
                        "predictions": datasets.Sequence(datasets.Value("float64")),
                        "references": datasets.Sequence(datasets.Value("float64")),
                    }
                ),
                datasets.Features(
                    {
                        "predictions": datasets.Sequence(datasets.Sequence(datasets.Value("float64"))),
                        "references": datasets.Sequence(datasets.Sequence(datasets.Value("float64"))),
                    }
                ),
            ],
            homepage="https://arxiv.org/abs/2511.08579",
            reference_urls=[
                "https://arxiv.org/abs/2511.08579",
                "https://openaipublic.blob.core.windows.net/neuron-explainer/paper/index.html",
            ],
        )

    def _compute(self, predictions, references):
        if len(predictions) != len(references):
            raise ValueError(f"Got {len(predictions)} predictions but {len(references)} references.")
        if not references:
            raise ValueError("simulator_correlation needs at least one prediction and reference.")
        examples = [example_tokens(pred, ref, index) for index, (pred, ref) in enumerate(zip(predictions, references))]
        correlations = [pearson(simulated, true) for simulated, true in examples]
        constant = sum(np.ptp(simulated) == 0 or np.ptp(true) == 0 for simulated, true in examples)
        if constant:
            logger.info("%d of %d examples have a constant side and score r = 0", constant, len(examples))
        all_simulated = np.concatenate([simulated for simulated, _ in examples])
        all_true = np.concatenate([true for _, true in examples])
        return {
            "mean_correlation": float(np.mean(correlations)),
            "pooled_correlation": pearson(all_simulated, all_true),
        }
