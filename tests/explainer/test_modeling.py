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
