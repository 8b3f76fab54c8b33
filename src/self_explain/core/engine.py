"""Interventions: read and patch the residual stream, delete input spans; batched sweeps of both (not task-specific).

The residual stream "at layer l" is the **output of decoder block l**, l in [0, num_layers), as the reference
(Transluce's introspective-interp) patches ``model.layers[l].output``: transformers' ``hidden_states[l + 1]``, but
before the final norm for the last block. Block inputs stay readable (``CleanRun.residuals``), e.g. for SAEs.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace

import torch
from transformers import DynamicCache

from .architectures import adapter_for
from .models import context_length


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
    """Write ``vectors`` at ``position`` of prompt ``prompt`` over the output of each decoder block of ``layers``.

    Args:
        layers (`tuple[int, ...]`): The patched layers: consecutive, ascending, at least one (else ValueError).
        position (`int`): The token position written.
        vectors (`torch.Tensor`): (len(layers), hidden), one vector per patched layer, or (hidden,) for the same vector
            at each (as the reference patches a window); another shape is a ValueError.
        prompt (`int`, *optional*, defaults to 0): Which clean run the patch applies to.
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
        """The (hidden,) vector written at a patched layer.

        Args:
            layer (`int`): One of ``layers``.
        """
        return self.vectors if self.vectors.dim() == 1 else self.vectors[layer - self.start_layer]


@dataclass
class CleanRun:
    """What one unpatched forward pass leaves behind for patching: the residual stream, keys and values.

    Args:
        input_ids (`torch.Tensor`): The prompt's token ids, (T,).
        states (`torch.Tensor`): (num_layers + 1, T, hidden): the input of block 0 (the embedded tokens), then the
            output of each decoder block. Read it through ``outputs`` (layer l) and ``residuals`` (block inputs).
        keys (`list[torch.Tensor]`): Per layer, (1, kv_heads, T, head_dim), as the attention caches them.
        values (`list[torch.Tensor]`): Per layer, likewise.
        logits (`torch.Tensor`): The next-token logits after the last position, (vocab,).
    """

    input_ids: torch.Tensor  # (T,)
    states: torch.Tensor  # (num_layers + 1, T, hidden): the embedded tokens, then the output of each block
    keys: list[torch.Tensor]  # per layer, (1, kv_heads, T, head_dim), as the attention caches them
    values: list[torch.Tensor]
    logits: torch.Tensor  # (vocab,) next-token logits after the last position

    @property
    def length(self) -> int:
        """The prompt's number of tokens."""
        return int(self.input_ids.shape[0])

    @property
    def outputs(self) -> torch.Tensor:
        """The residual stream at each layer — the output of each decoder block — (num_layers, T, hidden): what a
        `Patch` at layer l overwrites, and what is read from a counterfactual to patch it."""
        return self.states[1:]

    @property
    def residuals(self) -> torch.Tensor:
        """The input of each decoder block, (num_layers, T, hidden): the embedded tokens, then ``outputs[l - 1]``."""
        return self.states[:-1]


@contextmanager
def _capture_residual_stream(layers):
    """Capture the input of the first block and the output of every block: (num_layers + 1) tensors."""
    captured: list[torch.Tensor | None] = [None] * (len(layers) + 1)

    def capture_input(module, args, kwargs):
        captured[0] = (args[0] if args else kwargs["hidden_states"]).detach()

    def capture_output(index):
        def capture(module, args, output):
            captured[index + 1] = (output[0] if isinstance(output, tuple) else output).detach()

        return capture

    handles = [layers[0].register_forward_pre_hook(capture_input, with_kwargs=True)]
    handles += [layer.register_forward_hook(capture_output(i)) for i, layer in enumerate(layers)]
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()


def _check_lengths(model, sequences) -> None:
    limit = context_length(model)
    for index, sequence in enumerate(sequences):
        if len(sequence) == 0:
            raise ValueError(f"sequence {index} is empty")
        if limit is not None and len(sequence) > limit:
            raise ValueError(
                f"sequence {index} has {len(sequence)} tokens, longer than the model's context of {limit} tokens"
            )


@torch.no_grad()
def clean_runs(model, sequences: list[list[int]], batch_size: int = 32) -> list[CleanRun]:
    """One :class:`CleanRun` per sequence: unpatched forward passes, batched with right padding.

    Args:
        model (`PreTrainedModel`): A causal LM of a supported architecture.
        sequences (`list[list[int]]`): The prompts' token ids, none empty or longer than the context (else ValueError).
        batch_size (`int`, *optional*, defaults to 32): Sequences per forward pass.
    """
    _check_lengths(model, sequences)
    adapter = adapter_for(model)
    layers = adapter.layers(model)
    cache_argument = adapter.cache_argument(model)
    device = model.device
    runs: list[CleanRun] = []
    for start in range(0, len(sequences), batch_size):
        chunk = sequences[start : start + batch_size]
        lengths = [len(s) for s in chunk]
        ids, mask = _right_padded(chunk, device)
        with _capture_residual_stream(layers) as captured:
            # A config-free cache keeps every position, also for sliding-window layers.
            output = model(input_ids=ids, attention_mask=mask, use_cache=True, **{cache_argument: DynamicCache()})
        cache = adapter.returned_cache(output)
        states = torch.stack(captured, dim=1)  # (batch, L + 1, T, d)
        for row, length in enumerate(lengths):
            keys = [cache.layers[j].keys[row : row + 1, :, :length] for j in range(len(layers))]
            runs.append(
                CleanRun(
                    input_ids=ids[row, :length],
                    states=states[row, :, :length],
                    keys=keys,
                    values=[cache.layers[j].values[row : row + 1, :, :length] for j in range(len(layers))],
                    logits=output.logits[row, length - 1].float(),
                )
            )
    return runs


def read_residual(model, sequence: list[int], layer: int, position: int) -> torch.Tensor:
    """The residual stream (hidden,) at ``layer`` (the output of decoder block ``layer``) at ``position``.

    Args:
        model (`PreTrainedModel`): A causal LM of a supported architecture.
        sequence (`list[int]`): The prompt's token ids.
        layer (`int`): The decoder block whose output is read, in [0, num_layers).
        position (`int`): The token position.
    """
    return clean_runs(model, [sequence])[0].outputs[layer, position]


@torch.no_grad()
def patch_naive(model, sequence: list[int], patch: Patch) -> torch.Tensor:
    """Reference semantics of a patch: last-token float logits (vocab,) of one forward pass whose hooks overwrite the
    output of each patched block at the position.

    Args:
        model (`PreTrainedModel`): A causal LM of a supported architecture.
        sequence (`list[int]`): The prompt's token ids (``patch.prompt`` is not used).
        patch (`Patch`): The layers, position and vectors to write.
    """
    layers = adapter_for(model).layers(model)
    handles = []
    for layer in patch.layers:

        def overwrite(module, args, output, layer=layer):
            hidden = (output[0] if isinstance(output, tuple) else output).clone()
            hidden[:, patch.position] = patch.vector_at(layer).to(hidden.dtype)
            return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

        handles.append(layers[layer].register_forward_hook(overwrite))
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
    """Work done by :func:`patch_sweep` or :func:`ablation_sweep`, in layer-token units (one layer on one position)."""

    layer_token_units: int = 0
    passes: int = 0


def patch_sweep(
    model,
    runs: CleanRun | list[CleanRun],
    patches: list[Patch],
    max_tokens_per_pass: int = 384,
    stats: SweepStats | None = None,
) -> torch.Tensor:
    """Last-token float logits (len(patches), vocab) of every patch, in order, many patches per forward pass.

    Equal to :func:`patch_naive` for each patch, but a patch only computes what it changes: from the patched position
    on (the clean prefix read from the run's keys and values), blocks l + 1 to the last, logits at the last position.
    Suffixes of many patches are packed into one sequence per pass, kept apart by the attention mask. A full sweep of
    a T-token prompt costs L(L-1)/2 · T(T+1)/2 layer-token units.

    Args:
        model (`PreTrainedModel`): The model the clean runs were made with.
        runs (`CleanRun` or `list[CleanRun]`): The clean runs of the prompts the patches refer to.
        patches (`list[Patch]`): The patches; ``patch.prompt`` indexes ``runs``.
        max_tokens_per_pass (`int`, *optional*, defaults to 384): The most suffix tokens packed into one pass.
        stats (`SweepStats`, *optional*): Incremented with the work done.

    Raises:
        ValueError: If a patch refers to a missing prompt, layer or position, or its vectors have the wrong size.
    """
    runs = [runs] if isinstance(runs, CleanRun) else list(runs)
    num_layers = len(adapter_for(model).layers(model))
    for index, patch in enumerate(patches):
        if not 0 <= patch.prompt < len(runs):
            raise ValueError(f"patch {index} refers to prompt {patch.prompt}, but {len(runs)} clean runs were given")
        if patch.layers[0] < 0 or patch.layers[-1] >= num_layers:
            raise ValueError(
                f"patch {index} layers {list(patch.layers)} out of range: the model has {num_layers} layers"
            )
        if patch.vectors.shape[-1] != runs[patch.prompt].residuals.shape[-1]:
            raise ValueError(
                f"patch {index} vectors have size {patch.vectors.shape[-1]}, the model's residual stream "
                f"{runs[patch.prompt].residuals.shape[-1]}"
            )
        if not 0 <= patch.position < runs[patch.prompt].length:
            raise ValueError(
                f"patch {index} position {patch.position} out of range for a prompt of {runs[patch.prompt].length} "
                "tokens"
            )
    rows = [
        _SuffixRow(
            prompt=p.prompt,
            keep=p.position,
            start_layer=p.start_layer + 1,  # the first block after the patched output
            residuals=runs[p.prompt].outputs[p.start_layer, p.position :],
            outputs=(runs[p.prompt].length - p.position - 1,),
            patch=p,
        )
        for p in patches
    ]
    logits = _sweep_rows(model, runs, rows, max_tokens_per_pass, stats)
    return torch.cat(logits) if logits else torch.empty(0)


@dataclass(frozen=True)
class Ablation:
    """Delete tokens [start, end) of prompt ``prompt``, or replace them with ``replacement`` (e.g. the tokens
    a re-tokenized text has where a subword tokenizer merges across the deleted span's edges)."""

    prompt: int
    start: int
    end: int
    replacement: tuple[int, ...] = ()

    def apply(self, sequence: list[int]) -> list[int]:
        """The tokens before ``start``, then ``replacement``, then the tokens from ``end`` on.

        Args:
            sequence (`list[int]`): The prompt's token ids.
        """
        return list(sequence[: self.start]) + list(self.replacement) + list(sequence[self.end :])


@dataclass
class AblationResult:
    """Per ablation: next-token logits after the ablated sequence and, when answers were given, the summed
    log-probability of the (teacher-forced) answer after the ablated and after the full sequence."""

    logits: torch.Tensor  # (n, vocab)
    answer_logprob_ablated: torch.Tensor | None = None  # (n,)
    answer_logprob_clean: torch.Tensor | None = None  # (n,)

    @property
    def effect(self) -> torch.Tensor:
        """Change of the answer's log-probability when the span is deleted: ablated − clean, (n,)."""
        if self.answer_logprob_ablated is None or self.answer_logprob_clean is None:
            raise ValueError("the effect needs answers: pass answers= to ablation_sweep")
        return self.answer_logprob_ablated - self.answer_logprob_clean


@torch.no_grad()
def ablate_naive(model, sequence: list[int], ablation: Ablation, answer: list[int] | None = None) -> AblationResult:
    """Reference semantics of an ablation: plain forward passes of the ablated (and, with ``answer``, the full)
    sequence, then the answer: logits (1, vocab) and the answer's summed log-probabilities.

    Args:
        model (`PreTrainedModel`): A causal LM.
        sequence (`list[int]`): The prompt's token ids (``ablation.prompt`` is not used).
        ablation (`Ablation`): The span to delete or replace.
        answer (`list[int]`, *optional*): Answer tokens scored teacher-forced after the ablated and the full sequence.
    """
    _check_ablations([len(sequence)], [replace(ablation, prompt=0)], None if answer is None else [answer])
    device = model.device
    ablated = ablation.apply(sequence)
    answer = list(answer or [])
    logits = model(input_ids=torch.tensor([ablated + answer], device=device)).logits[0].float()
    result = AblationResult(logits=logits[len(ablated) - 1][None])
    if answer:
        answer_ids = torch.tensor(answer, device=device)
        clean = model(input_ids=torch.tensor([list(sequence) + answer], device=device)).logits[0].float()
        result.answer_logprob_ablated = _summed_logprobs([logits[len(ablated) - 1 : -1]], [answer_ids])
        result.answer_logprob_clean = _summed_logprobs([clean[len(sequence) - 1 : -1]], [answer_ids])
    return result


def _check_ablations(lengths: list[int], ablations: list[Ablation], answers: list[list[int]] | None) -> None:
    if answers is not None and len(answers) != len(ablations):
        raise ValueError(f"{len(answers)} answers were given for {len(ablations)} ablations: give one per ablation")
    for index, ablation in enumerate(ablations):
        if not 0 <= ablation.prompt < len(lengths):
            raise ValueError(
                f"ablation {index} refers to prompt {ablation.prompt}, but {len(lengths)} clean runs were given"
            )
        length = lengths[ablation.prompt]
        if ablation.end <= ablation.start:
            raise ValueError(f"ablation {index} span [{ablation.start}, {ablation.end}) is empty")
        if ablation.start < 0 or ablation.end > length:
            raise ValueError(
                f"ablation {index} span [{ablation.start}, {ablation.end}) out of range for a prompt of {length} "
                "tokens"
            )
        if ablation.end - ablation.start == length and not ablation.replacement:
            raise ValueError(f"ablation {index} span [{ablation.start}, {ablation.end}) deletes the whole prompt")
        if answers is not None and len(answers[index]) == 0:
            raise ValueError(f"answer {index} is empty")


def ablation_sweep(
    model,
    runs: CleanRun | list[CleanRun],
    ablations: list[Ablation],
    answers: list[list[int]] | None = None,
    max_tokens_per_pass: int = 384,
    stats: SweepStats | None = None,
) -> AblationResult:
    """Every ablation (deleting a token span) of the clean runs' prompts, many per forward pass.

    Equal to :func:`ablate_naive` for each ablation. The kept prefix [0, start) is as in the clean run, so its keys and
    values are read from it; only the tokens after the span (and the answer) are computed, from layer 0. The full
    sequence's answer is scored once per distinct prompt and answer.

    Args:
        model (`PreTrainedModel`): The model the clean runs were made with.
        runs (`CleanRun` or `list[CleanRun]`): The clean runs of the prompts the ablations refer to.
        ablations (`list[Ablation]`): The spans; ``ablation.prompt`` indexes ``runs``.
        answers (`list[list[int]]`, *optional*): One answer token list per ablation, scored teacher-forced after the
            ablated and the full sequence.
        max_tokens_per_pass (`int`, *optional*, defaults to 384): The most suffix tokens packed into one pass.
        stats (`SweepStats`, *optional*): Incremented with the work done.

    Raises:
        ValueError: If an ablation's span or prompt is out of range, or the answers do not match the ablations.
    """
    runs = [runs] if isinstance(runs, CleanRun) else list(runs)
    _check_ablations([run.length for run in runs], ablations, answers)
    if not ablations:
        return AblationResult(logits=torch.empty(0))
    device = model.device
    answer_ids = None if answers is None else [torch.as_tensor(a, device=device, dtype=torch.long) for a in answers]
    limit = context_length(model)

    def row(prompt: int, keep: int, suffix: torch.Tensor, answer: torch.Tensor | None) -> _SuffixRow:
        if suffix.numel() == 0:  # nothing after the span: recompute the last kept token for its logits
            keep -= 1
            suffix = runs[prompt].input_ids[keep : keep + 1]
        outputs = (suffix.numel() - 1,)
        if answer is not None:
            outputs = tuple(range(suffix.numel() - 1, suffix.numel() - 1 + answer.numel()))
            suffix = torch.cat([suffix, answer[:-1]])
        if limit is not None and keep + suffix.numel() > limit:
            raise ValueError(
                f"prompt {prompt} with its answer has {keep + suffix.numel()} tokens to run, longer than the model's "
                f"context of {limit} tokens"
            )
        return _SuffixRow(prompt=prompt, keep=keep, start_layer=0, token_ids=suffix, outputs=outputs)

    rows = [
        row(a.prompt, a.start, _after_span(runs[a.prompt], a), None if answer_ids is None else answer_ids[i])
        for i, a in enumerate(ablations)
    ]
    # The answer after the full sequence: the clean logits for one token, else one row per prompt and answer.
    clean_row: dict[tuple[int, tuple[int, ...]], int | None] = {}
    if answers is not None:
        for i, a in enumerate(ablations):
            key = (a.prompt, tuple(answers[i]))
            if key not in clean_row:
                clean_row[key] = len(rows) if len(answers[i]) > 1 else None
                if len(answers[i]) > 1:
                    rows.append(row(a.prompt, runs[a.prompt].length, runs[a.prompt].input_ids[:0], answer_ids[i]))
    logits = _sweep_rows(model, runs, rows, max_tokens_per_pass, stats)
    result = AblationResult(logits=torch.stack([logits[i][0] for i in range(len(ablations))]))
    if answer_ids is not None:
        result.answer_logprob_ablated = _summed_logprobs(logits[: len(ablations)], answer_ids)
        clean_logits = []
        for i, a in enumerate(ablations):
            index = clean_row[(a.prompt, tuple(answers[i]))]  # type: ignore[index]
            clean_logits.append(runs[a.prompt].logits[None] if index is None else logits[index])
        result.answer_logprob_clean = _summed_logprobs(clean_logits, answer_ids)
    return result


def _after_span(run: CleanRun, ablation: Ablation) -> torch.Tensor:
    """The tokens that follow the kept prefix in the ablated sequence."""
    rest = run.input_ids[ablation.end :]
    if not ablation.replacement:
        return rest
    return torch.cat([torch.tensor(ablation.replacement, dtype=rest.dtype, device=rest.device), rest])


def _summed_logprobs(logits: list[torch.Tensor], answers: list[torch.Tensor]) -> torch.Tensor:
    """Per row: the summed log-probs of its answer tokens, in one gather for all rows."""
    token_logprobs = torch.log_softmax(torch.cat(logits), dim=-1).gather(-1, torch.cat(answers)[:, None])[:, 0]
    segment = torch.repeat_interleave(
        torch.arange(len(answers), device=token_logprobs.device),
        torch.tensor([a.numel() for a in answers], device=token_logprobs.device),
    )
    return torch.zeros(len(answers), device=token_logprobs.device).index_add_(0, segment, token_logprobs)


@dataclass
class _SuffixRow:
    """Recomputing prompt ``prompt`` from position ``keep``, layer ``start_layer`` on, over the clean KV of [0, keep).

    Starts from ``residuals`` (n, hidden), the input of block ``start_layer`` (num_layers: logits only), or from
    ``token_ids`` (n,) (layer 0). ``patch`` is written at the row's first token after each of its layers. Logits are
    returned at the row offsets ``outputs``.
    """

    prompt: int
    keep: int
    start_layer: int
    outputs: tuple[int, ...]
    residuals: torch.Tensor | None = None
    token_ids: torch.Tensor | None = None
    patch: Patch | None = None

    @property
    def length(self) -> int:
        return int((self.residuals if self.residuals is not None else self.token_ids).shape[0])  # type: ignore[union-attr]


def _sweep_rows(
    model, runs: list[CleanRun], rows: list[_SuffixRow], max_tokens_per_pass: int, stats: SweepStats | None
) -> list[torch.Tensor]:
    """Logits of each row, packed into passes of at most ``max_tokens_per_pass`` tokens (a longer row gets its own)."""
    order = sorted(range(len(rows)), key=lambda i: rows[i].start_layer)
    stats = stats if stats is not None else SweepStats()
    results: list[torch.Tensor | None] = [None] * len(rows)
    chunk: list[int] = []
    chunk_tokens = 0
    for index in order + [None]:
        suffix = 0 if index is None else rows[index].length
        if chunk and (index is None or chunk_tokens + suffix > max_tokens_per_pass):
            logits = _sweep_packed(model, runs, [rows[i] for i in chunk], stats)
            for original, row_logits in zip(chunk, logits.split([len(rows[i].outputs) for i in chunk])):
                results[original] = row_logits
            chunk, chunk_tokens = [], 0
        if index is not None:
            chunk.append(index)
            chunk_tokens += suffix
    return results  # type: ignore[return-value]


@torch.no_grad()
def _sweep_packed(model, runs: list[CleanRun], rows: list[_SuffixRow], stats: SweepStats) -> torch.Tensor:
    """One packed pass over ``rows``, which are sorted by start layer: logits at every row's outputs, in order."""
    adapter = adapter_for(model)
    layers = adapter.layers(model)
    cache_argument = adapter.cache_argument(layers[0])
    device, dtype = model.device, runs[0].residuals.dtype
    # Clean keys of the used prompts, each up to the longest prefix a row of it sees, concatenated.
    seen = {}
    for r in rows:
        seen[r.prompt] = max(seen.get(r.prompt, 0), r.keep)
    used_prompts = sorted(seen)
    slot = {prompt: i for i, prompt in enumerate(used_prompts)}
    clean_prompt = torch.cat([torch.full((seen[p],), slot[p], device=device) for p in used_prompts])
    clean_pos = torch.cat([torch.arange(seen[p], device=device) for p in used_prompts])

    lengths = [r.length for r in rows]
    first_token = [0]
    for length in lengths[:-1]:
        first_token.append(first_token[-1] + length)
    total = first_token[-1] + lengths[-1]
    token_row = torch.repeat_interleave(torch.arange(len(rows), device=device), torch.tensor(lengths, device=device))
    row_start = torch.tensor([r.keep for r in rows], device=device)
    row_prompt = torch.tensor([slot[r.prompt] for r in rows], device=device)
    token_pos = (
        row_start[token_row] + torch.arange(total, device=device) - torch.tensor(first_token, device=device)[token_row]
    )

    def allowed(window: int | None) -> torch.Tensor:
        see_clean = (clean_prompt[None, :] == row_prompt[token_row][:, None]) & (
            clean_pos[None, :] < row_start[token_row][:, None]
        )
        see_packed = (token_row[None, :] == token_row[:, None]) & (token_pos[None, :] <= token_pos[:, None])
        if window is not None:
            see_clean &= token_pos[:, None] - clean_pos[None, :] < window
            see_packed &= token_pos[:, None] - token_pos[None, :] < window
        return torch.cat([see_clean, see_packed], dim=1)

    masks: dict[int | None, torch.Tensor] = {}  # additive attention masks by sliding window
    hidden = torch.empty(total, runs[0].residuals.shape[-1], device=device, dtype=dtype)
    embedded_rows = [i for i, r in enumerate(rows) if r.token_ids is not None]
    if embedded_rows:  # every token-started row embedded in one call
        ids = torch.cat([rows[i].token_ids for i in embedded_rows])  # type: ignore[misc]
        where = torch.cat(
            [torch.arange(first_token[i], first_token[i] + lengths[i], device=device) for i in embedded_rows]
        )
        hidden[where] = adapter.embed(model, ids[None], token_pos[where][None])[0].to(dtype)
    rotary: dict[str | None, object] = {}  # (cos, sin) by rotary kind: one for most architectures; Gemma 3 has two
    starts = [r.start_layer for r in rows]
    activated = 0  # rows [0, activated) are running
    num_clean = clean_prompt.shape[0]
    for layer_index in range(starts[0], len(layers) + 1):  # the input of block layer_index; the last: final output
        while activated < len(rows) and starts[activated] == layer_index:
            if rows[activated].residuals is not None:
                begin = first_token[activated]
                hidden[begin : begin + lengths[activated]] = rows[activated].residuals
            activated += 1
        for row in range(activated):  # the output of block layer_index - 1 is patched here
            patch = rows[row].patch
            if patch is not None and layer_index - 1 in patch.layers:
                hidden[first_token[row]] = patch.vector_at(layer_index - 1).to(device=device, dtype=dtype)
        if layer_index == len(layers):
            break
        active = first_token[activated - 1] + lengths[activated - 1]
        window = adapter.sliding_window(model, layer_index)
        if window not in masks:
            see = allowed(window)
            masks[window] = torch.zeros(see.shape, dtype=dtype, device=device).masked_fill_(
                ~see, torch.finfo(dtype).min
            )
        additive = masks[window][:active, : num_clean + active]
        kind = adapter.rotary_kind(model, layer_index)
        if kind not in rotary:
            rotary[kind] = adapter.position_embeddings(model, hidden[None], token_pos[None], layer=layer_index)
        cos_sin = rotary[kind]
        cache = _FixedPrefixCache(
            torch.cat([runs[p].keys[layer_index][:, :, : seen[p]] for p in used_prompts], dim=2),
            torch.cat([runs[p].values[layer_index][:, :, : seen[p]] for p in used_prompts], dim=2),
        )
        states = hidden[:active].unsqueeze(0)
        position_ids = token_pos[:active].unsqueeze(0)
        output = layers[layer_index](
            states,
            attention_mask=additive[None, None],
            position_ids=position_ids,
            use_cache=True,
            **{cache_argument: cache},
            position_embeddings=None if cos_sin is None else tuple(t[:, :active] for t in cos_sin),
        )
        hidden[:active] = (output[0] if isinstance(output, tuple) else output)[0]
        stats.layer_token_units += active
    stats.passes += 1
    output_tokens = torch.tensor(
        [first_token[r] + o for r, row in enumerate(rows) for o in row.outputs], device=device
    )
    return adapter.logits(model, hidden[output_tokens]).float()
