"""Generation helpers: stop tokens, left-padded batches, greedy continuations, chat prompts."""

from __future__ import annotations

import torch

# End-of-turn tokens of common chat templates: generation stops at any of them.
END_OF_TURN_TOKENS = ("<|end|>", "<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|endoftext|>")


def stop_token_ids(tokenizer, model) -> list[int]:
    """The tokens that end a generation: the tokenizer's and the generation config's EOS, and end-of-turn tokens."""
    ids = set()
    for candidate in (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None)):
        if isinstance(candidate, int):
            ids.add(candidate)
        elif isinstance(candidate, list):
            ids.update(candidate)
    vocab = tokenizer.get_vocab()
    ids.update(vocab[token] for token in END_OF_TURN_TOKENS if token in vocab)
    return sorted(ids)


def pad_token_id(tokenizer, model=None) -> int:
    """The id batches are padded with: the tokenizer's pad token, else its EOS, else the model's first stop token."""
    if tokenizer.pad_token_id is not None:
        return tokenizer.pad_token_id
    if tokenizer.eos_token_id is not None:
        return tokenizer.eos_token_id
    stops = stop_token_ids(tokenizer, model) if model is not None else []
    if not stops:
        raise ValueError("the tokenizer has no pad or EOS token and the model no stop token: set tokenizer.pad_token")
    return stops[0]


def left_padded(prompts: list[list[int]], pad: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Token prompts as one left-padded batch: (ids, attention mask), each (n, longest prompt)."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad, dtype=torch.long, device=device)
    mask = torch.zeros_like(ids)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt) :] = torch.as_tensor(prompt, device=device)
        mask[row, width - len(prompt) :] = 1
    return ids, mask


@torch.no_grad()
def greedy_generate(model, tokenizer, prompts: list[list[int]], max_new_tokens: int) -> torch.Tensor:
    """Greedy continuations (n, new tokens) of a left-padded batch, up to the stop tokens, then padded."""
    stops = stop_token_ids(tokenizer, model)
    pad = pad_token_id(tokenizer, model)
    ids, mask = left_padded(prompts, pad, next(model.parameters()).device)
    width = ids.shape[1]
    generated = model.generate(
        input_ids=ids,
        attention_mask=mask,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        eos_token_id=stops,
        pad_token_id=pad,
    )
    return generated[:, width:]


@torch.no_grad()
def logits_at_answer(
    model,
    tokenizer,
    prompts: list[list[int]],
    answer_ids: list[int],
    max_new_tokens: int,
) -> tuple[torch.Tensor, list[list[int]]]:
    """Each prompt continued greedily until its likeliest next token is an answer token: the (n, vocabulary) logits
    there, and the tokens written before (a model's reasoning before it answers). One left-padded batch.

    A row that reaches a stop token or ``max_new_tokens`` without an answer token gives the logits of its last step.
    With ``max_new_tokens=0`` (a model that answers at once), the logits right after the prompt.
    """
    pad = pad_token_id(tokenizer, model)
    ids, mask = left_padded(prompts, pad, next(model.parameters()).device)
    if max_new_tokens == 0:
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=1).logits[:, -1]
        return logits, [[] for _ in prompts]
    width = ids.shape[1]
    stops = stop_token_ids(tokenizer, model)
    output = model.generate(
        input_ids=ids,
        attention_mask=mask,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        eos_token_id=sorted(set(stops) | set(answer_ids)),
        pad_token_id=pad,
        output_logits=True,
        return_dict_in_generate=True,
    )
    written = output.sequences[:, width:].tolist()
    answers, reasoning = [], []
    for row, tokens in enumerate(written):
        step = next(
            (index for index, token in enumerate(tokens) if token in answer_ids or token in stops),
            len(output.logits) - 1,
        )
        answers.append(output.logits[step][row])
        reasoning.append(tokens[:step])
    return torch.stack(answers), reasoning


def prompt_ids(tokenizer, question: str) -> list[int]:
    """The explainer's prompt, as in training: the chat template with a generation prompt when there is one."""
    if tokenizer.chat_template:
        return list(
            tokenizer.apply_chat_template(
                [{"role": "user", "content": question}], add_generation_prompt=True, tokenize=True, return_dict=True
            )["input_ids"]
        )
    return tokenizer(question).input_ids
