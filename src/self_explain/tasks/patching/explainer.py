"""The explainer side of patching: dataset rows and pipeline inputs to questions, answers and vectors.

Reads our schema and the reference's (Transluce ``act_patch_*``: text rebuilt from ``input_tokens``, ``layer`` the
window's list). The explainer sees one vector per row, as in the reference: the counterfactual's residual stream at
the output of the window's first block at the aligned position, the vector written at every block of the window.
It is read from the target, or from the dataset when it stores one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from ...core.engine import Patch, clean_runs, patch_sweep
from ...core.models import LoadedModel, context_length
from ..base import ExplainerExamples
from ..causal_answers import parse_causal_answer
from .positions import align_positions
from .prompts import patching_answer, patching_question
from .sources import unknown_words

REQUIRED_COLUMNS = (
    "counterfactual_text",
    "layer",
    "patch_position",
    "is_different",
    "original_continuation",
    "ablated_continuation",
)


def _check_columns(column_names: list[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in column_names]
    if "original_text" not in column_names and "input_tokens" not in column_names:
        missing.append("original_text (or input_tokens)")
    if missing:
        raise ValueError(
            f"the dataset is not a patching dataset: columns {missing} are missing (it has {sorted(column_names)})"
        )


def _original_text(row: dict, tokenizer) -> str:
    if row.get("original_text"):
        return row["original_text"]
    special = set(tokenizer.all_special_tokens)
    return tokenizer.convert_tokens_to_string([t for t in row["input_tokens"] if t not in special]).strip()


def _num_layers(target: LoadedModel) -> int:
    return len(target.adapter.layers(target.model))


def counterfactual_vectors(
    target: LoadedModel, texts: list[str], positions: list[int], layers: list[int]
) -> torch.Tensor:
    """(n, hidden): each row's counterfactual residual at the output of block ``layer``, at its position."""
    num_layers = _num_layers(target)
    unique = sorted(set(texts))
    encoded = {text: target.tokenizer(text).input_ids for text in unique}
    for index, (text, position, layer) in enumerate(zip(texts, positions, layers)):
        if not 0 <= layer < num_layers:
            raise ValueError(f"row {index}: layer {layer} out of range: the target has {num_layers} layers")
        if not 0 <= position < len(encoded[text]):
            raise ValueError(
                f"row {index}: counterfactual position {position} out of range for {text!r} "
                f"({len(encoded[text])} tokens with the target's tokenizer)"
            )
    runs = dict(zip(unique, clean_runs(target.model, [encoded[t] for t in unique])))
    return torch.stack([runs[t].outputs[layer, position] for t, position, layer in zip(texts, positions, layers)])


def patching_examples(dataset, target: LoadedModel, seed: int = 0) -> ExplainerExamples:
    """The explainer's examples of a patching dataset (the task's ``examples`` hook), ours or the reference's.

    The vector is the dataset's (``vector`` or ``patch_position.intervention_vector``) when stored, else read from the
    target.
    """
    _check_columns(dataset.column_names)
    rows = dataset.to_list()
    windows = [
        row.get("layers") or (list(row["layer"]) if isinstance(row["layer"], list) else [row["layer"]]) for row in rows
    ]
    layers = [window[0] for window in windows]
    questions, answers = [], []
    for index, (row, window) in enumerate(zip(rows, windows)):
        if row.get("question"):
            questions.append(row["question"])
        else:
            token = row["patch_position"]["orig_text_token"].strip()
            text = _original_text(row, target.tokenizer)
            questions.append(patching_question(text, token, window, random.Random(f"{seed}:{index}")))
        if row.get("answer"):
            answers.append(row["answer"])
        else:
            answers.append(
                patching_answer(
                    row["is_different"], row["original_continuation"].strip(), row["ablated_continuation"].strip()
                )
            )
    if "vector" in dataset.column_names:
        vectors = torch.tensor([row["vector"] for row in rows], dtype=torch.float32)
    elif rows and all(row["patch_position"].get("intervention_vector") is not None for row in rows):
        vectors = torch.tensor([row["patch_position"]["intervention_vector"] for row in rows], dtype=torch.float32)
    else:
        vectors = counterfactual_vectors(
            target,
            [row["counterfactual_text"] for row in rows],
            [row["patch_position"]["counterfact_pos"] for row in rows],
            layers,
        )
    return ExplainerExamples(questions, answers, vectors, torch.tensor(layers, dtype=torch.long))


@dataclass(frozen=True)
class PatchRequest:
    """A pipeline input, validated and tokenized; ``layers`` is the window, ``token`` the patched position."""

    text: str
    original: list[int]
    counterfactual: list[int]
    layers: list[int]
    token: int
    counterfact_pos: int


def _request_fields(inputs: dict, target: LoadedModel) -> PatchRequest:
    for key in ("text", "counterfactual"):
        if not isinstance(inputs.get(key), str) or not inputs[key].strip():
            raise ValueError(f"patching input needs a non-empty string {key!r}; got {inputs.get(key)!r}")
    if "layers" in inputs and "layer" in inputs:
        raise ValueError(
            f"patching input gives both 'layers' {inputs['layers']!r} and 'layer' {inputs['layer']!r}; "
            "give one of them"
        )
    layers = inputs.get("layers", inputs.get("layer"))
    if isinstance(layers, int):
        layers = [layers]
    if not isinstance(layers, list) or not layers or not all(isinstance(x, int) for x in layers):
        raise ValueError(f"patching input needs 'layers': a list of consecutive layer indices; got {layers!r}")
    num_layers = _num_layers(target)
    if layers != list(range(layers[0], layers[0] + len(layers))) or layers[0] < 0 or layers[-1] >= num_layers:
        raise ValueError(
            f"patching input 'layers' {layers} out of range: expected consecutive layers within 0..{num_layers - 1}"
        )
    token = inputs.get("token")
    context = context_length(target.model)
    for key in ("text", "counterfactual"):
        unknown = unknown_words(target.tokenizer, inputs[key])
        if unknown:
            raise ValueError(
                f"patching input {key!r} has words outside the target's vocabulary, which it would read as "
                f"{target.tokenizer.unk_token!r}: {unknown}; use words the target knows"
            )
        length = len(target.tokenizer(inputs[key]).input_ids)
        if context is not None and length > context:
            raise ValueError(
                f"patching input {key!r} has {length} tokens, longer than the target's context of {context} tokens; "
                "shorten it"
            )
    original = target.tokenizer(inputs["text"]).input_ids
    counterfactual = target.tokenizer(inputs["counterfactual"]).input_ids
    if not isinstance(token, int) or not 0 <= token < len(original):
        raise ValueError(
            f"patching input needs 'token': the position of the patched token in 'text' (0..{len(original) - 1} "
            f"with the target's tokenizer); got {token!r}"
        )
    counterfact_pos = inputs.get("counterfactual_token")
    if counterfact_pos is None:
        aligned = {p.orig_pos: p.counterfact_pos for p in align_positions(original, counterfactual)}
        if token in aligned:
            counterfact_pos = aligned[token]
        elif len(original) == len(counterfactual):
            counterfact_pos = token
        else:
            raise ValueError(
                f"token {token} of 'text' has no aligned position in 'counterfactual'; give 'counterfactual_token'"
            )
    if not isinstance(counterfact_pos, int) or not 0 <= counterfact_pos < len(counterfactual):
        raise ValueError(f"'counterfactual_token' {counterfact_pos!r} out of range (0..{len(counterfactual) - 1})")
    return PatchRequest(inputs["text"], original, counterfactual, layers, token, counterfact_pos)


def patching_request(inputs: dict, target: LoadedModel) -> ExplainerExamples:
    """The explainer's question and vector for one pipeline input (the ``request`` hook).

    ``inputs``: ``text`` and ``counterfactual`` (in the target's vocabulary and context), ``layers`` (consecutive, or
    one ``layer``), ``token`` (the patched position in ``text``), optionally ``counterfactual_token`` (default: the
    aligned position) and ``template`` (default 0). An invalid input is a ValueError.
    """
    request = _request_fields(inputs, target)
    token_text = target.tokenizer.decode([request.original[request.token]]).strip()
    question = patching_question(request.text, token_text, request.layers, int(inputs.get("template", 0)))
    run = clean_runs(target.model, [request.counterfactual])[0]
    vector = run.outputs[request.layers[0], request.counterfact_pos][None]
    return ExplainerExamples([question], None, vector, torch.tensor([request.layers[0]]))


def parse_patching(explanation: str) -> dict:
    """The ``parse`` hook: ``changed``, ``prediction`` (the ``<<<content>>>``) and ``valid``."""
    parsed = parse_causal_answer(explanation)
    return {"changed": parsed.changed, "prediction": parsed.content, "valid": parsed.valid}


def verify_patching(inputs: dict, target: LoadedModel, parsed: dict) -> dict:
    """Re-run the described patch on the target, as the builder patches, and say whether the explanation held.

    Besides ``ground_truth``, ``ground_truth_changed``, ``ground_truth_prediction`` (stripped) and ``verified``,
    returns ``ground_truth_token`` and ``ground_truth_token_id``: the token decoded with its spaces, so a
    whitespace-only token shows as ``' '`` or ``'\\n'`` where the stripped prediction is ``''``.
    """
    request = _request_fields(inputs, target)
    original_run, counterfactual_run = clean_runs(target.model, [request.original, request.counterfactual])
    patch = Patch(
        tuple(request.layers), request.token, counterfactual_run.outputs[request.layers[0], request.counterfact_pos]
    )
    patched_id = int(patch_sweep(target.model, [original_run], [patch]).argmax(-1)[0])
    clean_id = int(original_run.logits.argmax())
    changed = patched_id != clean_id
    original_next = target.tokenizer.decode([clean_id]).strip()
    patched_next = target.tokenizer.decode([patched_id]).strip()
    truth = patched_next if changed else original_next
    truth_id = patched_id if changed else clean_id
    return {
        "ground_truth": patching_answer(changed, original_next, patched_next),
        "ground_truth_changed": changed,
        "ground_truth_prediction": truth,
        "ground_truth_token": target.tokenizer.decode([truth_id]),
        "ground_truth_token_id": truth_id,
        "verified": bool(parsed["valid"] and parsed["changed"] == changed and parsed["prediction"] == truth),
    }
