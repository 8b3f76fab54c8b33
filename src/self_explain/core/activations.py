"""Reading a model's residual stream on a batch of token sequences."""

from __future__ import annotations

import torch

from .architectures import adapter_for


def tokenize_texts(tokenizer, texts: list[str], max_length: int | None = None) -> list[list[int]]:
    """Token ids of each text with the tokenizer's special tokens; one BOS even if the text starts with it."""
    bos = tokenizer.bos_token_id
    sequences = []
    for ids in tokenizer(list(texts)).input_ids if texts else []:
        if bos is not None and len(ids) >= 2 and ids[0] == bos and ids[1] == bos:
            ids = ids[1:]
        sequences.append(list(ids[:max_length] if max_length else ids))
    return sequences


# The first position of a sequence is never read for features: it is BOS, or, in a tokenizer without one (SmolLM2),
# the first word, where the model parks attention and whose residual has an outsized norm (an SAE trained on it
# spends its features there: 93 % dead at SmolLM2 layer 18).
FIRST_READ_POSITION = 1


class _StopForward(Exception):
    pass


@torch.no_grad()
def read_layer_inputs(model, sequences: list[list[int]], layers: list[int]) -> dict[int, torch.Tensor]:
    """Block inputs (batch, longest, hidden) at each of ``layers`` of right-padded sequences; padding is garbage."""
    if not sequences or min(len(s) for s in sequences) == 0:
        raise ValueError("read_layer_inputs needs at least one sequence and no empty sequence")
    blocks = adapter_for(model).layers(model)
    last = max(layers)
    ids = torch.zeros(len(sequences), max(len(s) for s in sequences), dtype=torch.long, device=model.device)
    mask = torch.zeros_like(ids)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.as_tensor(sequence, device=model.device)
        mask[row, : len(sequence)] = 1
    captured: dict[int, torch.Tensor] = {}

    def hook(index: int):
        def capture(module, args, kwargs):
            captured[index] = (args[0] if args else kwargs["hidden_states"]).detach()
            if index == last:
                raise _StopForward

        return capture

    handles = [blocks[index].register_forward_pre_hook(hook(index), with_kwargs=True) for index in sorted(set(layers))]
    try:
        model(input_ids=ids, attention_mask=mask, use_cache=False)
    except _StopForward:
        pass
    finally:
        for handle in handles:
            handle.remove()
    return captured
