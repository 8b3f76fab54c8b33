"""Causal match: scores the answer sentences of the patching and ablation tasks (Li et al. 2025)."""

import re

import datasets
import evaluate

from self_explain.tasks.causal_answers import parse_causal_answer

_DESCRIPTION = """
Scores explanations of a causal intervention (activation patching or input ablation) written as one of two sentences:
"The output would remain unchanged from <<<a>>>." or "The most likely output would change to <<<b>>>."
Computes the metrics as the paper's evaluator (introspective-interp, evaluator/causal_exact_match_eval.py) defines
them: Exact Match after normalising (lowercased, whitespace collapsed, periods stripped from both ends), Content
Match (the same text inside <<< >>>, whatever the verdict), Has-Changed F1 (F1 of the "changed" class over the valid
answers), plus the earlier Has-Changed macro-F1 and the share of predictions that parse as one of the two sentences.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): explanations written by the explainer model.
    references (`list` of `str`): ground-truth answer sentences; each must parse as one of the two sentences.
Returns:
    exact_match (`float`): share of all items whose prediction parses and equals the reference once both are
        normalised (whitespace runs collapsed to one space, stripped, lowercased, "." stripped from both ends).
    content_match (`float`): share of all items whose prediction parses and has the reference's text inside
        <<< >>> (stripped, lowercased), whatever the verdict (the paper's "semantic match").
    has_changed_f1 (`float` or `None`): F1 of the class "changed" over the items whose prediction parses,
        2·tp / (2·tp + fp + fn), 0.0 when tp = 0; None ("not estimable") when no prediction parses.
    has_changed_macro_f1 (`float`): macro F1 over the classes changed / unchanged over all items, labelled by the
        reference; an unparseable prediction counts as the wrong class; classes absent from both sides are left
        out of the mean.
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
    {'exact_match': 1.0, 'content_match': 1.0, 'has_changed_f1': 1.0, 'has_changed_macro_f1': 1.0, 'valid_rate': 1.0}

    Case, runs of whitespace and the final period do not count:

    >>> predictions = [
    ...     "the most likely output WOULD change to <<<rome>>>",
    ...     "  The output would remain   unchanged from <<<Paris>>>. ",
    ... ]
    >>> causal_match.compute(predictions=predictions, references=references)["exact_match"]
    1.0

    A wrong verdict with the right content, and the right content in other words:

    >>> predictions = [
    ...     "the most likely output WOULD change to <<< Rome >>>, I think.",
    ...     "The most likely output would change to <<<Paris>>>.",
    ... ]
    >>> results = causal_match.compute(predictions=predictions, references=references)
    >>> print({name: round(value, 2) for name, value in results.items()})
    {'exact_match': 0.0, 'content_match': 1.0, 'has_changed_f1': 0.67, 'has_changed_macro_f1': 0.33, 'valid_rate': 1.0}

    An explanation that is neither sentence is left out of Has-Changed F1 (the macro F1 counts it as the wrong
    class):

    >>> predictions = ["The most likely output would change to <<<Rome>>>.", "I am not sure."]
    >>> results = causal_match.compute(predictions=predictions, references=references)
    >>> print({name: round(value, 2) for name, value in results.items()})
    {'exact_match': 0.5, 'content_match': 0.5, 'has_changed_f1': 1.0, 'has_changed_macro_f1': 0.33, 'valid_rate': 0.5}

    With no valid explanation, Has-Changed F1 is not estimable:

    >>> causal_match.compute(predictions=["I am not sure.", "No idea."], references=references)["has_changed_f1"] is None
    True
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


def normalize_answer(text: str) -> str:
    """An answer as the paper's evaluator compares it, whitespace runs also collapsed to one space.

    >>> normalize_answer("  The output would remain   UNCHANGED from <<<Paris>>>.  ")
    'the output would remain unchanged from <<<paris>>>'

    Args:
        text (`str`): a prediction or a reference.

    Returns:
        `str`: the text with each whitespace run made one space, stripped, lowercased, "." stripped from both ends.
    """
    return re.sub(r"\s+", " ", text).strip().lower().strip(".")


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
        norm_refs = [normalize_answer(ref) for ref in references]
        parsed_refs = [parse_causal_answer(ref) for ref in norm_refs]
        for index, (ref, parsed) in enumerate(zip(references, parsed_refs)):
            if not parsed.valid:
                raise ValueError(f"Reference {index} is not one of the two answer sentences: {ref!r}")
        norm_preds = [normalize_answer(pred) for pred in predictions]
        parsed_preds = [parse_causal_answer(pred) for pred in norm_preds]

        count = len(references)
        exact = content = true_pos = false_pos = false_neg = valid = 0
        for norm_pred, norm_ref, pred, ref in zip(norm_preds, norm_refs, parsed_preds, parsed_refs):
            if not pred.valid:
                continue
            valid += 1
            exact += norm_pred == norm_ref and pred.changed == ref.changed
            content += pred.content.lower() == ref.content.lower()
            true_pos += pred.changed and ref.changed
            false_pos += pred.changed and not ref.changed
            false_neg += not pred.changed and ref.changed
        if valid == 0:
            has_changed_f1 = None  # not estimable: no valid answer to compute it over
        else:
            has_changed_f1 = 2 * true_pos / (2 * true_pos + false_pos + false_neg) if true_pos else 0.0

        labels = [ref.changed for ref in parsed_refs]
        predicted = [pred.changed if pred.valid else not ref.changed for pred, ref in zip(parsed_preds, parsed_refs)]
        return {
            "exact_match": exact / count,
            "content_match": content / count,
            "has_changed_f1": has_changed_f1,
            "has_changed_macro_f1": macro_f1(labels, predicted),
            "valid_rate": valid / count,
        }
