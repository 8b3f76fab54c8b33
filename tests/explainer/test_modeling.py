import torch
from peft.tuners.trainable_tokens.layer import TrainableTokensLayer

from self_explain.core.placeholders import PLACEHOLDER_TOKENS
from self_explain.explainer.modeling import load_explainer, merge_trained_token_rows


def test_trained_token_rows_are_merged_in_place_and_restored_with_the_adapter_off(trained_explainer_dir):
    explainer = load_explainer(str(trained_explainer_dir))
    model, tokenizer = explainer.model, explainer.tokenizer
    ids = torch.tensor([tokenizer("red blue").input_ids + tokenizer.convert_tokens_to_ids(list(PLACEHOLDER_TOKENS))])
    layers = [m for m in model.modules() if isinstance(m, TrainableTokensLayer)]
    weights = {id(layer.get_base_layer().weight): layer.get_base_layer().weight for layer in layers}
    pointers = {key: weight.data_ptr() for key, weight in weights.items()}
    with torch.no_grad():
        unmerged = model(input_ids=ids).logits
        with model.disable_adapter():
            base = model(input_ids=ids).logits
        assert not torch.allclose(unmerged, base)  # the trained rows matter

        merge_trained_token_rows(model)
        assert layers and all(layer.merged for layer in layers)
        assert torch.allclose(model(input_ids=ids).logits, unmerged, atol=1e-6)
        assert {key: weight.data_ptr() for key, weight in weights.items()} == pointers  # no copy of the matrix
        with model.disable_adapter():
            assert torch.allclose(model(input_ids=ids).logits, base, atol=1e-6)
        assert not any(layer.merged for layer in layers)

        merge_trained_token_rows(model)  # again, as the next explanation does
        assert torch.allclose(model(input_ids=ids).logits, unmerged, atol=1e-6)


def test_merging_leaves_a_switched_off_adapter_alone(trained_explainer_dir):
    explainer = load_explainer(str(trained_explainer_dir))
    with explainer.untrained():
        merge_trained_token_rows(explainer.model)
        assert not any(m.merged for m in explainer.model.modules() if isinstance(m, TrainableTokensLayer))


def test_a_shared_base_reads_plain_text_with_the_explainers_tokenizer(trained_explainer_dir, random_toy_model_dir):
    from self_explain.core.models import load_model

    explainer = load_explainer(str(trained_explainer_dir))
    assert explainer.shares_base
    assert explainer.target.tokenizer is explainer.tokenizer, "one tokenizer in memory, not two"
    assert explainer.target.model is explainer.model.get_base_model()
    base_tokenizer = load_model(str(random_toy_model_dir)).tokenizer
    for text in ("red blue", "Zorvak likes red .", "<|user|> what ?"):
        assert explainer.target.tokenizer(text).input_ids == base_tokenizer(text).input_ids


def test_a_target_passed_in_keeps_its_own_tokenizer(trained_explainer_dir, random_toy_model_dir):
    from self_explain.core.models import load_model

    target = load_model(str(random_toy_model_dir))
    explainer = load_explainer(str(trained_explainer_dir), target)
    assert explainer.target is target and target.tokenizer is not None and not explainer.shares_base
