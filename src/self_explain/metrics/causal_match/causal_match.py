"""Causal match: scores the answer sentences of the patching and ablation tasks (Li et al. 2025)."""

import re

import datasets
import evaluate

from self_explain.metrics import checked  # the module: evaluate.load takes the first Metric class it finds
from self_explain.tasks.causal_answers import parse_causal_answer

_DESCRIPTION = """
Scores explanations of a causal intervention (activation patching or input ablation) written as one of two sentences:
"The output would remain unchanged from <<<a>>>." or "The most likely output would change to <<<b>>>."
Computes the metrics as the paper's evaluator (introspective-interp, evaluator/causal_exact_match_eval.py) defines
them: Exact Match after normalising (lowercased, whitespace collapsed, periods stripped from both ends), Content
Match (the same text inside <<< >>>, whatever the verdict), Has-Changed F1 (F1 of the "changed" class over the valid
answers), plus Has-Changed macro-F1 and the share of predictions that parse as one of the two sentences;
and, as the reference does, exact match, content match and validity stratified by the reference's class (each over
the rows of that class), with each class's F1, precision and recall.
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
    changed_exact_match, changed_content_match, changed_valid_rate (`float` or `None`): exact match, content match and
        valid rate over the items whose *reference* says "changed" (denominator: those items); None when there is
        none. On patching these are the rows only the vector can answer.
    unchanged_exact_match, unchanged_content_match, unchanged_valid_rate (`float` or `None`): the same over the items
        whose reference says "unchanged".
    has_unchanged_f1 (`float` or `None`): F1 of the class "unchanged" over the valid items, as ``has_changed_f1``.
    has_changed_precision, has_changed_recall, has_unchanged_precision, has_unchanged_recall (`float` or `None`):
        each class's precision (denominator: valid items predicted in the class) and recall (denominator: valid
        items whose reference is in the class); None when the denominator is 0.
Examples:
    >>> import evaluate
    >>> from self_explain.metrics import metric_path
    >>> causal_match = evaluate.load(metric_path("causal_match"))
    >>> references = [
    ...     "The most likely output would change to <<<Rome>>>.",
    ...     "The output would remain unchanged from <<<Paris>>>.",
    ... ]
    >>> results = causal_match.compute(predictions=references, references=references)
    >>> print({name: results[name] for name in ("exact_match", "content_match", "has_changed_f1", "valid_rate")})
    {'exact_match': 1.0, 'content_match': 1.0, 'has_changed_f1': 1.0, 'valid_rate': 1.0}

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
    >>> print({name: round(results[name], 2) for name in
    ...        ("exact_match", "content_match", "has_changed_f1", "has_changed_macro_f1", "valid_rate")})
    {'exact_match': 0.0, 'content_match': 1.0, 'has_changed_f1': 0.67, 'has_changed_macro_f1': 0.33, 'valid_rate': 1.0}

    Stratified by the reference's class, a worked case: two "changed" references (Rome, Tokyo) and two "unchanged"
    (Paris, Lima). The first answer is right; the second names Tokyo with the wrong verdict; the third is right; the
    fourth does not parse.

    >>> references = [
    ...     "The most likely output would change to <<<Rome>>>.",
    ...     "The most likely output would change to <<<Tokyo>>>.",
    ...     "The output would remain unchanged from <<<Paris>>>.",
    ...     "The output would remain unchanged from <<<Lima>>>.",
    ... ]
    >>> predictions = [
    ...     "The most likely output would change to <<<Rome>>>.",
    ...     "The output would remain unchanged from <<<Tokyo>>>.",
    ...     "The output would remain unchanged from <<<Paris>>>.",
    ...     "I am not sure.",
    ... ]
    >>> results = causal_match.compute(predictions=predictions, references=references)
    >>> for cls in ("changed", "unchanged"):  # each over its own 2 rows
    ...     print(cls, [results[f"{cls}_{key}"] for key in ("exact_match", "content_match", "valid_rate")])
    changed [0.5, 1.0, 1.0]
    unchanged [0.5, 0.5, 0.5]

    Over the 3 valid answers, "changed" is said once (rightly) and "unchanged" twice (once wrongly):

    >>> for cls in ("changed", "unchanged"):
    ...     print(cls, [round(results[f"has_{cls}_{key}"], 2) for key in ("precision", "recall", "f1")])
    changed [1.0, 0.5, 0.67]
    unchanged [0.5, 1.0, 0.67]

    A class with no rows is not estimable:

    >>> results = causal_match.compute(predictions=references[:1], references=references[:1])
    >>> results["unchanged_exact_match"] is None, results["has_unchanged_recall"] is None
    (True, True)

    An explanation that is neither sentence is left out of Has-Changed F1 (the macro F1 counts it as the wrong
    class):

    >>> references = references[:1] + references[2:3]
    >>> predictions = ["The most likely output would change to <<<Rome>>>.", "I am not sure."]
    >>> results = causal_match.compute(predictions=predictions, references=references)
    >>> print({name: round(results[name], 2) for name in
    ...        ("exact_match", "content_match", "has_changed_f1", "has_changed_macro_f1", "valid_rate")})
    {'exact_match': 0.5, 'content_match': 0.5, 'has_changed_f1': 1.0, 'has_changed_macro_f1': 0.33, 'valid_rate': 0.5}

    With no valid explanation, Has-Changed F1 is not estimable:

    >>> unsure = causal_match.compute(predictions=["I am not sure.", "No idea."], references=references)
    >>> unsure["has_changed_f1"] is None
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
    """
    return re.sub(r"\s+", " ", text).strip().lower().strip(".")


def macro_f1(labels: list[bool], predicted: list[bool]) -> float:
    """Macro F1 over the classes seen in `labels` or `predicted` (what scikit-learn's average="macro" does)."""
    pairs = list(zip(labels, predicted))
    scores = [f1_of(*confusion_counts(pairs, cls)) for cls in set(labels) | set(predicted)]
    return sum(scores) / len(scores)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class CausalMatch(checked.InputCheckedMetric):
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

        valid_rows = [pred.valid for pred in parsed_preds]
        exact_rows = [
            pred.valid and norm_pred == norm_ref and pred.changed == ref.changed
            for norm_pred, norm_ref, pred, ref in zip(norm_preds, norm_refs, parsed_preds, parsed_refs)
        ]
        content_rows = [
            pred.valid and pred.content.lower() == ref.content.lower() for pred, ref in zip(parsed_preds, parsed_refs)
        ]
        labels = [ref.changed for ref in parsed_refs]
        results = {
            "exact_match": sum(exact_rows) / len(labels),
            "content_match": sum(content_rows) / len(labels),
        }
        # Over the valid answers only, as the reference: the verdict's confusion counts for each class.
        valid_pairs = [(label, pred.changed) for label, pred in zip(labels, parsed_preds) if pred.valid]
        changed_counts = confusion_counts(valid_pairs, True)
        unchanged_counts = confusion_counts(valid_pairs, False)
        results["has_changed_f1"] = f1_of(*changed_counts) if valid_pairs else None
        predicted = [pred.changed if pred.valid else not ref.changed for pred, ref in zip(parsed_preds, parsed_refs)]
        results["has_changed_macro_f1"] = macro_f1(labels, predicted)
        results["valid_rate"] = sum(valid_rows) / len(labels)
        # Stratified by the reference's class: each over all the rows of that class, None when it has none.
        for name, cls in (("changed", True), ("unchanged", False)):
            rows = [i for i, label in enumerate(labels) if label == cls]
            for key, hits in (
                ("exact_match", exact_rows),
                ("content_match", content_rows),
                ("valid_rate", valid_rows),
            ):
                results[f"{name}_{key}"] = sum(hits[i] for i in rows) / len(rows) if rows else None
        results["has_unchanged_f1"] = f1_of(*unchanged_counts) if valid_pairs else None
        for name, (true_pos, false_pos, false_neg) in (("changed", changed_counts), ("unchanged", unchanged_counts)):
            results[f"has_{name}_precision"] = _share(true_pos, true_pos + false_pos)
            results[f"has_{name}_recall"] = _share(true_pos, true_pos + false_neg)
        return results


def confusion_counts(pairs: list[tuple[bool, bool]], cls: bool) -> tuple[int, int, int]:
    """(tp, fp, fn) of class ``cls`` (True: changed) over (reference says changed, answer says changed) pairs."""
    true_pos = sum(label == cls and said == cls for label, said in pairs)
    false_pos = sum(label != cls and said == cls for label, said in pairs)
    false_neg = sum(label == cls and said != cls for label, said in pairs)
    return true_pos, false_pos, false_neg


def f1_of(true_pos: int, false_pos: int, false_neg: int) -> float:
    """F1 from confusion counts, 2·tp / (2·tp + fp + fn); 0.0 when there is no true positive."""
    return 2 * true_pos / (2 * true_pos + false_pos + false_neg) if true_pos else 0.0


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None
