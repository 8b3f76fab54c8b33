"""The explainer side of input ablation: text only (no vector is injected)."""

from __future__ import annotations

import random

from ...core.models import LoadedModel, context_length
from ..base import ExplainerExamples
from ..causal_answers import causal_answer, parse_causal_answer
from .ground_truth import encode_prompt, run_ablations, target_prompt
from .prompts import ablation_question
from .sources import AblationExample

REQUIRED_COLUMNS = ("text", "original_prediction", "ablated_prediction", "is_different")


def ablation_examples(dataset, target: LoadedModel, seed: int = 0) -> ExplainerExamples:
    """The ablation task's ``examples`` hook (text only); rows without ``question``/``answer`` get the templates'."""
    missing = [c for c in REQUIRED_COLUMNS if c not in dataset.column_names]
    if missing:
        raise ValueError(
            f"the dataset is not an ablation dataset: columns {missing} are missing (it has "
            f"{sorted(dataset.column_names)})"
        )
    questions, answers = [], []
    for index, row in enumerate(dataset.to_list()):
        questions.append(
            row.get("question") or ablation_question(row["text"], "hint", random.Random(f"{seed}:{index}"))
        )
        answers.append(
            row.get("answer")
            or causal_answer(
                row["is_different"],
                (row.get("original_choice") or row["original_prediction"]).strip(),
                (row.get("ablated_choice") or row["ablated_prediction"]).strip(),
            )
        )
    return ExplainerExamples(questions, answers)


def _request_example(inputs: dict) -> AblationExample:
    text, span = inputs.get("text"), inputs.get("span")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"ablation input needs a non-empty string 'text'; got {text!r}")
    if not isinstance(span, str) or not span:
        raise ValueError(f"ablation input needs 'span': the part of 'text' to remove; got {span!r}")
    start = text.find(span)
    if start == -1:
        raise ValueError(f"ablation input 'span' {span!r} is not in 'text' {text!r}")
    if not (text[:start] + text[start + len(span) :]).strip():
        raise ValueError("ablation input 'span' is the whole 'text': nothing would be left to answer")
    span_name = inputs.get("span_name", "hint")
    if not isinstance(span_name, str) or not span_name.strip():
        raise ValueError(
            f"ablation input 'span_name' must be a non-empty string (what the question calls the span, "
            f"e.g. 'hint'); got {span_name!r}"
        )
    prefix = inputs.get("answer_prefix")
    if prefix is not None and not isinstance(prefix, str):
        raise ValueError(f"ablation input 'answer_prefix' must be a string (the start of the answer); got {prefix!r}")
    choices = inputs.get("choices") or ()
    if not (isinstance(choices, list | tuple) and all(isinstance(c, str) and c for c in choices)):
        raise ValueError(
            f"ablation input 'choices' must be a list of option texts (A, B, … in order); got {choices!r}"
        )
    return AblationExample(
        example_id=0, text=text, span_start=start, span_end=start + len(span), choices=tuple(choices)
    )


def _answer_prefix(inputs: dict, target: LoadedModel) -> str:
    from ...core.models import is_toy_model
    from ...toyworld.world import ANSWER_PREFIX

    prefix = inputs.get("answer_prefix")
    if prefix is None:
        prefix = ANSWER_PREFIX if is_toy_model(target.name) else ""
    return prefix


def _check_fits_the_context(inputs: dict, example: AblationExample, target: LoadedModel) -> None:
    """The target must be able to read the text and answer it (what ``verify`` runs), with or without ``verify``."""
    context = context_length(target.model)
    if context is None:
        return
    max_new_tokens = int(inputs.get("max_new_tokens", 16))
    prompt = target_prompt(target.tokenizer, example.text, _answer_prefix(inputs, target))
    length = len(encode_prompt(target.tokenizer, prompt))
    if length + max_new_tokens > context:
        raise ValueError(
            f"ablation input 'text' is {length} tokens as the target reads it; with {max_new_tokens} answer tokens "
            f"that is longer than the target's context of {context} tokens; shorten 'text'"
        )


def ablation_request(inputs: dict, target: LoadedModel) -> ExplainerExamples:
    """The explainer's question for one pipeline input (the ``request`` hook): one question, no answer, no vector.

    ``inputs``: ``text`` and ``span`` (a part of it, not the whole), optionally ``span_name`` (default ``"hint"``),
    ``template`` (index, default 0), ``answer_prefix`` and ``max_new_tokens`` (default 16; text and answer must fit
    the context). A missing or malformed input is a ValueError.
    """
    example = _request_example(inputs)
    _check_fits_the_context(inputs, example, target)
    span_name = inputs.get("span_name", "hint")
    return ExplainerExamples([ablation_question(example.text, span_name, int(inputs.get("template", 0)))], None)


def parse_ablation(explanation: str) -> dict:
    """The ``parse`` hook: ``changed``, ``prediction`` (the ``<<<content>>>``) and ``valid`` of an explanation."""
    parsed = parse_causal_answer(explanation)
    return {"changed": parsed.changed, "prediction": parsed.content, "valid": parsed.valid}


def verify_ablation(inputs: dict, target: LoadedModel, parsed: dict) -> dict:
    """Re-run the target with and without the span and say whether the explanation held (the ``verify`` hook).

    Returns ``ground_truth``, ``ground_truth_changed``, ``ground_truth_prediction`` and ``verified``; all four are None
    when the question has ``choices`` and an answer names none (no choice, so no ground truth). ``choice_by`` in the
    input reads the choice as the builder's ``--choice_by`` does.
    """
    example = _request_example(inputs)
    prefix = _answer_prefix(inputs, target)
    outcome = run_ablations(
        target,
        [(example.text, example.ablated_text)],
        prefix,
        int(inputs.get("max_new_tokens", 16)),
        choices=[example.choices],
        choice_by=inputs.get("choice_by", "answer"),
    )[0]
    if not outcome.parsed:  # an answer that named no option chose nothing: there is no truth to hold to
        return {"ground_truth": None, "ground_truth_changed": None, "ground_truth_prediction": None, "verified": None}
    original, ablated = outcome.original_choice.choice, outcome.ablated_choice.choice
    truth = ablated if outcome.changed else original
    return {
        "ground_truth": causal_answer(outcome.changed, original, ablated),
        "ground_truth_changed": outcome.changed,
        "ground_truth_prediction": truth,
        "verified": bool(parsed["valid"] and parsed["changed"] == outcome.changed and parsed["prediction"] == truth),
    }
