import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

TINY = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4, vocab_size=97)

TINY_CONFIGS = {
    "llama": dict(TINY, num_key_value_heads=2, max_position_embeddings=64),
    "qwen2": dict(TINY, num_key_value_heads=2, max_position_embeddings=64),
    "qwen3": dict(TINY, num_key_value_heads=2, head_dim=8, max_position_embeddings=64),
    "gemma": dict(TINY, num_key_value_heads=1, head_dim=8, max_position_embeddings=64),
    "gemma2": dict(TINY, num_key_value_heads=2, head_dim=8, max_position_embeddings=64, sliding_window=4,
                   layer_types=["sliding_attention", "full_attention", "sliding_attention"]),
    "gpt2": dict(n_embd=32, n_layer=3, n_head=4, vocab_size=97, n_positions=64),
    "gpt_neox": dict(TINY, max_position_embeddings=64, rotary_pct=0.5),
}


def tiny_model(model_type: str, seed: int = 0):
    torch.manual_seed(seed)
    config = AutoConfig.for_model(model_type, **TINY_CONFIGS[model_type])
    model = AutoModelForCausalLM.from_config(config)
    return model.eval()


@pytest.fixture(params=sorted(TINY_CONFIGS))
def tiny_causal_lm(request):
    return tiny_model(request.param)
