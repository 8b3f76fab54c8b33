"""The engine: the fast packed sweep equals the naive reference, analytic cases, work done, errors."""

import warnings

import pytest
import torch

from self_explain.core.architectures import adapter_for, decoder_layers
from self_explain.core.engine import (
    Ablation,
    Patch,
    SweepStats,
    ablation_sweep,
    clean_runs,
    last_token_logits,
    patch_naive,
    patch_sweep,
    read_residual,
)
from tests.conftest import random_sequences, tiny_model

ATOL = 1e-4


def _every_patch(runs, num_layers, windows, seed=0):
    """Every (start layer, position) of every prompt for each window size; vectors random at the residuals' scale."""
    generator = torch.Generator().manual_seed(seed)
    patches = []
    for prompt, run in enumerate(runs):
        scale = run.residuals.std()
        for window in windows:
            for start in range(num_layers - window + 1):
                for position in range(run.length):
                    vectors = torch.randn(window, run.residuals.shape[-1], generator=generator) * scale
                    if window == 1 and position % 2:  # the (hidden,) form: same vector at each patched layer
                        vectors = vectors[0]
                    patches.append(Patch(tuple(range(start, start + window)), position, vectors, prompt))
    return patches


def _assert_same_as_naive(model, sequences, patches, fast):
    naive = torch.stack([patch_naive(model, sequences[p.prompt], p) for p in patches])
    assert fast.shape == naive.shape
    assert torch.equal(fast.argmax(-1), naive.argmax(-1))
    torch.testing.assert_close(fast, naive, atol=ATOL, rtol=0)


# --- invariance: fast == naive ---------------------------------------------------------------------


def test_sweep_equals_naive_every_layer_and_position(tiny_causal_lm):
    """Several prompts of different lengths in one sweep (longer than gemma2's sliding window of 4),
    windows of 1 and 2 layers, and a token budget that forces several packed passes."""
    model = tiny_causal_lm
    num_layers = len(decoder_layers(model))
    sequences = random_sequences([3, 7, 5])
    runs = clean_runs(model, sequences)
    patches = _every_patch(runs, num_layers, windows=(1, 2))
    stats = SweepStats()
    fast = patch_sweep(model, runs, patches, max_tokens_per_pass=24, stats=stats)
    assert stats.passes > 2
    _assert_same_as_naive(model, sequences, patches, fast)


def test_sweep_order_of_patches_is_kept():
    """Patches given in an order that is not sorted by start layer come back in the given order."""
    model = tiny_model("llama")
    sequences = random_sequences([6])
    runs = clean_runs(model, sequences)
    patches = _every_patch(runs, 3, windows=(1,))[::-1]
    _assert_same_as_naive(model, sequences, patches, patch_sweep(model, runs, patches, max_tokens_per_pass=10))


def test_single_clean_run_and_no_patches():
    model = tiny_model("gpt2")
    sequences = random_sequences([4])
    run = clean_runs(model, sequences)[0]
    patch = Patch((1,), 2, run.residuals[1, 2] * 2)
    _assert_same_as_naive(model, sequences, [patch], patch_sweep(model, run, [patch]))
    assert patch_sweep(model, run, []).numel() == 0


# --- analytic cases --------------------------------------------------------------------------------


def test_clean_logits_equal_an_unbatched_forward(tiny_causal_lm):
    model = tiny_causal_lm
    sequences = random_sequences([2, 6, 4], seed=3)
    runs = clean_runs(model, sequences)
    for run, sequence in zip(runs, sequences):
        alone = model(input_ids=torch.tensor([sequence])).logits[0, -1]
        torch.testing.assert_close(run.logits, alone, atol=ATOL, rtol=0)
    torch.testing.assert_close(
        last_token_logits(model, sequences), torch.stack([r.logits for r in runs]), atol=ATOL, rtol=0
    )


def test_patching_own_clean_residuals_gives_clean_logits(tiny_causal_lm):
    model = tiny_causal_lm
    sequences = random_sequences([5, 3], seed=4)
    runs = clean_runs(model, sequences)
    patches = [
        Patch((layer,), position, run.outputs[layer, position], prompt)
        for prompt, run in enumerate(runs)
        for layer in range(3)
        for position in range(run.length)
    ]
    fast = patch_sweep(model, runs, patches, max_tokens_per_pass=8)
    expected = torch.stack([runs[p.prompt].logits for p in patches])
    torch.testing.assert_close(fast, expected, atol=ATOL, rtol=0)


def test_patching_the_last_layer_at_the_last_position_gives_the_other_prompts_logits(tiny_causal_lm):
    """Layer L-1 is the last block's output: written at the last position, nothing runs after it but the final norm
    and the unembedding, so any other prompt's last-layer vector there gives that prompt's logits (were it the
    block's input, the block would still run on it and mix in this prompt's keys and values)."""
    model = tiny_causal_lm
    last_layer = len(decoder_layers(model)) - 1
    prompt, other = [5, 17, 42, 8, 30, 11], [9, 3, 60, 21]
    runs = clean_runs(model, [prompt, other])
    assert not torch.allclose(runs[0].logits, runs[1].logits, atol=ATOL)
    patch = Patch((last_layer,), len(prompt) - 1, runs[1].outputs[last_layer, len(other) - 1], prompt=0)
    torch.testing.assert_close(patch_sweep(model, runs, [patch])[0], runs[1].logits, atol=ATOL, rtol=0)
    torch.testing.assert_close(patch_naive(model, prompt, patch), runs[1].logits, atol=ATOL, rtol=0)
    earlier = Patch((last_layer,), 2, runs[1].outputs[last_layer, 2], prompt=0)  # no later block reads it
    torch.testing.assert_close(patch_sweep(model, runs, [earlier])[0], runs[0].logits, atol=ATOL, rtol=0)


def test_layer_l_is_the_output_of_block_l(tiny_causal_lm):
    """Against forward hooks on the model's blocks: the clean run's ``outputs[l]`` and `read_residual` are what block
    l returns, ``residuals[l]`` what it receives; a patch at layer l changes what block l returns (the hook sees
    the clean output, the next block the patched one)."""
    model = tiny_causal_lm
    blocks = decoder_layers(model)
    sequence = random_sequences([6], seed=9)[0]
    seen_in, seen_out = {}, {}

    def keep_input(index):
        def hook(module, args, kwargs):
            seen_in[index] = (args[0] if args else kwargs["hidden_states"]).detach()[0]

        return hook

    def keep_output(index):
        def hook(module, args, output):
            seen_out[index] = (output[0] if isinstance(output, tuple) else output).detach()[0]

        return hook

    handles = [b.register_forward_pre_hook(keep_input(i), with_kwargs=True) for i, b in enumerate(blocks)]
    handles += [b.register_forward_hook(keep_output(i)) for i, b in enumerate(blocks)]
    try:
        with torch.no_grad():
            model(input_ids=torch.tensor([sequence]))
        clean_in, clean_out = dict(seen_in), dict(seen_out)
        run = clean_runs(model, [sequence])[0]
        for layer in range(len(blocks)):
            torch.testing.assert_close(run.outputs[layer], clean_out[layer], atol=1e-6, rtol=0)
            torch.testing.assert_close(run.residuals[layer], clean_in[layer], atol=1e-6, rtol=0)
            torch.testing.assert_close(
                read_residual(model, sequence, layer, 3), clean_out[layer][3], atol=1e-6, rtol=0
            )
        vector = torch.full_like(clean_out[0][3], 0.5)
        patch_naive(model, sequence, Patch((0,), 3, vector))
        torch.testing.assert_close(seen_in[1][3], vector)  # block 1 receives the patched output of block 0
        torch.testing.assert_close(seen_in[0], clean_in[0])  # block 0 itself ran on the clean input
    finally:
        for handle in handles:
            handle.remove()


def test_patching_a_differing_last_token_at_any_layer_gives_the_other_prompts_logits(tiny_causal_lm):
    """Prompts that differ only in their last token share every earlier key and value, so writing the
    other prompt's residual at the last position, at any one layer or at all layers, gives its logits."""
    model = tiny_causal_lm
    prompt = [5, 17, 42, 8, 30]
    runs = clean_runs(model, [prompt, prompt[:-1] + [61]])
    last = len(prompt) - 1
    patches = [Patch((layer,), last, runs[1].outputs[layer, last]) for layer in range(3)]
    patches.append(Patch((0, 1, 2), last, runs[1].outputs[:, last]))
    fast = patch_sweep(model, runs, patches)
    torch.testing.assert_close(fast, runs[1].logits.expand(len(patches), -1), atol=ATOL, rtol=0)


# --- work done ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("max_tokens_per_pass", [768, 7])
def test_full_sweep_costs_exactly_the_limit(max_tokens_per_pass):
    model = tiny_model("llama")
    num_layers = len(decoder_layers(model))
    lengths = [6, 4]
    runs = clean_runs(model, random_sequences(lengths, seed=6))
    patches = _every_patch(runs, num_layers, windows=(1,))
    stats = SweepStats()
    patch_sweep(model, runs, patches, max_tokens_per_pass=max_tokens_per_pass, stats=stats)
    # A patch at layer l (the output of block l) runs blocks l + 1 .. L - 1 on the positions from the patched one on.
    limit = sum(num_layers * (num_layers - 1) // 2 * t * (t + 1) // 2 for t in lengths)
    assert stats.layer_token_units == limit
    assert stats.passes >= (1 if max_tokens_per_pass == 768 else 6)


# --- keeping up with transformers ----------------------------------------------------------------------


def test_no_deprecated_cache_argument(tiny_causal_lm):
    """transformers 5.x renamed ``past_key_values`` to ``cache`` and warns (FutureWarning) on the old name:
    clean runs, a patch sweep and an ablation sweep raise none on any architecture."""
    model = tiny_causal_lm
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        runs = clean_runs(model, random_sequences([4, 6]))
        patch_sweep(model, runs, [Patch((1,), 2, runs[1].residuals[1, 2], prompt=0)])
        ablation_sweep(model, runs, [Ablation(1, 1, 3)], answers=[[5]])


def test_cache_argument_is_read_from_the_signature(tiny_causal_lm):
    """The current name where the installed transformers takes it; GPT-NeoX's layers only know ``layer_past``."""
    model = tiny_causal_lm
    adapter = adapter_for(model)
    assert adapter.cache_argument(model) == "cache"
    expected = "layer_past" if model.config.model_type == "gpt_neox" else "cache"
    assert adapter.cache_argument(decoder_layers(model)[0]) == expected
    with pytest.raises(ValueError, match="takes no key/value cache argument"):
        adapter.cache_argument(torch.nn.Linear(2, 2))


# --- errors ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def llama_and_runs():
    model = tiny_model("llama")
    return model, clean_runs(model, random_sequences([4, 6], seed=7))


@pytest.mark.parametrize(
    "patch, message",
    [
        (dict(layers=(3,), position=0), "layers \\[3\\] out of range: the model has 3 layers"),
        (dict(layers=(2, 3), position=0), "out of range: the model has 3 layers"),
        (dict(layers=(-1,), position=0), "out of range"),
        (dict(layers=(0,), position=4), "position 4 out of range for a prompt of 4 tokens"),
        (dict(layers=(0,), position=-1), "position -1 out of range"),
        (dict(layers=(0,), position=0, prompt=2), "prompt 2, but 2 clean runs"),
        (dict(layers=(0,), position=0, prompt=-1), "prompt -1"),
    ],
)
def test_sweep_rejects_bad_patches(llama_and_runs, patch, message):
    model, runs = llama_and_runs
    good = Patch((0,), 0, torch.zeros(32))
    with pytest.raises(ValueError, match=message):
        patch_sweep(model, runs, [good, Patch(vectors=torch.zeros(32), **patch)])


@pytest.mark.parametrize("layers", [(0, 2), (1, 0), ()])
def test_patch_layers_must_be_consecutive(layers):
    with pytest.raises(ValueError, match="consecutive layers"):
        Patch(layers, 0, torch.zeros(32))


def test_clean_runs_rejects_empty_and_too_long_sequences(llama_and_runs):
    model, _ = llama_and_runs
    with pytest.raises(ValueError, match="sequence 1 is empty"):
        clean_runs(model, [[1, 2], []])
    with pytest.raises(ValueError, match="65 tokens, longer than the model's context of 64"):
        clean_runs(model, [[1] * 65])
    gpt2 = tiny_model("gpt2")  # its context is n_positions
    with pytest.raises(ValueError, match="context of 64"):
        clean_runs(gpt2, [[1] * 65])


# --- reading ---------------------------------------------------------------------------------------


def test_read_residual_is_transformers_hidden_state_after_the_block():
    """``hidden_states[l + 1]`` for every block but the last, whose transformers entry has the final norm applied."""
    model = tiny_model("llama")
    sequence = random_sequences([5], seed=8)[0]
    hidden_states = model(input_ids=torch.tensor([sequence]), output_hidden_states=True).hidden_states
    for layer in range(2):
        for position in (0, 2, 4):
            torch.testing.assert_close(
                read_residual(model, sequence, layer, position),
                hidden_states[layer + 1][0, position],
                atol=1e-6,
                rtol=0,
            )
    final = adapter_for(model).final_norm(model)(read_residual(model, sequence, 2, 4))
    torch.testing.assert_close(final, hidden_states[3][0, 4], atol=1e-6, rtol=0)


# --- the shipped toy target ------------------------------------------------------------------------


def test_toy_target_sweep_equals_naive():
    from self_explain.core.models import load_model
    from self_explain.toyworld.world import ToyWorld

    loaded = load_model("toy-target")
    model, tokenizer = loaded.model, loaded.tokenizer
    world = ToyWorld.generate(0)
    prompts = world.fact_prompts()
    text, counterfactual = prompts[0].text, prompts[0].text.replace(prompts[0].entity, world.entities[1])
    sequence, other = tokenizer(text)["input_ids"], tokenizer(counterfactual)["input_ids"]
    assert len(sequence) == len(other)
    runs = clean_runs(model, [sequence, other])
    num_layers = len(decoder_layers(model))
    patches = [
        Patch((layer,), position, runs[1].outputs[layer, position])
        for layer in range(num_layers)
        for position in range(len(sequence))
    ]
    stats = SweepStats()
    fast = patch_sweep(model, runs[0], patches, stats=stats)
    _assert_same_as_naive(model, [sequence], patches, fast)
    t = len(sequence)
    assert stats.layer_token_units == num_layers * (num_layers - 1) // 2 * t * (t + 1) // 2
