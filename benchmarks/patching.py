"""Benchmark of the patching engine: the packed sweep against a naive batch-1 loop, in one run.

    python benchmarks/patching.py --model toy-target --prompts 8 --window 1

On CounterFact-style toy-world prompts, every (start layer, position) of every prompt is patched
with the counterfactual prompt's clean residual at the same layers and position (layer l is the output of
decoder block l; each patched block's output is overwritten with its own counterfactual vector). Reports
patches/s of the fast sweep (all prompts in one ``patch_sweep`` call, clean runs included) and of
``patch_naive`` per patch, their ratio, the largest logit difference between them, the
layer-token units computed relative to the limit L(L-1)/2 * T(T+1)/2 summed over prompts (a patch at layer l
runs blocks l+1 .. L-1), and
patches/s for several ``max_tokens_per_pass`` values.
"""

from __future__ import annotations

import argparse
import time

import torch

from self_explain.core.engine import (
    Patch,
    SweepStats,
    clean_runs,
    patch_naive,
    patch_sweep,
)
from self_explain.core.models import decoder_layers, load_model
from self_explain.tasks.patching.sources import toy_world_pairs
from self_explain.toyworld import toy_world_for
from self_explain.toyworld.world import ToyWorld


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
    return parser.parse_args(argv)


def build_patches(model, tokenizer, world: ToyWorld, num_prompts: int, seed: int, window: int):
    pairs = toy_world_pairs(world, num_prompts, seed, ood_relations=[])
    sequences, counterfactuals = [], []
    for pair in pairs:
        ids, other = tokenizer(pair.text)["input_ids"], tokenizer(pair.counterfactual)["input_ids"]
        if len(ids) != len(other):
            raise ValueError(f"prompt pair {pair.prompt_id} tokenizes to different lengths: {pair.text!r} / {pair.counterfactual!r}")
        sequences.append(ids)
        counterfactuals.append(other)
    num_layers = len(decoder_layers(model))
    if not 1 <= window <= num_layers:
        raise ValueError(f"--window {window} must be between 1 and the model's {num_layers} layers")
    donors = clean_runs(model, counterfactuals)
    patches = [
        Patch(tuple(range(start, start + window)), position, donors[prompt].outputs[start : start + window, position], prompt)
        for prompt, sequence in enumerate(sequences)
        for start in range(num_layers - window + 1)
        for position in range(len(sequence))
    ]
    return sequences, patches, num_layers


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
    sequences, patches, num_layers = build_patches(
        model, tokenizer, toy_world_for(args.model), args.prompts, args.seed, args.window
    )
    lengths = [len(s) for s in sequences]
    limit = sum(num_layers * (num_layers - 1) // 2 * t * (t + 1) // 2 for t in lengths)
    naive_units = sum(num_layers * len(sequences[p.prompt]) for p in patches)

    time_fast(model, sequences, patches[:64], args.default_budget, 1)  # warm-up
    fast_seconds, fast_logits, stats = time_fast(model, sequences, patches, args.default_budget, args.repeats)

    patch_naive(model, sequences[0], patches[0])  # warm-up
    started = time.perf_counter()
    naive_logits = torch.stack([patch_naive(model, sequences[p.prompt], p) for p in patches])
    naive_seconds = time.perf_counter() - started

    max_difference = (fast_logits - naive_logits).abs().max().item()
    same_top1 = (fast_logits.argmax(-1) == naive_logits.argmax(-1)).float().mean().item()

    print(f"model {args.model} (revision {loaded.revision}): {num_layers} layers, torch threads {torch.get_num_threads()}")
    print(f"{len(sequences)} prompts of {min(lengths)}-{max(lengths)} tokens, window {args.window}: {len(patches)} patches")
    print()
    rows = [
        ("fast sweep (max_tokens_per_pass=%d)" % args.default_budget, len(patches) / fast_seconds, stats.layer_token_units),
        ("naive loop (patch_naive, batch 1)", len(patches) / naive_seconds, naive_units),
    ]
    print(f"{'method':<40} {'patches/s':>12} {'layer-token units':>18} {'÷ limit':>8}")
    for name, rate, units in rows:
        print(f"{name:<40} {rate:>12.1f} {units:>18d} {units / limit:>8.3f}")
    print()
    print(f"speed-up (fast / naive):        {naive_seconds / fast_seconds:.1f}x")
    print(f"max |logit difference|:         {max_difference:.2e}")
    print(f"same top-1:                     {same_top1:.1%}")
    print(f"limit L(L-1)/2·T(T+1)/2, summed: {limit}  (fast passes: {stats.passes})")
    print()
    print(f"{'max_tokens_per_pass':>20} {'passes':>7} {'patches/s':>12}")
    for budget in [int(b) for b in args.budgets.split(",") if b]:
        seconds, _, budget_stats = time_fast(model, sequences, patches, budget, args.repeats)
        print(f"{budget:>20d} {budget_stats.passes:>7d} {len(patches) / seconds:>12.1f}")


if __name__ == "__main__":
    main()
