import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run ~10-100x faster on one thread when the cores are busy (no OpenMP spin contention)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


@pytest.fixture(scope="session")
def random_toy_model_dir(tmp_path_factory):
    """A randomly initialised Llama with the toy tokenizer, marked as a toy-world model (fast to build on)."""
    import json

    from self_explain.toyworld.tokenizer import build_toy_tokenizer
    from self_explain.toyworld.train import ToyModelConfig, build_model
    from self_explain.toyworld.world import ToyWorld

    folder = tmp_path_factory.mktemp("toy-random")
    tokenizer = build_toy_tokenizer(ToyWorld.generate(0))
    config = ToyModelConfig(name="toy-random", hidden_size=32, num_layers=3, num_heads=4, intermediate_size=64, seed=3)
    model = build_model(config, tokenizer)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "toyworld.json").write_text(json.dumps({"config": {"name": "toy-random"}}))
    return folder
