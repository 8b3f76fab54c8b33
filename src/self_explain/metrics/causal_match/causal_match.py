"""Causal match: scores the answer sentences of the patching and ablation tasks (Li et al. 2025)."""

import datasets
import evaluate

from self_explain.tasks.causal_answers import parse_causal_answer

_DESCRIPTION = """
Scores explanations of a causal intervention (activation patching or input ablation) written as one of two sentences:
"The output would remain unchanged from <<<a>>>." or "The most likely output would change to <<<b>>>."
Reports Exact Match, Content Match (same verdict and same text inside <<< >>>), Has-Changed macro-F1
(changed vs. unchanged) and the share of predictions that parse as one of the two sentences.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): explanations written by the explainer model.
    references (`list` of `str`): ground-truth answer sentences; each must parse as one of the two sentences.
Returns:
    exact_match (`float`): share of predictions equal to their reference after stripping whitespace.
    content_match (`float`): share of predictions with the reference's verdict and the same text inside <<< >>>
        (stripped, case-sensitive).
    has_changed_f1 (`float`): macro F1 over the classes changed / unchanged, labelled by the reference; an
        unparseable prediction counts as the wrong class; classes absent from both sides are left out of the mean.
    valid_rate (`float`): share of predictions that parse as one of the two sentences.
Examples:
    >>> import evaluate
    >>> from self_explain.metrics import metric_path
    >>> causal_match = evaluate.load(metric_path("causal_match"))
    >>> references = [
    ...     "The most likely output would change to <<<Rome>>>.",
    ...     "The output would remain unchanged from <<<Paris>>>.",
    ... ]
    >>> results = causal_match.compute(predictions=references, references=references)
    >>> print(results)
    {'exact_match': 1.0, 'content_match': 1.0, 'has_changed_f1': 1.0, 'valid_rate': 1.0}

    A wrong verdict, and the right content in other words:

    >>> predictions = [
    ...     "the most likely output WOULD change to <<< Rome >>>, I think.",
    ...     "The most likely output would change to <<<Paris>>>.",
    ... ]
    >>> results = causal_match.compute(predictions=predictions, references=references)
    >>> print({name: round(value, 2) for name, value in results.items()})
    {'exact_match': 0.0, 'content_match': 0.5, 'has_changed_f1': 0.33, 'valid_rate': 1.0}

    An explanation that is neither sentence counts as the wrong class:

    >>> predictions = ["The most likely output would change to <<<Rome>>>.", "I am not sure."]
    >>> results = causal_match.compute(predictions=predictions, references=references)
    >>> print({name: round(value, 2) for name, value in results.items()})
    {'exact_match': 0.5, 'content_match': 0.5, 'has_changed_f1': 0.33, 'valid_rate': 0.5}
"""

_CITATION = """
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


def macro_f1(labels: list[bool], predicted: list[bool]) -> float:
    """Macro F1 over the classes seen in `labels` or `predicted` (what scikit-learn's average="macro" does).

    Args:
        labels (`list[bool]`): the true classes.
        predicted (`list[bool]`): the predicted classes, as many.

    Returns:
        `float`: the mean over the classes of each class's F1.
    """
    scores = []
    for cls in set(labels) | set(predicted):
        true_pos = sum(y == cls and p == cls for y, p in zip(labels, predicted))
        false_pos = sum(y != cls and p == cls for y, p in zip(labels, predicted))
        false_neg = sum(y == cls and p != cls for y, p in zip(labels, predicted))
        scores.append(2 * true_pos / (2 * true_pos + false_pos + false_neg))
    return sum(scores) / len(scores)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class CausalMatch(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            homepage="https://arxiv.org/abs/2511.08579",
            reference_urls=["https://arxiv.org/abs/2511.08579", "https://transluce.org/self-explanations"],
        )

    def _compute(self, predictions, references):
        if len(predictions) != len(references):
            raise ValueError(f"Got {len(predictions)} predictions but {len(references)} references.")
        if not references:
            raise ValueError("causal_match needs at least one prediction and reference.")
        parsed_refs = [parse_causal_answer(ref) for ref in references]
        for index, (ref, parsed) in enumerate(zip(references, parsed_refs)):
            if not parsed.valid:
                raise ValueError(f"Reference {index} is not one of the two answer sentences: {ref!r}")
        parsed_preds = [parse_causal_answer(pred) for pred in predictions]

        count = len(references)
        labels = [ref.changed for ref in parsed_refs]
        predicted = [pred.changed if pred.valid else not ref.changed for pred, ref in zip(parsed_preds, parsed_refs)]
        exact = sum(pred.strip() == ref.strip() for pred, ref in zip(predictions, references))
        content = sum(
            pred.valid and pred.changed == ref.changed and pred.content == ref.content
            for pred, ref in zip(parsed_preds, parsed_refs)
        )
        return {
            "exact_match": exact / count,
            "content_match": content / count,
            "has_changed_f1": macro_f1(labels, predicted),
            "valid_rate": sum(pred.valid for pred in parsed_preds) / count,
        }
