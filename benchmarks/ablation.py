"""Benchmark of input ablation: the packed ``ablation_sweep`` against Captum's FeatureAblation, in one run.

    python benchmarks/ablation.py --model toy-target --examples 32
    python benchmarks/ablation.py --model smollm2-135m --examples 32

On hint questions (the toy world's for a toy model, the built-in fact questions for ``smollm2-135m``), each chat
prompt is split into segments — three (before the hint line,
the hint line, after it), or every word — and each segment is deleted in turn; the attribution of a
segment is the change of the log-probability of the model's greedy answer. Captum computes it with
``LLMAttribution(FeatureAblation(model), tokenizer)`` on a ``TextTemplateInput`` with a deletion
baseline, the answer scored in one forward pass per perturbation (``forward_in_tokens=False``); we compute it with
``clean_runs`` + ``ablation_sweep(..., answers=...)``. Reports
examples/s of both (greedy answers are found once, outside the timing), their ratio, the layer-work ratio (Captum's
decoder-layer work over ours, in layer-token units: what skipping the kept prefix saves; Captum also computes the
full-vocabulary logits at every position and pays per-call costs, which come on top), and the largest difference
between the attributions.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import time

import torch
from captum.attr import FeatureAblation, LLMAttribution, TextTemplateInput

from self_explain.core.engine import Ablation, SweepStats, ablation_sweep, clean_runs
from self_explain.core.models import is_toy_model, load_model
from self_explain.realworld import fact_table_for
from self_explain.tasks.ablation.ground_truth import encode_prompt, target_prompt
from self_explain.tasks.ablation.sources import fact_table_hint_examples
from self_explain.toyworld import toy_world_for
from self_explain.toyworld.examples import choice_example


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", default="toy-target", help="a toy model, or a packaged one with facts (smollm2-135m)"
    )
    parser.add_argument("--examples", type=int, default=32, help="number of hint questions")
    parser.add_argument("--seed", type=int, default=0, help="seed of the question draw")
    parser.add_argument("--max-tokens-per-pass", type=int, default=384, help="packing budget of ablation_sweep")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of our sweep (best is reported)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument(
        "--features",
        default="hint,words",
        help="comma-separated feature sets: hint (before / hint line / after) and words (every word deleted in turn)",
    )
    return parser.parse_args(argv)


def hint_prompts(model_name: str, tokenizer, count: int, seed: int) -> list[tuple[str, str]]:
    """(chat prompt, hint line) of ``count`` seeded hint questions: the toy world's, or a real model's."""
    if is_toy_model(model_name):
        rng = random.Random(seed)
        questions = [toy_world_for(model_name).random_hint_question(rng) for _ in range(count)]
        return [(choice_example(tokenizer, q).prompt, q.hint + " ") for q in questions]
    table = fact_table_for(model_name)
    if table is None:
        raise SystemExit(f"no built-in hint questions for {model_name!r}: give a toy model or smollm2-135m")
    examples = fact_table_hint_examples(table, count, seed)
    return [(target_prompt(tokenizer, e.text), e.text[e.span_start : e.span_end]) for e in examples]


def hint_examples(model, tokenizer, model_name: str, count: int, seed: int, features: str = "hint") -> list[dict]:
    """Hint questions as Captum's segments — (before, hint, after), or every word with ``features="words"`` —
    our tokens, the token span of each segment and the greedy answer (at most 4 tokens, up to the end of turn).
    Words are cut before each space (the toy tokenizer splits on spaces, BPE tokenizers start words with one), and
    Captum's texts are checked to tokenize to our token sequences."""
    end_id = tokenizer.convert_tokens_to_ids("<|end|>") if is_toy_model(model_name) else tokenizer.eos_token_id
    adds_bos = tokenizer.bos_token is not None and tokenizer.encode("a")[:1] == [tokenizer.bos_token_id]
    examples = []
    for prompt, hint in hint_prompts(model_name, tokenizer, count, seed):
        text = prompt[len(tokenizer.bos_token) :] if adds_bos else prompt  # Captum's encode adds the BOS itself
        if features == "words":
            words = text.split(" ")
            segments = [words[0]] + [" " + word for word in words[1:]]
            if is_toy_model(model_name):
                segments = [word + " " for word in words[:-1]] + [words[-1]]
        else:
            cut = text.index(hint)
            segments = [text[:cut], hint, text[cut + len(hint) :]]
        tokens = encode_prompt(tokenizer, prompt)
        bounds = [1 if adds_bos else 0]
        for segment in segments:
            bounds.append(bounds[-1] + len(tokenizer(segment, add_special_tokens=False)["input_ids"]))
        spans = list(itertools.pairwise(bounds))
        if bounds[-1] != len(tokens):
            raise ValueError(f"the segments of {text!r} tokenize to {bounds[-1]} tokens, the prompt to {len(tokens)}")
        for index, (start, end) in enumerate(spans):
            kept = "".join(s for i, s in enumerate(segments) if i != index)
            if tokenizer.encode(kept) != tokens[:start] + tokens[end:]:
                raise ValueError(f"Captum's text without segment {index} is not our ablated sequence: {kept!r}")
        with torch.no_grad():
            generated = model.generate(torch.tensor([tokens]), max_new_tokens=4, do_sample=False, eos_token_id=end_id)
        answer = generated[0, len(tokens) :].tolist()
        answer = answer[: answer.index(end_id)] if end_id in answer else answer
        examples.append({"segments": segments, "tokens": tokens, "spans": spans, "answer": answer})
    return examples


def ours(model, examples: list[dict], budget: int) -> tuple[torch.Tensor, SweepStats]:
    """Attributions (examples, 3) as Captum defines them: clean − ablated log-prob of the answer."""
    stats = SweepStats()
    runs = clean_runs(model, [e["tokens"] for e in examples])
    ablations = [Ablation(i, start, end) for i, e in enumerate(examples) for start, end in e["spans"]]
    answers = [e["answer"] for e in examples for _ in e["spans"]]
    result = ablation_sweep(model, runs, ablations, answers, max_tokens_per_pass=budget, stats=stats)
    return -result.effect, stats


def captum(model, tokenizer, examples: list[dict]) -> torch.Tensor:
    attribution = LLMAttribution(FeatureAblation(model), tokenizer)
    rows = []
    for example in examples:
        segments = example["segments"]
        inp = TextTemplateInput(template="{}" * len(segments), values=segments, baselines=[""] * len(segments))
        # forward_in_tokens=False: the answer scored in one pass per perturbation, Captum's fastest path. Its default,
        # token by token with the model's cache, gives wrong log-probs on SmolLM2 under transformers 5 (-8.18 where
        # a plain forward pass gives -2.02 for an answer's first token).
        rows.append(
            attribution.attribute(inp, target=tokenizer.decode(example["answer"]), forward_in_tokens=False).seq_attr
        )
    return torch.cat(rows)


def compare(model, tokenizer, args: argparse.Namespace, features: str) -> dict:
    examples = hint_examples(model, tokenizer, args.model, args.examples, args.seed, features)
    for example in examples:
        if tokenizer.encode(tokenizer.decode(example["answer"]), add_special_tokens=False) != example["answer"]:
            raise ValueError(
                f"the answer {example['answer']} does not survive decode + encode (Captum's target string)"
            )

    ours(model, examples[:4], args.max_tokens_per_pass)  # warm-up
    our_seconds = float("inf")
    for _ in range(args.repeats):
        started = time.perf_counter()
        our_attr, stats = ours(model, examples, args.max_tokens_per_pass)
        our_seconds = min(our_seconds, time.perf_counter() - started)

    captum(model, tokenizer, examples[:1])  # warm-up
    started = time.perf_counter()
    captum_attr = captum(model, tokenizer, examples)
    captum_seconds = time.perf_counter() - started

    lengths = [len(e["tokens"]) for e in examples]
    # Layer-token units (one decoder layer at one position): Captum runs the prompt and the teacher-forced answer
    # once clean and once per ablation without the span; we run each prompt clean, then only what each ablation
    # changes. Their ratio is the saving in decoder-layer work; the unembedding and per-call costs are not in it.
    layers = model.config.num_hidden_layers
    captum_units = layers * sum(
        len(e["tokens"])
        + len(e["answer"])
        + sum(len(e["tokens"]) - (end - start) + len(e["answer"]) for start, end in e["spans"])
        for e in examples
    )
    our_units = layers * sum(lengths) + stats.layer_token_units
    return {
        "features": features,
        "examples": len(examples),
        "prompt_tokens": f"{min(lengths)}-{max(lengths)}",
        "answer_tokens": f"{min(len(e['answer']) for e in examples)}-{max(len(e['answer']) for e in examples)}",
        "ablations": len(our_attr),
        "ours_examples_per_s": round(len(examples) / our_seconds, 1),
        "captum_examples_per_s": round(len(examples) / captum_seconds, 1),
        "speedup": round(captum_seconds / our_seconds, 1),
        "max_abs_difference": float((our_attr - captum_attr).abs().max()),
        "our_passes": stats.passes,
        "our_layer_token_units": our_units,
        "captum_layer_token_units": captum_units,
        "layer_work_ratio": round(captum_units / our_units, 2),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    loaded = load_model(args.model)
    rows = [compare(loaded.model, loaded.tokenizer, args, features) for features in args.features.split(",")]
    print(
        json.dumps(
            {
                "model": args.model,
                "revision": loaded.revision,
                "torch_threads": torch.get_num_threads(),
                "max_tokens_per_pass": args.max_tokens_per_pass,
                "results": rows,
            },
            indent=2,
        )
    )
    print()
    print(
        "| features | examples | ablations | ours examples/s | Captum examples/s | speed-up | layer-work ratio | max "
        "abs diff |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['features']} | {row['examples']} | {row['ablations']} | {row['ours_examples_per_s']} | "
            f"{row['captum_examples_per_s']} | {row['speedup']}x | {row['layer_work_ratio']}x | "
            f"{row['max_abs_difference']:.1e} |"
        )


if __name__ == "__main__":
    main()
