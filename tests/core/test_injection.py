"""Vector injection at the placeholder token, and the projection between widths."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from self_explain.core.injection import (
    PROJECTION_FILE,
    VectorInjector,
    VectorProjection,
    add_placeholder_tokens,
    placeholder_token_id,
)
from self_explain.core.placeholders import PLACEHOLDER_TOKENS, VECTOR_PLACEHOLDER

QUESTION = f"At layer 0 , feature {VECTOR_PLACEHOLDER} is added to tokens"


@pytest.fixture(scope="module")
def toy(random_toy_model_dir):
    model = AutoModelForCausalLM.from_pretrained(random_toy_model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(random_toy_model_dir)
    return model, tokenizer


def ids_of(tokenizer, *texts) -> torch.Tensor:
    return torch.tensor([tokenizer(text).input_ids for text in texts])


def next_token_logits(model, ids) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids).logits[:, -1]


def vectors(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, size, generator=torch.Generator().manual_seed(seed)) * 3


def test_the_vector_changes_the_logits_and_the_hook_is_gone_after_the_block(toy):
    model, tokenizer = toy
    injector = VectorInjector(model, tokenizer)
    ids = ids_of(tokenizer, QUESTION)
    assert (ids == injector.placeholder_id).sum() == 1
    plain = next_token_logits(model, ids)

    with injector.inject(vectors(1, seed=1)):
        first = next_token_logits(model, ids)
    with injector.inject(vectors(1, seed=2)):
        second = next_token_logits(model, ids)
        again = next_token_logits(model, ids)

    assert not torch.allclose(first, second), "two vectors, one prompt: the next-token logits must differ"
    assert not torch.allclose(first, plain)
    assert torch.equal(second, again), "the injection is the same on every forward pass within the block"
    assert not model.get_input_embeddings()._forward_hooks, "the hook is removed after the block"
    assert torch.equal(next_token_logits(model, ids), plain)


def test_the_vector_replaces_exactly_the_placeholder_embedding(toy):
    model, tokenizer = toy
    injector = VectorInjector(model, tokenizer)
    ids = ids_of(tokenizer, QUESTION)
    vector = vectors(1)
    seen = {}
    handle = model.model.layers[0].register_forward_pre_hook(lambda module, args: seen.setdefault("x", args[0]))
    try:
        with injector.inject(vector), torch.no_grad():
            model(input_ids=ids)
    finally:
        handle.remove()
    where = ids[0] == injector.placeholder_id
    assert torch.equal(seen["x"][0, where], vector)
    assert torch.equal(seen["x"][0, ~where], model.get_input_embeddings()(ids)[0, ~where].detach())


def test_without_a_placeholder_nothing_changes(toy):
    model, tokenizer = toy
    ids = ids_of(tokenizer, "Zorvak lives in")
    plain = next_token_logits(model, ids)
    with VectorInjector(model, tokenizer).inject(vectors(1)):
        assert torch.equal(next_token_logits(model, ids), plain)


def test_vectors_fill_the_placeholders_of_a_batch_in_row_order(toy):
    model, tokenizer = toy
    injector = VectorInjector(model, tokenizer)
    other = f"At layer 1 , feature {VECTOR_PLACEHOLDER} is added to tokens"
    batch = ids_of(tokenizer, QUESTION, other)
    two = vectors(2)
    with injector.inject(two):
        together = next_token_logits(model, batch)
    for row, vector in enumerate(two):
        with injector.inject(vector[None]):
            alone = next_token_logits(model, batch[row : row + 1])
        torch.testing.assert_close(together[row], alone[0])


def test_generation_injects_at_prefill_only(toy):
    model, tokenizer = toy
    injector = VectorInjector(model, tokenizer)
    ids = ids_of(tokenizer, QUESTION)
    with injector.inject(vectors(1)):
        first_logits = next_token_logits(model, ids)
        generated = model.generate(input_ids=ids, max_new_tokens=3, do_sample=False, pad_token_id=0)
    assert generated.shape == (1, ids.shape[1] + 3)
    assert int(generated[0, ids.shape[1]]) == int(first_logits.argmax())


def test_placeholder_count_must_match_vector_count(toy):
    model, tokenizer = toy
    injector = VectorInjector(model, tokenizer)
    ids = ids_of(tokenizer, QUESTION)
    with pytest.raises(ValueError, match="holds 1 vector placeholders but 2 vectors were given"):
        with injector.inject(vectors(2)):
            model(input_ids=ids)
    assert not model.get_input_embeddings()._forward_hooks, "the hook is removed even when the block raises"


@pytest.mark.parametrize("shape", [(1, 31), (1, 64), (32,), (1, 1, 32)])
def test_wrong_vector_size_names_the_expected_size(toy, shape):
    model, tokenizer = toy
    with pytest.raises(ValueError, match=r"expected vectors of size 32 \(the explainer's hidden size"):
        with VectorInjector(model, tokenizer).inject(torch.zeros(shape)):
            pass
    assert not model.get_input_embeddings()._forward_hooks


def test_with_a_projection_vectors_have_the_target_size_and_layers_are_checked(toy):
    model, tokenizer = toy
    injector = VectorInjector(model, tokenizer, VectorProjection(num_layers=3, target_hidden=16, explainer_hidden=32))
    with pytest.raises(ValueError, match=r"expected vectors of size 16 \(the target's hidden size"):
        with injector.inject(vectors(1, size=32)):
            pass
    with pytest.raises(ValueError, match=r"layer 3 out of range: the projection covers layers 0\.\.2"):
        with injector.inject(vectors(1, size=16), torch.tensor([3])):
            pass
    ids = ids_of(tokenizer, QUESTION)
    with injector.inject(vectors(1, size=16), torch.tensor([2])):
        assert next_token_logits(model, ids).shape == (1, model.config.vocab_size)


def test_projection_starts_as_the_identity_on_shared_dimensions():
    vector = torch.arange(1.0, 17.0)[None]
    widen = VectorProjection(num_layers=2, target_hidden=16, explainer_hidden=24)
    assert widen.weight.shape == (2, 24, 16) and widen.bias.shape == (2, 24)
    assert widen.describe() == {"num_layers": 2, "target_hidden": 16, "explainer_hidden": 24}
    wide = widen(vector, torch.tensor([1]))
    assert torch.equal(wide[0, :16], vector[0]) and torch.equal(wide[0, 16:], torch.zeros(8))

    narrow = VectorProjection(num_layers=2, target_hidden=16, explainer_hidden=8)
    assert torch.equal(narrow(vector, torch.tensor([0]))[0], vector[0, :8])


def test_projection_uses_the_matrix_of_each_vectors_layer():
    projection = VectorProjection(num_layers=2, target_hidden=4, explainer_hidden=4)
    with torch.no_grad():
        projection.weight[1] *= 2
        projection.bias[0] += 1
    out = projection(torch.ones(2, 4), torch.tensor([0, 1]))
    assert torch.equal(out, torch.tensor([[2.0] * 4, [2.0] * 4]))


def test_projection_save_load_round_trip(tmp_path):
    projection = VectorProjection(num_layers=3, target_hidden=32, explainer_hidden=48)
    with torch.no_grad():
        projection.weight.normal_()
        projection.bias.normal_()
    projection.save(tmp_path)
    assert (tmp_path / PROJECTION_FILE).is_file()
    loaded = VectorProjection.load(tmp_path)
    assert loaded.describe() == {"num_layers": 3, "target_hidden": 32, "explainer_hidden": 48}
    assert torch.equal(loaded.weight, projection.weight) and torch.equal(loaded.bias, projection.bias)
    assert VectorProjection.load(tmp_path / "nowhere") is None


def test_gradient_flows_into_the_projection_of_the_vectors_layer_only(toy):
    model, tokenizer = toy
    projection = VectorProjection(num_layers=3, target_hidden=16, explainer_hidden=32)
    injector = VectorInjector(model, tokenizer, projection)
    ids = ids_of(tokenizer, QUESTION)
    model.zero_grad()
    with injector.inject(vectors(1, size=16), torch.tensor([1])):
        loss = torch.nn.functional.cross_entropy(model(input_ids=ids).logits[0, -1:], torch.tensor([5]))
    loss.backward()
    try:
        grad = projection.weight.grad
        assert grad is not None and grad[1].abs().sum() > 0
        assert torch.equal(grad[0], torch.zeros_like(grad[0])) and torch.equal(grad[2], torch.zeros_like(grad[2]))
        assert projection.bias.grad[1].abs().sum() > 0
    finally:
        model.zero_grad(set_to_none=True)


def test_tokenizer_without_placeholders_is_refused_then_extended():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel(vocab={"<unk>": 0, "a": 1, "b": 2}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>")
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=3,
            hidden_size=8,
            intermediate_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
        )
    )
    with pytest.raises(ValueError, match=r"has no '<\|vec\|>' token"):
        placeholder_token_id(tokenizer)

    assert add_placeholder_tokens(tokenizer, model) is True
    assert model.get_input_embeddings().weight.shape[0] == len(tokenizer) == 6
    assert tokenizer.convert_tokens_to_ids(list(PLACEHOLDER_TOKENS)) == [3, 4, 5]
    assert placeholder_token_id(tokenizer) == 4
    assert add_placeholder_tokens(tokenizer, model) is False


def test_projection_gradients_are_the_same_on_every_run():
    """Training an explainer of another width is repeatable: the projection's gradient is bit-identical across
    runs on two threads (gathering a weight per row made it a scatter-add whose float sums varied)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        generator = torch.Generator().manual_seed(0)
        vectors = torch.randn(512, 24, generator=generator)
        layers = torch.randint(0, 4, (512,), generator=generator)
        upstream = torch.randn(512, 40, generator=generator)
        gradients = []
        for _ in range(8):
            projection = VectorProjection(num_layers=4, target_hidden=24, explainer_hidden=40)
            (projection(vectors, layers) * upstream).sum().backward()
            gradients.append(projection.weight.grad.clone())
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(gradients[0], g) for g in gradients[1:])
    expected = torch.stack([upstream[layers == i].T @ vectors[layers == i] for i in range(4)])
    assert torch.allclose(gradients[0], expected, atol=1e-4), "the gradient of each layer's matrix, by hand"
