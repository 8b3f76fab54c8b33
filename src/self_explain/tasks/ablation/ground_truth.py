"""Ground truth of input ablation: the target's greedy answer with and without a span of its prompt.

Shared by the builder and the pipeline's ``verify``. The answers come from batched greedy generation;
the change in log-probability of the original answer comes from the engine's ablation sweep, which
reuses each prompt's clean prefix and runs many ablations per pass.
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
    """The target's answers to a prompt with and without its span; ``changed`` says whether they differ.

    Args:
        original_prompt (`str`): What the target read with the span (chat template and answer prefix included).
        ablated_prompt (`str`): What it read without the span.
        token_start (`int`): First token of the original prompt that was replaced.
        token_end (`int`): End (exclusive) of the replaced tokens: ``[token_start, token_end)``.
        original_prediction (`str`): The greedy answer with the span.
        ablated_prediction (`str`): The greedy answer without it.
        answer_logprob_change (`float`): Change of the original answer's log-probability when the span is removed,
            rounded to 4 decimals.
        original_choice (`ChoiceParse`): The option the answer with the span chose (or its first token).
        ablated_choice (`ChoiceParse`): The option the answer without the span chose (or its first token).
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
        """Whether the option chosen differs (the first answer token, for a text without options or an answer that
        named none; see `parsed`)."""
        return self.original_choice.choice != self.ablated_choice.choice

    @property
    def parsed(self) -> bool:
        """Whether both answers are choices: a question with options whose answer named none of them is unparsed,
        and its ``changed`` says nothing about a change of choice."""
        return self.original_choice.parsed and self.ablated_choice.parsed


def target_prompt(tokenizer, content: str, answer_prefix: str = "") -> str:
    """What the target reads: the user message in its chat template (when it has one), then the answer prefix.

    Args:
        tokenizer (`PreTrainedTokenizerBase`): The target's tokenizer (its chat template, if any, is applied).
        content (`str`): The user message.
        answer_prefix (`str`, *optional*, defaults to `""`): Text the answer continues (after a space, unless the
            rendered prompt ends in whitespace such as a chat template's newline); "" for none.

    Returns:
        `str`: The rendered prompt.
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
    """The token ids of a prompt made by `target_prompt`.

    Args:
        tokenizer (`PreTrainedTokenizerBase`): The target's tokenizer.
        prompt (`str`): The rendered prompt.

    Returns:
        `list[int]`: Its ids; special tokens are added only without a chat template (a rendered one holds them).
    """
    # A rendered chat template already holds its special tokens.
    return tokenizer(prompt, add_special_tokens=not tokenizer.chat_template).input_ids


def token_edit(original: list[int], ablated: list[int]) -> tuple[int, int, tuple[int, ...]]:
    """The span [start, end) of ``original`` and its replacement that give ``ablated`` (shared prefix and suffix kept).

    Args:
        original (`list[int]`): The token ids with the span.
        ablated (`list[int]`): The token ids without it.

    Returns:
        `tuple[int, int, tuple[int, ...]]`: (start, end, replacement tokens).

    Raises:
        ValueError: When removing the span leaves the tokens unchanged.
    """
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
    """Each prompt's greedy continuation up to and including its first stop token (batched, left-padded).

    Args:
        loaded (`LoadedModel`): The target model and its tokenizer.
        prompts (`list[list[int]]`): The prompts' token ids.
        max_new_tokens (`int`): Longest continuation.

    Returns:
        `list[list[int]]`: The continuation tokens of each prompt.
    """
    stops = set(stop_token_ids(loaded.tokenizer, loaded.model))
    answers = []
    for tokens in greedy_generate(loaded.model, loaded.tokenizer, prompts, max_new_tokens).tolist():
        cut = next((i + 1 for i, token in enumerate(tokens) if token in stops), len(tokens))
        answers.append(tokens[:cut])
    return answers


def answer_text(tokenizer, answer: list[int]) -> str:
    """An answer's text: decoded without special tokens, stripped.

    Args:
        tokenizer (`PreTrainedTokenizerBase`): The target's tokenizer.
        answer (`list[int]`): The answer's token ids.

    Returns:
        `str`: The answer.
    """
    return tokenizer.decode(answer, skip_special_tokens=True).strip()


# How the option an answer chose is read (``--choice_by``): parsed from the greedy answer, or the option the model
# scores highest after the prompt by its letter (A, B, …; as harnesses score multiple choice) or by its text.
CHOICE_BY = ("answer", "logprob", "logprob_text")


def continuation_ids(tokenizer, prompt: str, continuation: str) -> list[int]:
    """The tokens that follow a rendered prompt when the model writes ``continuation`` (after a space, unless the
    prompt ends in whitespace), as the tokenizer splits the whole text.

    Args:
        tokenizer (`PreTrainedTokenizerBase`): The target's tokenizer.
        prompt (`str`): A prompt made by `target_prompt`.
        continuation (`str`): What is written after it (an option's letter or text).

    Returns:
        `list[int]`: The continuation's token ids (at least one).
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
    """The log-probability of each continuation after its prompt, teacher-forced (right-padded batches).

    Args:
        model (`PreTrainedModel`): The target.
        prompts (`list[list[int]]`): Each sequence's prompt token ids.
        continuations (`list[list[int]]`): Each sequence's continuation token ids (non-empty).
        batch_size (`int`, *optional*, defaults to 32): Sequences per forward pass.
        mean (`bool`, *optional*, defaults to `False`): The mean per token instead of the sum (texts of different
            lengths compared).

    Returns:
        `list[float]`: One log-probability per (prompt, continuation).
    """
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
    """The option the model scores highest after each prompt (None for a prompt whose question has no options).

    Args:
        loaded (`LoadedModel`): The target.
        prompts (`list[str]`): The rendered prompts (`target_prompt`).
        prompt_ids (`list[list[int]]`): Their token ids (`encode_prompt`).
        choices (`list[Sequence[str]]`): Each prompt's options, in letter order.
        by (`str`): ``logprob``: each option's letter (A, B, …), as evaluation harnesses score multiple choice;
            ``logprob_text``: each option's text, by its mean log-probability per token.
        batch_size (`int`, *optional*, defaults to 32): Sequences per forward pass.

    Returns:
        `list[ChoiceParse | None]`: The chosen option (``via="logprob"``) of each prompt, or None without options.

    Raises:
        ValueError: With ``by="logprob"``, for a question of more options than letters.
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

    ``names`` (e.g. "example 12") say which input an error is about. The log-prob change is rounded to 4
    decimals: its last float bits depend on which examples share a batch, and a dataset must not.

    Args:
        loaded (`LoadedModel`): The target model and its tokenizer.
        pairs (`list[tuple[str, str]]`): (text, text without the span) per input, as user messages.
        answer_prefix (`str`, *optional*, defaults to `""`): Text after the assistant marker that the answer continues.
        max_new_tokens (`int`, *optional*, defaults to 16): Longest greedy answer, in tokens.
        names (`list[str]`, *optional*): What errors call each input; default ``"input <i>"``.
        choices (`list[list[str]]`, *optional*): Each input's options (A, B, … in order; empty when it has none):
            ``changed`` compares the option each answer chose (`parse_choice`), else the first answer token.
        choice_by (`str`, *optional*, defaults to `"answer"`): How the chosen option is read (`CHOICE_BY`):
            ``answer`` parses the greedy answer (one that names no option is unparsed); ``logprob`` and
            ``logprob_text`` take the option the model scores highest by its letter or its text, so every input
            with options gets a choice (inputs without options compare the first answer token).
        batch_size (`int`, *optional*, defaults to 32): Sequences per forward pass when options are scored.

    Returns:
        `list[AblationOutcome]`: One per pair, in order.

    Raises:
        ValueError: Naming the input, when its prompt and answer do not fit the target's context, or removing the
            span leaves its tokens unchanged; or for an unknown ``choice_by``.
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
