"""Where each architecture keeps its decoder stack; an unsupported architecture is named when refused."""

from types import SimpleNamespace

import pytest
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM

from self_explain.core.architectures import decoder_layers
from tests.conftest import TINY_CONFIGS

REAL_STACKS = {
    "llama": lambda m: m.model.layers,
    "qwen2": lambda m: m.model.layers,
    "qwen3": lambda m: m.model.layers,
    "gemma": lambda m: m.model.layers,
    "gemma2": lambda m: m.model.layers,
    "gemma3_text": lambda m: m.model.layers,
    "gpt2": lambda m: m.transformer.h,
    "gpt_neox": lambda m: m.gpt_neox.layers,
}


def test_every_tiny_architecture_has_a_known_stack():
    assert set(REAL_STACKS) == set(TINY_CONFIGS)


def test_decoder_layers_is_the_real_stack(tiny_causal_lm):
    model = tiny_causal_lm
    layers = decoder_layers(model)
    assert layers is REAL_STACKS[model.config.model_type](model)
    assert len(layers) == model.config.num_hidden_layers == 3


def test_unsupported_real_architecture_raises_naming_it():
    config = AutoConfig.for_model(
        "bert",
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        vocab_size=50,
        is_decoder=True,
    )
    model = AutoModelForCausalLM.from_config(config)
    with pytest.raises(ValueError, match="'bert'"):
        decoder_layers(model)


def test_unsupported_fake_architecture_raises_naming_it():
    model = nn.Module()
    model.config = SimpleNamespace(model_type="mamba-like")
    with pytest.raises(ValueError, match="'mamba-like'.*not supported"):
        decoder_layers(model)
