"""Ground truth of input ablation: the target's greedy answer with and without a span of its prompt.

Shared by the builder and the pipeline's ``verify``. Answers come from batched greedy generation; the change in
the original answer's log-probability comes from the engine's ablation sweep (clean prefix reused, many ablations
per pass).
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ...core.engine import Ablation, ablation_sweep, clean_runs
from ...core.generation import greedy_generate, stop_token_ids
from ...core.models import LoadedModel, context_length
from .options import ChoiceParse, parse_choice


@dataclass(frozen=True)
class AblationOutcome:
    """The target's answers to a prompt with and without its span (tokens ``[token_start, token_end)`` replaced).

    ``answer_logprob_change`` (the original answer's, when the span is removed) is rounded to 4 decimals.
    """

    original_prompt: str
    ablated_prompt: str
    token_start: int  # tokens [token_start, token_end) of the original prompt were replaced
    token_end: int
    original_prediction: str
    ablated_prediction: str
    answer_logprob_change: float
    original_choice: ChoiceParse
    ablated_choice: ChoiceParse

    @property
    def changed(self) -> bool:
        """Whether the chosen option differs (the first answer token, without options or when an answer named none)."""
        return self.original_choice.choice != self.ablated_choice.choice

    @property
    def parsed(self) -> bool:
        """Whether both answers are choices; when not, ``changed`` says nothing about a change of choice."""
        return self.original_choice.parsed and self.ablated_choice.parsed


def target_prompt(tokenizer, content: str, answer_prefix: str = "") -> str:
    """What the target reads: the user message in its chat template (when it has one), then the answer prefix.

    The prefix follows a space, unless the rendered prompt ends in whitespace (such as a chat template's newline).
    """
    if tokenizer.chat_template:
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
        )
    else:
        rendered = content
    if not answer_prefix:
        return rendered
    # After a chat template's "assistant\n" the prefix starts the line; after plain text it is a new word.
    return rendered + answer_prefix if rendered[-1:].isspace() else rendered + " " + answer_prefix


def encode_prompt(tokenizer, prompt: str) -> list[int]:
    """A `target_prompt`'s token ids; special tokens added only without a chat template (a rendered one holds them)."""
    # A rendered chat template already holds its special tokens.
    return tokenizer(prompt, add_special_tokens=not tokenizer.chat_template).input_ids


def token_edit(original: list[int], ablated: list[int]) -> tuple[int, int, tuple[int, ...]]:
    """``(start, end, replacement)``: the span of ``original`` replaced to give ``ablated``; ValueError if equal."""
    prefix = 0
    while prefix < min(len(original), len(ablated)) and original[prefix] == ablated[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(original), len(ablated)) - prefix and original[-1 - suffix] == ablated[-1 - suffix]:
        suffix += 1
    end = len(original) - suffix
    if end <= prefix:
        raise ValueError("removing the span leaves the target's tokens unchanged")
    return prefix, end, tuple(ablated[prefix : len(ablated) - suffix])


def greedy_answers(loaded: LoadedModel, prompts: list[list[int]], max_new_tokens: int) -> list[list[int]]:
    """Each prompt's greedy continuation up to and including its first stop token (batched, left-padded)."""
    stops = set(stop_token_ids(loaded.tokenizer, loaded.model))
    answers = []
    for tokens in greedy_generate(loaded.model, loaded.tokenizer, prompts, max_new_tokens).tolist():
        cut = next((i + 1 for i, token in enumerate(tokens) if token in stops), len(tokens))
        answers.append(tokens[:cut])
    return answers


def answer_text(tokenizer, answer: list[int]) -> str:
    """An answer's text: decoded without special tokens, stripped."""
    return tokenizer.decode(answer, skip_special_tokens=True).strip()


# How the option an answer chose is read (``--choice_by``): parsed from the greedy answer, or the option the model
# scores highest after the prompt by its letter (A, B, …; as harnesses score multiple choice) or by its text.
CHOICE_BY = ("answer", "logprob", "logprob_text")


def continuation_ids(tokenizer, prompt: str, continuation: str) -> list[int]:
    """The tokens after a rendered prompt when the model writes ``continuation`` (after a space, unless the prompt
    ends in whitespace), as the tokenizer splits the whole text; at least one.
    """
    separator = "" if prompt[-1:].isspace() else " "
    alone = tokenizer(prompt, add_special_tokens=False).input_ids
    whole = tokenizer(prompt + separator + continuation, add_special_tokens=False).input_ids
    if whole[: len(alone)] == alone and len(whole) > len(alone):
        return whole[len(alone) :]
    return tokenizer(separator + continuation, add_special_tokens=False).input_ids or whole[-1:]


@torch.no_grad()
def continuation_logprobs(
    model, prompts: list[list[int]], continuations: list[list[int]], batch_size: int = 32, mean: bool = False
) -> list[float]:
    """The teacher-forced log-probability of each continuation after its prompt (sum, or per-token ``mean``)."""
    device = model.device
    scores = []
    for start in range(0, len(prompts), batch_size):
        chunk = list(zip(prompts[start : start + batch_size], continuations[start : start + batch_size]))
        width = max(len(p) + len(c) for p, c in chunk)
        ids = torch.zeros(len(chunk), width, dtype=torch.long, device=device)
        mask = torch.zeros_like(ids)
        for row, (prompt, continuation) in enumerate(chunk):
            ids[row, : len(prompt) + len(continuation)] = torch.tensor(prompt + continuation, device=device)
            mask[row, : len(prompt) + len(continuation)] = 1
        logprobs = model(input_ids=ids, attention_mask=mask).logits.float().log_softmax(-1)
        for row, (prompt, continuation) in enumerate(chunk):
            positions = torch.arange(len(prompt) - 1, len(prompt) + len(continuation) - 1, device=device)
            picked = logprobs[row, positions, torch.tensor(continuation, device=device)]
            scores.append(float(picked.mean() if mean else picked.sum()))
    return scores


def highest_scored_options(
    loaded: LoadedModel,
    prompts: list[str],
    prompt_ids: list[list[int]],
    choices: list[Sequence[str]],
    by: str,
    batch_size: int = 32,
) -> list[ChoiceParse | None]:
    """The option the model scores highest after each prompt (None for a prompt without options).

    ``by="logprob"`` scores each option's letter (A, B, …, as evaluation harnesses do; ValueError for more options than
    letters), ``"logprob_text"`` each option's text by its mean log-probability per token.
    """
    sequences, continuations, owners = [], [], []
    too_many = next(
        (options for options in choices if by == "logprob" and len(options) > len(string.ascii_uppercase)), None
    )
    if too_many is not None:
        raise ValueError(
            f"--choice_by logprob scores option letters A-Z, but a question has {len(too_many)} options; "
            "use --choice_by logprob_text"
        )
    for index, (prompt, ids, options) in enumerate(zip(prompts, prompt_ids, choices)):
        for number, option in enumerate(options):
            written = string.ascii_uppercase[number] if by == "logprob" else option
            sequences.append(ids)
            continuations.append(continuation_ids(loaded.tokenizer, prompt, written))
            owners.append((index, number))
    scores = continuation_logprobs(loaded.model, sequences, continuations, batch_size, mean=by == "logprob_text")
    best: dict[int, tuple[float, int]] = {}
    for (owner, number), score in zip(owners, scores):
        if owner not in best or score > best[owner][0]:  # ties: the first option
            best[owner] = (score, number)
    return [ChoiceParse(choices[i][best[i][1]], "logprob") if i in best else None for i in range(len(prompts))]


def run_ablations(
    loaded: LoadedModel,
    pairs: list[tuple[str, str]],
    answer_prefix: str = "",
    max_new_tokens: int = 16,
    names: list[str] | None = None,
    choices: list[Sequence[str]] | None = None,
    choice_by: str = "answer",
    batch_size: int = 32,
) -> list[AblationOutcome]:
    """For each (text, text without the span): the greedy answers and the change of the original answer's log-prob.

    The log-prob change is rounded to 4 decimals: its last float bits depend on which examples share a batch, and a
    dataset must not. ``changed`` compares the chosen options (``choice_by``: the parsed answer, or the highest scored
    option by letter or text) when an input has options, else the first answer token. Raises ValueError, naming the
    input (``names``), when it does not fit the target's context or removing the span leaves its tokens unchanged.
    """
    names = names or [f"input {i}" for i in range(len(pairs))]
    context = context_length(loaded.model)
    tokenizer = loaded.tokenizer
    originals = [target_prompt(tokenizer, text, answer_prefix) for text, _ in pairs]
    ablateds = [target_prompt(tokenizer, ablated, answer_prefix) for _, ablated in pairs]
    original_ids = [encode_prompt(tokenizer, p) for p in originals]
    ablated_ids = [encode_prompt(tokenizer, p) for p in ablateds]
    edits = []
    for index, (original, ablated) in enumerate(zip(original_ids, ablated_ids)):
        if context is not None and len(original) + max_new_tokens > context:
            raise ValueError(
                f"{names[index]} has {len(original)} prompt tokens; with {max_new_tokens} answer tokens "
                f"(--max-new-tokens) that is longer than the model's context of {context} tokens; lower "
                "--max-new-tokens or shorten the text"
            )
        try:
            edits.append(token_edit(original, ablated))
        except ValueError as error:
            raise ValueError(f"{names[index]} ({pairs[index][0]!r}): {error}") from error
    answers = greedy_answers(loaded, original_ids + ablated_ids, max_new_tokens)
    original_answers, ablated_answers = answers[: len(pairs)], answers[len(pairs) :]
    ablations = [Ablation(i, start, end, replacement) for i, (start, end, replacement) in enumerate(edits)]
    scored = [a if a else [tokenizer.eos_token_id] for a in original_answers]
    result = ablation_sweep(loaded.model, clean_runs(loaded.model, original_ids), ablations, answers=scored)
    change = result.effect.tolist()
    choices = choices or [()] * len(pairs)
    if choice_by not in CHOICE_BY:
        raise ValueError(f"--choice_by must be one of {', '.join(CHOICE_BY)}, got {choice_by!r}")
    scored: list[ChoiceParse | None] = [None] * (2 * len(pairs))
    if choice_by != "answer":
        scored = highest_scored_options(
            loaded, originals + ablateds, original_ids + ablated_ids, list(choices) * 2, choice_by, batch_size
        )

    def chosen(answer: list[int], options, by_score: ChoiceParse | None) -> ChoiceParse:
        if by_score is not None:
            return by_score
        text = answer_text(tokenizer, answer)
        pieces = [tokenizer.decode([token], skip_special_tokens=True) for token in answer]
        first = next((piece for piece in pieces if piece.strip()), "")
        return parse_choice(text, list(options), first)

    return [
        AblationOutcome(
            original_prompt=originals[i],
            ablated_prompt=ablateds[i],
            token_start=edits[i][0],
            token_end=edits[i][1],
            original_prediction=answer_text(tokenizer, original_answers[i]),
            ablated_prediction=answer_text(tokenizer, ablated_answers[i]),
            answer_logprob_change=round(change[i], 4),
            original_choice=chosen(original_answers[i], choices[i], scored[i]),
            ablated_choice=chosen(ablated_answers[i], choices[i], scored[len(pairs) + i]),
        )
        for i in range(len(pairs))
    ]
