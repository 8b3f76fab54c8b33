"""Benchmark of the patching engine: the packed sweep against full forward passes with hooks, in one run.

    python benchmarks/patching.py --model toy-target --prompts 8 --window 1
    python benchmarks/patching.py --model smollm2-135m --prompts 8 --window 1 --skip-naive

Every (start layer, position) of every prompt is patched with the counterfactual prompt's clean residual at the
same layers and position (layer l is the output of decoder block l; each patched block's output is overwritten
with its own counterfactual vector). The prompts: CounterFact-style toy-world pairs for a toy model; for any other
model, pairs of sentences of the same token length (8-40 tokens by default) from the shipped English corpus or
``--corpus``. Reports patches/s of

- the fast sweep (all prompts in one ``patch_sweep`` call, clean runs included),
- batched full passes with hooks, as a careful user would write them: the patches of one prompt as a batch of
  ``--hook-batch`` rows, one forward hook per patched block writing each row's vector, last-position logits only,
- ``patch_naive``: one full pass per patch, batch 1 (``--skip-naive`` leaves it out on large models),

their ratios, the largest logit difference and the share of equal top-1 tokens against the hooks, the layer-token
units computed relative to the limit L(L-1)/2 * T(T+1)/2 summed over prompts (a patch at layer l runs blocks
l+1 .. L-1), and patches/s for several ``max_tokens_per_pass`` values.
"""

from __future__ import annotations

import argparse
import time

import torch

from self_explain.core.architectures import decoder_layers
from self_explain.core.engine import (
    Patch,
    SweepStats,
    clean_runs,
    patch_naive,
    patch_sweep,
)
from self_explain.core.models import is_toy_model, load_model
from self_explain.realworld import builtin_corpus_path
from self_explain.tasks.features.sae_training import corpus_texts
from self_explain.tasks.patching.sources import toy_world_pairs
from self_explain.toyworld import toy_world_for


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="toy-target", help="toy model name, local folder or Hub id")
    parser.add_argument("--prompts", type=int, default=8, help="number of prompt pairs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the prompt-pair draw")
    parser.add_argument("--window", type=int, default=1, help="consecutive layers patched at once")
    parser.add_argument(
        "--budgets", default="128,256,384,768,2048", help="comma-separated max_tokens_per_pass values to compare"
    )
    parser.add_argument("--default-budget", type=int, default=384, help="max_tokens_per_pass of the main comparison")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of each fast sweep (best is reported)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    parser.add_argument("--corpus", help="sentences of non-toy models' prompts (default: the shipped English corpus)")
    parser.add_argument("--min-tokens", type=int, default=8, help="shortest prompt of a non-toy model")
    parser.add_argument("--max-tokens", type=int, default=40, help="longest prompt of a non-toy model")
    parser.add_argument("--hook-batch", type=int, default=64, help="patches per batched full pass with hooks")
    parser.add_argument("--skip-naive", action="store_true", help="leave out the batch-1 naive loop (slow)")
    return parser.parse_args(argv)


def toy_prompt_pairs(model_name: str, tokenizer, num_prompts: int, seed: int) -> list[tuple[list[int], list[int]]]:
    pairs = toy_world_pairs(toy_world_for(model_name), num_prompts, seed, ood_relations=[])
    token_pairs = []
    for pair in pairs:
        ids, other = tokenizer(pair.text)["input_ids"], tokenizer(pair.counterfactual)["input_ids"]
        if len(ids) != len(other):
            raise ValueError(
                f"prompt pair {pair.prompt_id} tokenizes to different lengths: {pair.text!r} / {pair.counterfactual!r}"
            )
        token_pairs.append((ids, other))
    return token_pairs


def corpus_prompt_pairs(
    tokenizer, corpus: str, num_prompts: int, seed: int, min_tokens: int, max_tokens: int
) -> list[tuple[list[int], list[int]]]:
    """Seeded pairs of corpus sentences with the same token length, lengths spread over [min_tokens, max_tokens]."""
    import random

    by_length: dict[int, list[list[int]]] = {}
    for text in corpus_texts(corpus, 100_000, seed):
        ids = tokenizer(text)["input_ids"]
        if min_tokens <= len(ids) <= max_tokens:
            by_length.setdefault(len(ids), []).append(ids)
    lengths = sorted(length for length, group in by_length.items() if len(group) >= 2)
    if not lengths:
        raise ValueError(
            f"--corpus {corpus} has no two sentences of the same length in [{min_tokens}, {max_tokens}] tokens"
        )
    rng = random.Random(seed)
    wanted = [lengths[round(i * (len(lengths) - 1) / max(1, num_prompts - 1))] for i in range(num_prompts)]
    return [tuple(rng.sample(by_length[length], 2)) for length in wanted]


def build_patches(model, token_pairs: list[tuple[list[int], list[int]]], window: int):
    sequences = [ids for ids, _ in token_pairs]
    num_layers = len(decoder_layers(model))
    if not 1 <= window <= num_layers:
        raise ValueError(f"--window {window} must be between 1 and the model's {num_layers} layers")
    donors = clean_runs(model, [other for _, other in token_pairs])
    patches = [
        Patch(
            tuple(range(start, start + window)),
            position,
            donors[prompt].outputs[start : start + window, position],
            prompt,
        )
        for prompt, sequence in enumerate(sequences)
        for start in range(num_layers - window + 1)
        for position in range(len(sequence))
    ]
    return sequences, patches, num_layers


@torch.no_grad()
def patch_batched_hooks(model, sequences: list[list[int]], patches: list[Patch], batch_size: int) -> torch.Tensor:
    """The patches of each prompt run as batches of full forward passes (same length: no padding), one forward hook
    per patched block writing each row's vector at its position, logits of the last position only."""
    layers = decoder_layers(model)
    results: list[torch.Tensor | None] = [None] * len(patches)
    by_prompt: dict[int, list[int]] = {}
    for index, patch in enumerate(patches):
        by_prompt.setdefault(patch.prompt, []).append(index)
    for prompt, indices in by_prompt.items():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            writes: dict[int, tuple[list[int], list[int], list[torch.Tensor]]] = {}
            for row, index in enumerate(chunk):
                patch = patches[index]
                for layer in patch.layers:
                    rows, positions, vectors = writes.setdefault(layer, ([], [], []))
                    rows.append(row)
                    positions.append(patch.position)
                    vectors.append(patch.vector_at(layer))
            handles = []
            for layer, (rows, positions, vectors) in writes.items():
                rows_at, positions_at, written = torch.tensor(rows), torch.tensor(positions), torch.stack(vectors)

                def overwrite(module, args, output, rows_at=rows_at, positions_at=positions_at, written=written):
                    hidden = output[0] if isinstance(output, tuple) else output
                    hidden[rows_at, positions_at] = written.to(hidden.dtype)
                    return output

                handles.append(layers[layer].register_forward_hook(overwrite))
            try:
                ids = torch.tensor([sequences[prompt]] * len(chunk), device=model.device)
                logits = model(input_ids=ids, logits_to_keep=1).logits[:, -1].float()
            finally:
                for handle in handles:
                    handle.remove()
            for row, index in enumerate(chunk):
                results[index] = logits[row]
    return torch.stack(results)


def time_fast(model, sequences, patches, budget: int, repeats: int) -> tuple[float, torch.Tensor, SweepStats]:
    best, logits, stats = float("inf"), None, None
    for _ in range(repeats):
        stats = SweepStats()
        started = time.perf_counter()
        runs = clean_runs(model, sequences)
        logits = patch_sweep(model, runs, patches, max_tokens_per_pass=budget, stats=stats)
        best = min(best, time.perf_counter() - started)
    return best, logits, stats


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    loaded = load_model(args.model)
    model, tokenizer = loaded.model, loaded.tokenizer
    if is_toy_model(args.model):
        token_pairs = toy_prompt_pairs(args.model, tokenizer, args.prompts, args.seed)
    else:
        corpus = args.corpus or builtin_corpus_path(args.model)
        if corpus is None:
            raise SystemExit(f"--corpus is needed for {args.model!r}: sentences to draw prompt pairs from")
        token_pairs = corpus_prompt_pairs(
            tokenizer, str(corpus), args.prompts, args.seed, args.min_tokens, args.max_tokens
        )
    sequences, patches, num_layers = build_patches(model, token_pairs, args.window)
    lengths = [len(s) for s in sequences]
    limit = sum(num_layers * (num_layers - 1) // 2 * t * (t + 1) // 2 for t in lengths)
    full_pass_units = sum(num_layers * len(sequences[p.prompt]) for p in patches)

    time_fast(model, sequences, patches[:64], args.default_budget, 1)  # warm-up
    fast_seconds, fast_logits, stats = time_fast(model, sequences, patches, args.default_budget, args.repeats)

    patch_batched_hooks(model, sequences, patches[: args.hook_batch], args.hook_batch)  # warm-up
    started = time.perf_counter()
    hook_logits = patch_batched_hooks(model, sequences, patches, args.hook_batch)
    hook_seconds = time.perf_counter() - started

    rows = [
        (
            f"fast sweep (max_tokens_per_pass={args.default_budget})",
            len(patches) / fast_seconds,
            stats.layer_token_units,
        ),
        (f"full passes with hooks (batch {args.hook_batch})", len(patches) / hook_seconds, full_pass_units),
    ]
    naive_seconds = None
    if not args.skip_naive:
        patch_naive(model, sequences[0], patches[0])  # warm-up
        started = time.perf_counter()
        naive_logits = torch.stack([patch_naive(model, sequences[p.prompt], p) for p in patches])
        naive_seconds = time.perf_counter() - started
        rows.append(("naive loop (patch_naive, batch 1)", len(patches) / naive_seconds, full_pass_units))

    max_difference = (fast_logits - hook_logits).abs().max().item()
    same_top1 = (fast_logits.argmax(-1) == hook_logits.argmax(-1)).float().mean().item()

    print(
        f"model {args.model} (revision {loaded.revision}): {num_layers} layers, torch threads "
        f"{torch.get_num_threads()}"
    )
    print(
        f"{len(sequences)} prompts of {min(lengths)}-{max(lengths)} tokens, window {args.window}: {len(patches)} "
        "patches"
    )
    print()
    print(f"{'method':<40} {'patches/s':>12} {'layer-token units':>18} {'÷ limit':>8}")
    for name, rate, units in rows:
        print(f"{name:<40} {rate:>12.1f} {units:>18d} {units / limit:>8.3f}")
    print()
    print(
        f"speed-up (fast / hooks):        {hook_seconds / fast_seconds:.2f}x  (compute limit: "
        f"{full_pass_units / limit:.2f}x)"
    )
    if naive_seconds is not None:
        print(f"speed-up (fast / naive):        {naive_seconds / fast_seconds:.1f}x")
        print(f"max |logit difference| naive:   {(fast_logits - naive_logits).abs().max().item():.2e}")
    print(f"max |logit difference| hooks:   {max_difference:.2e}")
    print(f"same top-1 as hooks:            {same_top1:.1%}")
    print(f"limit L(L-1)/2·T(T+1)/2, summed: {limit}  (fast passes: {stats.passes})")
    print()
    print(f"{'max_tokens_per_pass':>20} {'passes':>7} {'patches/s':>12}")
    for budget in [int(b) for b in args.budgets.split(",") if b]:
        seconds, _, budget_stats = time_fast(model, sequences, patches, budget, args.repeats)
        print(f"{budget:>20d} {budget_stats.passes:>7d} {len(patches) / seconds:>12.1f}")


if __name__ == "__main__":
    main()
