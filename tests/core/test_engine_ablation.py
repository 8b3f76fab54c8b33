"""Input ablation: the packed sweep equals plain forward passes, bad inputs, and Captum as an oracle."""

import random

import pytest
import torch

from self_explain.core.architectures import adapter_for
from self_explain.core.engine import (
    Ablation,
    SweepStats,
    ablate_naive,
    ablation_sweep,
    clean_runs,
)
from tests.conftest import random_sequences, tiny_model

ATOL = 1e-4


def _every_span(lengths, max_width=None):
    """Every span [start, end) of every prompt that leaves at least one token."""
    return [
        Ablation(prompt, start, end)
        for prompt, length in enumerate(lengths)
        for start in range(length)
        for end in range(start + 1, min(length, start + (max_width or length)) + 1)
        if end - start < length
    ]


def _random_answers(count, seed=1, vocab=97):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randint(0, vocab, (1 + i % 3,), generator=generator).tolist() for i in range(count)]


def _assert_same_as_naive(model, sequences, ablations, fast, answers=None):
    naive = [
        ablate_naive(model, sequences[a.prompt], a, None if answers is None else answers[i])
        for i, a in enumerate(ablations)
    ]
    expected_logits = torch.cat([n.logits for n in naive])
    assert fast.logits.shape == expected_logits.shape
    torch.testing.assert_close(fast.logits, expected_logits, atol=ATOL, rtol=0)
    if answers is None:
        assert fast.answer_logprob_ablated is None and fast.answer_logprob_clean is None
        return
    torch.testing.assert_close(
        fast.answer_logprob_ablated, torch.cat([n.answer_logprob_ablated for n in naive]), atol=ATOL, rtol=0
    )
    torch.testing.assert_close(
        fast.answer_logprob_clean, torch.cat([n.answer_logprob_clean for n in naive]), atol=ATOL, rtol=0
    )


# --- invariance: fast == naive ---------------------------------------------------------------------


def test_layer_zero_input_is_what_the_model_feeds_its_first_layer(tiny_causal_lm):
    """The adapter's embedding (token embedding, Gemma's normaliser, GPT-2's learned positions) is the
    clean run's layer-0 residual."""
    model = tiny_causal_lm
    sequence = random_sequences([7], seed=2)[0]
    run = clean_runs(model, [sequence])[0]
    embedded = adapter_for(model).embed(model, run.input_ids[None], torch.arange(7)[None])[0]
    torch.testing.assert_close(embedded, run.residuals[0], atol=1e-6, rtol=0)


@pytest.mark.parametrize("with_answers", [False, True])
def test_sweep_equals_naive_every_span(tiny_causal_lm, with_answers):
    """Three prompts of different lengths packed together (longer than gemma2's sliding window of 4),
    every span, answers of 1-3 tokens, and a token budget that forces several packed passes."""
    model = tiny_causal_lm
    lengths = [3, 8, 6]
    sequences = random_sequences(lengths)
    runs = clean_runs(model, sequences)
    ablations = _every_span(lengths)
    answers = _random_answers(len(ablations)) if with_answers else None
    stats = SweepStats()
    fast = ablation_sweep(model, runs, ablations, answers, max_tokens_per_pass=20, stats=stats)
    assert stats.passes > 2
    _assert_same_as_naive(model, sequences, ablations, fast, answers)


def test_order_kept_single_run_and_no_ablations():
    model = tiny_model("gpt2")
    sequences = random_sequences([6])
    run = clean_runs(model, sequences)[0]
    ablations = _every_span([6])[::-1]
    answers = [[5, 9]] * len(ablations)  # one clean answer pass serves them all
    _assert_same_as_naive(model, sequences, ablations, ablation_sweep(model, run, ablations, answers), answers)
    assert ablation_sweep(model, run, []).logits.numel() == 0


def test_clean_answer_matches_the_clean_logits_and_effect_is_the_difference():
    model = tiny_model("llama")
    sequences = random_sequences([5, 4], seed=5)
    runs = clean_runs(model, sequences)
    ablations = [Ablation(0, 1, 3), Ablation(1, 0, 2)]
    answers = [[7], [8]]
    result = ablation_sweep(model, runs, ablations, answers)
    expected_clean = torch.stack(
        [torch.log_softmax(runs[a.prompt].logits, -1)[answer[0]] for a, answer in zip(ablations, answers)]
    )
    torch.testing.assert_close(result.answer_logprob_clean, expected_clean, atol=ATOL, rtol=0)
    torch.testing.assert_close(result.effect, result.answer_logprob_ablated - result.answer_logprob_clean)


def test_toy_target_sweep_equals_naive():
    from self_explain.core.models import load_model
    from self_explain.toyworld.world import ToyWorld

    loaded = load_model("toy-target")
    model, tokenizer = loaded.model, loaded.tokenizer
    prompts = ToyWorld.generate(0).fact_prompts()[:2]
    sequences = [tokenizer(p.text)["input_ids"] for p in prompts]
    runs = clean_runs(model, sequences)
    ablations = _every_span([len(s) for s in sequences], max_width=3)
    # One-token answers, and two-token ones (answer + ".") on every other span: scored after the full prompt once.
    answers = [
        tokenizer(" " + prompts[a.prompt].answer + (" ." if i % 2 else ""), add_special_tokens=False)["input_ids"]
        for i, a in enumerate(ablations)
    ]
    assert {len(answer) for answer in answers} == {1, 2}
    stats = SweepStats()
    fast = ablation_sweep(model, runs, ablations, answers, stats=stats)
    _assert_same_as_naive(model, sequences, ablations, fast, answers)
    # Only the tokens after each span and the answer but its last token are computed, at every layer (a span
    # at the end recomputes the last kept token); a one-token answer after the full prompt is read from the
    # clean logits, a two-token one costs the last prompt token and the answer's first token.
    num_layers = len(adapter_for(model).layers(model))
    ablated_tokens = sum(
        len(sequences[a.prompt]) - a.end + len(answer) - 1 + (a.end == len(sequences[a.prompt]))
        for a, answer in zip(ablations, answers)
    )
    clean_tokens = 2 * len(sequences)
    assert stats.layer_token_units == num_layers * (ablated_tokens + clean_tokens)


# --- errors ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def llama_and_runs():
    model = tiny_model("llama")
    return model, clean_runs(model, random_sequences([4, 6], seed=7))


@pytest.mark.parametrize(
    "ablation, answer, message",
    [
        (Ablation(2, 0, 1), None, "prompt 2, but 2 clean runs"),
        (Ablation(-1, 0, 1), None, "prompt -1"),
        (Ablation(0, 2, 2), None, "span \\[2, 2\\) is empty"),
        (Ablation(0, 3, 1), None, "span \\[3, 1\\) is empty"),
        (Ablation(0, 2, 5), None, "span \\[2, 5\\) out of range for a prompt of 4 tokens"),
        (Ablation(0, -1, 2), None, "out of range"),
        (Ablation(0, 0, 4), None, "deletes the whole prompt"),
        (Ablation(0, 0, 1), [], "answer 1 is empty"),
        (Ablation(1, 0, 1), [1] * 60, "longer than the model's context of 64"),
    ],
)
def test_sweep_rejects_bad_ablations(llama_and_runs, ablation, answer, message):
    model, runs = llama_and_runs
    answers = None if answer is None else [[3], answer]
    with pytest.raises(ValueError, match=message):
        ablation_sweep(model, runs, [Ablation(0, 0, 1), ablation], answers)


def test_sweep_rejects_answers_of_the_wrong_count(llama_and_runs):
    model, runs = llama_and_runs
    with pytest.raises(ValueError, match="2 answers were given for 1 ablations"):
        ablation_sweep(model, runs, [Ablation(0, 0, 1)], [[1], [2]])


# --- oracle: Captum's feature ablation with a deletion baseline -------------------------------------


def _hint_examples(tokenizer, model, count):
    """Toy-world hint questions: the chat prompt split as (before, hint, after) on whitespace, its tokens,
    the hint's token span and the model's greedy answer (up to <|end|>)."""
    from self_explain.toyworld.examples import choice_example
    from self_explain.toyworld.world import ToyWorld

    world, rng = ToyWorld.generate(0), random.Random(0)
    end_id = tokenizer.convert_tokens_to_ids("<|end|>")
    examples = []
    for index in range(count):
        # Half on facts the toy target does not know: there the hint decides its answer.
        question = world.random_hint_question(rng, world.unknown_pairs if index % 2 else world.known_pairs)
        prompt = choice_example(tokenizer, question).prompt
        assert prompt.startswith(tokenizer.bos_token)
        text = prompt[len(tokenizer.bos_token) :]  # Captum's encode adds the <bos> itself
        cut = text.index(question.hint)
        before, hint, after = text[:cut], question.hint + " ", text[cut + len(question.hint) + 1 :]
        tokens = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        start = len(tokenizer(tokenizer.bos_token + before, add_special_tokens=False)["input_ids"])
        end = start + len(tokenizer(hint, add_special_tokens=False)["input_ids"])
        generated = model.generate(torch.tensor([tokens]), max_new_tokens=4, do_sample=False, eos_token_id=end_id)
        answer = generated[0, len(tokens) :].tolist()
        answer = answer[: answer.index(end_id)] if end_id in answer else answer
        examples.append(
            {"before": before, "hint": hint, "after": after, "tokens": tokens, "span": (start, end), "answer": answer}
        )
    return examples


def test_hint_deletion_equals_captum_feature_ablation():
    """Deleting the hint changes the log-prob of the greedy answer by minus Captum's FeatureAblation
    attribution of the hint segment (attribution = clean − ablated), on the same token sequences."""
    from captum.attr import FeatureAblation, LLMAttribution, TextTemplateInput

    from self_explain.core.models import load_model

    loaded = load_model("toy-target")
    model, tokenizer = loaded.model, loaded.tokenizer
    examples = _hint_examples(tokenizer, model, 8)
    runs = clean_runs(model, [e["tokens"] for e in examples])
    ablations = [Ablation(i, *e["span"]) for i, e in enumerate(examples)]
    ours = ablation_sweep(model, runs, ablations, [e["answer"] for e in examples])

    captum = LLMAttribution(FeatureAblation(model), tokenizer)
    theirs = []
    for example in examples:
        before, hint, after, tokens, (start, end) = (example[k] for k in ("before", "hint", "after", "tokens", "span"))
        # The sequences Captum builds are the ones we score: full, and with the hint deleted.
        assert tokenizer.encode(before + hint + after) == tokens
        assert tokenizer.encode(before + after) == tokens[:start] + tokens[end:]
        target = tokenizer.decode(example["answer"])
        assert tokenizer.encode(target, add_special_tokens=False) == example["answer"]
        inp = TextTemplateInput(template="{}{}{}", values=[before, hint, after], baselines=["", "", ""])
        theirs.append(captum.attribute(inp, target=target).seq_attr[1])
    torch.testing.assert_close(ours.effect, -torch.stack(theirs), atol=ATOL, rtol=0)
    assert ours.effect.abs().max() > 0.01  # the hint matters to the toy target
