"""Ablations that write tokens in place of the deleted span (``Ablation.replacement``): sweep == naive."""

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


def naive_results(model, sequences, ablations, answers=None):
    return [
        ablate_naive(model, sequences[a.prompt], a, None if answers is None else answers[i])
        for i, a in enumerate(ablations)
    ]


def assert_same_as_naive(model, sequences, ablations, fast, answers=None):
    naive = naive_results(model, sequences, ablations, answers)
    torch.testing.assert_close(fast.logits, torch.cat([n.logits for n in naive]), atol=ATOL, rtol=0)
    if answers is not None:
        torch.testing.assert_close(
            fast.answer_logprob_ablated, torch.cat([n.answer_logprob_ablated for n in naive]), atol=ATOL, rtol=0
        )
        torch.testing.assert_close(
            fast.answer_logprob_clean, torch.cat([n.answer_logprob_clean for n in naive]), atol=ATOL, rtol=0
        )
        torch.testing.assert_close(fast.effect, torch.cat([n.effect for n in naive]), atol=2 * ATOL, rtol=0)


@pytest.mark.parametrize(
    "ablation, expected",
    [
        (Ablation(0, 1, 3), [10, 13, 14]),
        (Ablation(0, 1, 3, (7,)), [10, 7, 13, 14]),
        (Ablation(0, 0, 1, (7, 8, 9)), [7, 8, 9, 11, 12, 13, 14]),
        (Ablation(0, 3, 5, (7,)), [10, 11, 12, 7]),
        (Ablation(0, 0, 5, (7, 8)), [7, 8]),
    ],
)
def test_apply_writes_the_replacement_in_place_of_the_span(ablation, expected):
    assert ablation.apply([10, 11, 12, 13, 14]) == expected


# Prompts of 6 and 5 tokens; replacements at the very start, at the very end, longer and shorter than the span,
# the whole prompt replaced, and plain deletions (also at the start and the end) in the same sweep.
MIXED = [
    Ablation(0, 0, 2, (5,)),  # start, shorter
    Ablation(0, 0, 1, (5, 6, 7)),  # start, longer
    Ablation(0, 4, 6, (9,)),  # end
    Ablation(0, 5, 6, (9, 3)),  # the last token, longer
    Ablation(0, 2, 4),  # plain deletion
    Ablation(0, 0, 6, (3, 4)),  # the whole prompt replaced: allowed, something is left
    Ablation(1, 1, 3, (8,)),  # middle
    Ablation(1, 3, 5, (1, 2)),  # end
    Ablation(1, 0, 2),  # plain deletion at the start
    Ablation(1, 4, 5),  # plain deletion at the end: the last kept token is recomputed
    Ablation(1, 0, 1, (60,)),  # start, same length: a one-token substitution
]


@pytest.mark.parametrize("with_answers", [False, True])
@pytest.mark.parametrize("max_tokens_per_pass", [384, 6])
def test_mixed_replacements_and_deletions_equal_naive_on_llama(with_answers, max_tokens_per_pass):
    model = tiny_model("llama")
    sequences = random_sequences([6, 5], seed=11)
    runs = clean_runs(model, sequences)
    answers = [[(3 * i) % 97 + 1] * (1 + i % 3) for i in range(len(MIXED))] if with_answers else None
    stats = SweepStats()
    fast = ablation_sweep(model, runs, MIXED, answers, max_tokens_per_pass=max_tokens_per_pass, stats=stats)
    assert fast.logits.shape == (len(MIXED), 97)
    assert_same_as_naive(model, sequences, MIXED, fast, answers)
    if max_tokens_per_pass == 6:
        assert stats.passes > 3


def test_a_pass_of_start_replacements_only_sees_no_clean_prefix():
    """Every row starts at position 0: the packed pass has no clean keys at all."""
    model = tiny_model("llama")
    sequences = random_sequences([5, 4], seed=8)
    ablations = [Ablation(0, 0, 2, (7,)), Ablation(1, 0, 4, (8, 9)), Ablation(0, 0, 5, (1,))]
    answers = [[3], [4, 5], [6, 7, 8]]
    fast = ablation_sweep(model, clean_runs(model, sequences), ablations, answers)
    assert_same_as_naive(model, sequences, ablations, fast, answers)


def test_replacement_is_not_a_deletion():
    """The replacement tokens really are read: the same span deleted or replaced gives other logits."""
    model = tiny_model("llama")
    sequences = random_sequences([6], seed=11)
    runs = clean_runs(model, sequences)
    result = ablation_sweep(model, runs, [Ablation(0, 1, 3), Ablation(0, 1, 3, (40,)), Ablation(0, 1, 3, (41,))])
    assert not torch.allclose(result.logits[0], result.logits[1], atol=1e-3)
    assert not torch.allclose(result.logits[1], result.logits[2], atol=1e-3)


def test_replacing_a_span_by_its_own_tokens_changes_nothing():
    model = tiny_model("llama")
    sequence = random_sequences([7], seed=3)[0]
    run = clean_runs(model, [sequence])[0]
    ablations = [
        Ablation(0, 2, 5, tuple(sequence[2:5])),
        Ablation(0, 0, 7, tuple(sequence)),
        Ablation(0, 6, 7, (sequence[6],)),
    ]
    result = ablation_sweep(model, run, ablations, answers=[[4, 5]] * 3)
    torch.testing.assert_close(result.logits, run.logits.expand(3, -1), atol=ATOL, rtol=0)
    torch.testing.assert_close(result.effect, torch.zeros(3), atol=ATOL, rtol=0)


def test_every_span_with_replacements_of_zero_to_two_tokens(tiny_causal_lm):
    """Every span of two prompts, each deleted and replaced by one and by two tokens, on every architecture
    (learned positions, sliding windows: the replacement shifts the positions of everything after it)."""
    model = tiny_causal_lm
    lengths = [5, 7]
    sequences = random_sequences(lengths, seed=2)
    runs = clean_runs(model, sequences)
    ablations = []
    for prompt, length in enumerate(lengths):
        for start in range(length):
            for end in range(start + 1, length + 1):
                for replacement in ((), (start + 20,), (start + 30, end + 40)):
                    if replacement or end - start < length:
                        ablations.append(Ablation(prompt, start, end, replacement))
    answers = [[i % 97, (i * 7) % 97][: 1 + i % 2] for i in range(len(ablations))]
    fast = ablation_sweep(model, runs, ablations, answers, max_tokens_per_pass=40)
    assert_same_as_naive(model, sequences, ablations, fast, answers)


def test_work_counts_the_replacement_tokens_and_nothing_before_the_span():
    model = tiny_model("llama")
    sequences = random_sequences([6, 5], seed=11)
    runs = clean_runs(model, sequences)
    stats = SweepStats()
    ablation_sweep(model, runs, MIXED, stats=stats)
    num_layers = len(adapter_for(model).layers(model))
    lengths = [len(s) for s in sequences]
    # Only the replacement and the tokens after the span run, at every layer; a plain deletion at the end
    # recomputes the last kept token.
    suffix_tokens = sum(max(1, len(a.replacement) + lengths[a.prompt] - a.end) for a in MIXED)
    assert stats.layer_token_units == num_layers * suffix_tokens


def test_whole_prompt_deleted_without_replacement_is_still_refused():
    model = tiny_model("llama")
    run = clean_runs(model, random_sequences([4]))[0]
    with pytest.raises(ValueError, match="deletes the whole prompt"):
        ablation_sweep(model, run, [Ablation(0, 0, 4)])
    assert ablation_sweep(model, run, [Ablation(0, 0, 4, (9,))]).logits.shape == (1, 97)
