"""Interventions on the residual stream: read, patch, and batched patch sweeps.

Nothing here is task-specific. The residual stream "at layer l" is the input of decoder layer l
(``hidden_states[l]`` in transformers' convention), for l in [0, num_layers).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from transformers import DynamicCache

from .models import adapter_for


def _right_padded(sequences: list[list[int]], device) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask of sequences padded on the right (causal attention never sees the padding)."""
    ids = torch.zeros(len(sequences), max(len(s) for s in sequences), dtype=torch.long, device=device)
    mask = torch.zeros_like(ids)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.as_tensor(sequence, device=device)
        mask[row, : len(sequence)] = 1
    return ids, mask


@torch.no_grad()
def last_token_logits(model, sequences: list[list[int]], batch_size: int = 64) -> torch.Tensor:
    """Next-token logits after each token sequence, batched with right padding: (n, vocab)."""
    device = model.device
    outputs = []
    for start in range(0, len(sequences), batch_size):
        chunk = sequences[start : start + batch_size]
        lengths = torch.tensor([len(s) for s in chunk], device=device)
        ids, mask = _right_padded(chunk, device)
        logits = model(input_ids=ids, attention_mask=mask).logits
        outputs.append(logits[torch.arange(len(chunk), device=device), lengths - 1].float())
    return torch.cat(outputs) if outputs else torch.empty(0)


@dataclass(frozen=True)
class Patch:
    """Write ``vectors`` into the residual stream at ``position`` of prompt ``prompt``, at each layer of ``layers``.

    ``vectors`` is (len(layers), hidden) — one vector per patched layer — or (hidden,) for the same at each.
    """

    layers: tuple[int, ...]
    position: int
    vectors: torch.Tensor
    prompt: int = 0

    def __post_init__(self):
        layers = tuple(self.layers)
        if not layers or list(layers) != list(range(layers[0], layers[0] + len(layers))):
            raise ValueError(f"patch layers must be a non-empty run of consecutive layers, got {list(layers)}")
        if not (self.vectors.dim() == 1 or (self.vectors.dim() == 2 and self.vectors.shape[0] == len(layers))):
            raise ValueError(
                f"patch vectors must be (hidden,) or ({len(layers)}, hidden) for layers {list(layers)}, "
                f"got shape {tuple(self.vectors.shape)}"
            )
        object.__setattr__(self, "layers", layers)

    @property
    def start_layer(self) -> int:
        return self.layers[0]

    def vector_at(self, layer: int) -> torch.Tensor:
        return self.vectors if self.vectors.dim() == 1 else self.vectors[layer - self.start_layer]


@dataclass
class CleanRun:
    """What one unpatched forward pass leaves behind for patching: layer inputs, keys and values."""

    input_ids: torch.Tensor  # (T,)
    residuals: torch.Tensor  # (num_layers, T, hidden): input of each decoder layer
    keys: list[torch.Tensor]  # per layer, (1, kv_heads, T, head_dim), as the attention caches them
    values: list[torch.Tensor]
    logits: torch.Tensor  # (vocab,) next-token logits after the last position

    @property
    def length(self) -> int:
        return int(self.input_ids.shape[0])


@contextmanager
def _capture_layer_inputs(layers):
    captured: list[torch.Tensor | None] = [None] * len(layers)

    def hook(index):
        def capture(module, args, kwargs):
            captured[index] = (args[0] if args else kwargs["hidden_states"]).detach()

        return capture

    handles = [layer.register_forward_pre_hook(hook(i), with_kwargs=True) for i, layer in enumerate(layers)]
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()


def _check_lengths(model, sequences) -> None:
    limit = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)
    for index, sequence in enumerate(sequences):
        if len(sequence) == 0:
            raise ValueError(f"sequence {index} is empty")
        if limit is not None and len(sequence) > limit:
            raise ValueError(
                f"sequence {index} has {len(sequence)} tokens, longer than the model's context of {limit} tokens"
            )


@torch.no_grad()
def clean_runs(model, sequences: list[list[int]], batch_size: int = 32) -> list[CleanRun]:
    """Unpatched forward passes, batched with right padding (causal attention makes padding invisible)."""
    _check_lengths(model, sequences)
    layers = adapter_for(model).layers(model)
    device = model.device
    runs: list[CleanRun] = []
    for start in range(0, len(sequences), batch_size):
        chunk = sequences[start : start + batch_size]
        lengths = [len(s) for s in chunk]
        ids, mask = _right_padded(chunk, device)
        with _capture_layer_inputs(layers) as captured:
            # A config-free cache keeps every position, also for sliding-window layers.
            output = model(input_ids=ids, attention_mask=mask, past_key_values=DynamicCache(), use_cache=True)
        cache = output.past_key_values
        residuals = torch.stack(captured, dim=1)  # (batch, L, T, d)
        for row, length in enumerate(lengths):
            keys = [cache.layers[j].keys[row : row + 1, :, :length] for j in range(len(layers))]
            runs.append(
                CleanRun(
                    input_ids=ids[row, :length],
                    residuals=residuals[row, :, :length],
                    keys=keys,
                    values=[cache.layers[j].values[row : row + 1, :, :length] for j in range(len(layers))],
                    logits=output.logits[row, length - 1].float(),
                )
            )
    return runs


def read_residual(model, sequence: list[int], layer: int, position: int) -> torch.Tensor:
    """The residual stream (input of decoder ``layer``) at ``position``: (hidden,)."""
    return clean_runs(model, [sequence])[0].residuals[layer, position]


@torch.no_grad()
def patch_naive(model, sequence: list[int], patch: Patch) -> torch.Tensor:
    """Reference semantics of a patch: one full forward pass with hooks. Returns last-token logits (vocab,)."""
    layers = adapter_for(model).layers(model)
    handles = []
    for layer in patch.layers:

        def overwrite(module, args, kwargs, layer=layer):
            hidden = (args[0] if args else kwargs["hidden_states"]).clone()
            hidden[:, patch.position] = patch.vector_at(layer).to(hidden.dtype)
            if args:
                return (hidden, *args[1:]), kwargs
            return args, {**kwargs, "hidden_states": hidden}

        handles.append(layers[layer].register_forward_pre_hook(overwrite, with_kwargs=True))
    try:
        ids = torch.as_tensor(sequence, device=model.device).unsqueeze(0)
        return model(input_ids=ids).logits[0, -1].float()
    finally:
        for handle in handles:
            handle.remove()


class _FixedPrefixCache:
    """Stands in for a transformers ``Cache`` during one layer call: the clean keys and values come first."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor):
        self.keys, self.values = keys, values

    def update(self, key_states, value_states, layer_idx, *args, **kwargs):
        return torch.cat([self.keys, key_states], dim=2), torch.cat([self.values, value_states], dim=2)


@dataclass
class SweepStats:
    """Work done by :func:`patch_sweep`, in layer-token units (one decoder layer applied to one position)."""

    layer_token_units: int = 0
    passes: int = 0


def patch_sweep(
    model,
    runs: CleanRun | list[CleanRun],
    patches: list[Patch],
    max_tokens_per_pass: int = 384,
    stats: SweepStats | None = None,
) -> torch.Tensor:
    """Last-token logits (len(patches), vocab) of every patch, many patches per forward pass.

    Equal to :func:`patch_naive` for each patch, but each patch only computes what it changes: the
    positions from the patched one on, the layers from the first patched one on, and logits at the
    last position. The clean prefix is read from the clean run's keys and values. The suffixes of
    many patches (of one or several prompts) are packed into one sequence per pass, kept apart by
    the attention mask.
    """
    runs = [runs] if isinstance(runs, CleanRun) else list(runs)
    num_layers = len(adapter_for(model).layers(model))
    for index, patch in enumerate(patches):
        if not 0 <= patch.prompt < len(runs):
            raise ValueError(f"patch {index} refers to prompt {patch.prompt}, but {len(runs)} clean runs were given")
        if patch.layers[0] < 0 or patch.layers[-1] >= num_layers:
            raise ValueError(f"patch {index} layers {list(patch.layers)} out of range: the model has {num_layers} layers")
        if patch.vectors.shape[-1] != runs[patch.prompt].residuals.shape[-1]:
            raise ValueError(
                f"patch {index} vectors have size {patch.vectors.shape[-1]}, the model's residual stream "
                f"{runs[patch.prompt].residuals.shape[-1]}"
            )
        if not 0 <= patch.position < runs[patch.prompt].length:
            raise ValueError(
                f"patch {index} position {patch.position} out of range for a prompt of {runs[patch.prompt].length} tokens"
            )
    order = sorted(range(len(patches)), key=lambda i: patches[i].start_layer)
    stats = stats if stats is not None else SweepStats()
    results: list[torch.Tensor | None] = [None] * len(patches)
    chunk: list[int] = []
    chunk_tokens = 0
    for index in order + [None]:
        suffix = 0 if index is None else runs[patches[index].prompt].length - patches[index].position
        if chunk and (index is None or chunk_tokens + suffix > max_tokens_per_pass):
            logits = _sweep_packed(model, runs, [patches[i] for i in chunk], stats)
            for row, original in enumerate(chunk):
                results[original] = logits[row]
            chunk, chunk_tokens = [], 0
        if index is not None:
            chunk.append(index)
            chunk_tokens += suffix
    return torch.stack(results) if results else torch.empty(0)  # type: ignore[arg-type]


@torch.no_grad()
def _sweep_packed(model, runs: list[CleanRun], patches: list[Patch], stats: SweepStats) -> torch.Tensor:
    """One packed pass over ``patches``, which are sorted by start layer."""
    adapter = adapter_for(model)
    layers = adapter.layers(model)
    device, dtype = model.device, runs[0].residuals.dtype
    used_prompts = sorted({p.prompt for p in patches})
    slot = {prompt: i for i, prompt in enumerate(used_prompts)}
    # Clean keys of all used prompts, concatenated: prompt id and position of each clean key.
    clean_prompt = torch.cat([torch.full((runs[p].length,), slot[p], device=device) for p in used_prompts])
    clean_pos = torch.cat([torch.arange(runs[p].length, device=device) for p in used_prompts])

    lengths = [runs[p.prompt].length - p.position for p in patches]
    first_token = [0]
    for length in lengths[:-1]:
        first_token.append(first_token[-1] + length)
    total = first_token[-1] + lengths[-1]
    token_row = torch.repeat_interleave(torch.arange(len(patches), device=device), torch.tensor(lengths, device=device))
    row_start = torch.tensor([p.position for p in patches], device=device)
    row_prompt = torch.tensor([slot[p.prompt] for p in patches], device=device)
    token_pos = row_start[token_row] + torch.arange(total, device=device) - torch.tensor(first_token, device=device)[token_row]

    def allowed(window: int | None) -> torch.Tensor:
        see_clean = (clean_prompt[None, :] == row_prompt[token_row][:, None]) & (
            clean_pos[None, :] < row_start[token_row][:, None]
        )
        see_packed = (token_row[None, :] == token_row[:, None]) & (token_pos[None, :] <= token_pos[:, None])
        if window is not None:
            see_clean &= token_pos[:, None] - clean_pos[None, :] < window
            see_packed &= token_pos[:, None] - token_pos[None, :] < window
        return torch.cat([see_clean, see_packed], dim=1)

    masks: dict[int | None, torch.Tensor] = {}
    hidden = torch.empty(total, runs[0].residuals.shape[-1], device=device, dtype=dtype)
    starts = [p.start_layer for p in patches]
    activated = 0  # rows [0, activated) are running
    num_clean = clean_prompt.shape[0]
    for layer_index in range(starts[0], len(layers)):
        while activated < len(patches) and starts[activated] == layer_index:
            patch = patches[activated]
            begin = first_token[activated]
            hidden[begin : begin + lengths[activated]] = runs[patch.prompt].residuals[layer_index, patch.position :]
            activated += 1
        for row in range(activated):
            if layer_index in patches[row].layers:
                hidden[first_token[row]] = patches[row].vector_at(layer_index).to(device=device, dtype=dtype)
        active = first_token[activated - 1] + lengths[activated - 1]
        window = adapter.sliding_window(model, layer_index)
        if window not in masks:
            masks[window] = allowed(window)
        mask = masks[window][:active, : num_clean + active]
        additive = torch.zeros(mask.shape, dtype=dtype, device=device).masked_fill_(~mask, torch.finfo(dtype).min)
        cache = _FixedPrefixCache(
            torch.cat([runs[p].keys[layer_index] for p in used_prompts], dim=2),
            torch.cat([runs[p].values[layer_index] for p in used_prompts], dim=2),
        )
        states = hidden[:active].unsqueeze(0)
        position_ids = token_pos[:active].unsqueeze(0)
        output = layers[layer_index](
            states,
            attention_mask=additive[None, None],
            position_ids=position_ids,
            use_cache=True,
            **{adapter.cache_argument: cache},
            position_embeddings=adapter.position_embeddings(model, states, position_ids),
        )
        hidden[:active] = (output[0] if isinstance(output, tuple) else output)[0]
        stats.layer_token_units += active
    stats.passes += 1
    last_tokens = torch.tensor([first_token[r] + lengths[r] - 1 for r in range(len(patches))], device=device)
    return adapter.logits(model, hidden[last_tokens]).float()
