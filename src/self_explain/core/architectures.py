"""Where each architecture keeps what the engine needs to run its layers one at a time: ``ARCHITECTURES`` maps a
config's ``model_type`` to an :class:`ArchitectureAdapter` (Llama-like models share one).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ArchitectureAdapter:
    """Where an architecture keeps what the engine needs to run its layers one at a time."""

    base: Callable[[nn.Module], nn.Module]  # the decoder stack inside the *ForCausalLM
    layers_attribute: str
    final_norm_attribute: str
    rotary_attribute: str | None  # module computing (cos, sin) from position ids; None for learned positions
    learned_positions_attribute: str | None = None  # position embedding added to the token embedding (GPT-2's wpe)
    rotary_per_layer_type: bool = False  # Gemma 3: one rotary per ``config.layer_types`` entry (local / global theta)

    def layers(self, model: nn.Module) -> nn.ModuleList:
        """The decoder layers of a model of this architecture, in order.

        Args:
            model (`nn.Module`): The ``*ForCausalLM`` model.
        """
        return getattr(self.base(model), self.layers_attribute)

    def final_norm(self, model: nn.Module) -> nn.Module:
        """The norm applied after the last decoder layer, before the unembedding.

        Args:
            model (`nn.Module`): The ``*ForCausalLM`` model.
        """
        return getattr(self.base(model), self.final_norm_attribute)

    def rotary_kind(self, model: nn.Module, layer: int) -> str | None:
        """Which rotary a decoder layer takes: its ``config.layer_types`` entry with a rotary per layer type (Gemma 3).

        Layers of one kind share their (cos, sin); None means one rotary for every layer.

        Args:
            model (`nn.Module`): The ``*ForCausalLM`` model.
            layer (`int`): The decoder layer's index.
        """
        return model.config.layer_types[layer] if self.rotary_per_layer_type else None

    def position_embeddings(
        self, model: nn.Module, hidden: torch.Tensor, position_ids: torch.Tensor, layer: int | None = None
    ):
        """The rotary (cos, sin) a decoder layer takes for ``position_ids``; None for learned positions.

        Args:
            model (`nn.Module`): The ``*ForCausalLM`` model.
            hidden (`torch.Tensor`): Hidden states (batch, tokens, hidden), for their dtype and device.
            position_ids (`torch.Tensor`): The positions, (batch, tokens).
            layer (`int`, *optional*): The decoder layer; required (else ValueError) where the rotary depends on the
                layer's type (Gemma 3's sliding layers use a local theta), ignored elsewhere.
        """
        if self.rotary_attribute is None:
            return None
        rotary = getattr(self.base(model), self.rotary_attribute)
        if not self.rotary_per_layer_type:
            return rotary(hidden, position_ids=position_ids)
        if layer is None:
            raise ValueError(f"{model.config.model_type} has a rotary per layer type: pass the decoder layer's index")
        return rotary(hidden, position_ids=position_ids, layer_type=self.rotary_kind(model, layer))

    def embed(self, model: nn.Module, input_ids: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        """The input of decoder layer 0 (batch, tokens, hidden) for ``input_ids`` at ``position_ids``, dropout off.

        Gemma's normaliser lives inside its embedding module in transformers ≥ 5, so the input embeddings cover it.

        Args:
            model (`nn.Module`): The ``*ForCausalLM`` model.
            input_ids (`torch.Tensor`): Token ids, (batch, tokens).
            position_ids (`torch.Tensor`): Their positions, (batch, tokens); used by learned position embeddings.
        """
        hidden = model.get_input_embeddings()(input_ids)
        if self.learned_positions_attribute is not None:
            hidden = hidden + getattr(self.base(model), self.learned_positions_attribute)(position_ids)
        return hidden

    def cache_argument(self, module: nn.Module) -> str:
        """The keyword (``cache``, ``past_key_values`` or ``layer_past``) ``module.forward`` takes the cache under.

        Read from the signature, so the engine passes the name the installed transformers supports, never a deprecated
        one (transformers 5 renamed ``past_key_values`` to ``cache``).

        Args:
            module (`nn.Module`): The ``*ForCausalLM`` model or one of its decoder layers.

        Raises:
            ValueError: If the forward takes none of these keywords.
        """
        return _cache_argument(type(module))

    def returned_cache(self, output) -> object:
        """The key/value cache a forward with ``use_cache=True`` returned, under its current or its old name.

        Args:
            output (`ModelOutput`): What the model's forward returned.
        """
        return output["cache"] if "cache" in output.keys() else output["past_key_values"]

    def sliding_window(self, model: nn.Module, layer: int) -> int | None:
        """The config's ``sliding_window`` for a ``sliding_attention`` decoder layer, else None (full attention).

        Args:
            model (`nn.Module`): The ``*ForCausalLM`` model.
            layer (`int`): The decoder layer's index.
        """
        config = model.config
        layer_types = getattr(config, "layer_types", None)
        if layer_types and layer_types[layer] == "sliding_attention":
            return getattr(config, "sliding_window", None)
        return None

    def logits(self, model: nn.Module, final_hidden: torch.Tensor) -> torch.Tensor:
        """The next-token logits (..., vocab) of final hidden states: final norm, unembedding, logit soft cap if any.

        Args:
            model (`nn.Module`): The ``*ForCausalLM`` model.
            final_hidden (`torch.Tensor`): The output of the last decoder layer, (..., hidden).
        """
        logits = model.get_output_embeddings()(self.final_norm(model)(final_hidden))
        softcap = getattr(model.config, "final_logit_softcapping", None)
        if softcap is not None:
            logits = torch.tanh(logits / softcap) * softcap
        return logits


_DECODER_ONLY = ArchitectureAdapter(lambda m: m.model, "layers", "norm", "rotary_emb")
ARCHITECTURES: dict[str, ArchitectureAdapter] = {
    "llama": _DECODER_ONLY,
    "mistral": _DECODER_ONLY,
    "qwen2": _DECODER_ONLY,
    "qwen3": _DECODER_ONLY,
    "gemma": _DECODER_ONLY,
    "gemma2": _DECODER_ONLY,
    # Gemma 3 text (Gemma-3-270M): the same paths; embeddings scaled by sqrt(hidden) inside the embedding module,
    # tied unembedding, (1 + weight) RMSNorm, a rotary per layer type.
    "gemma3_text": ArchitectureAdapter(lambda m: m.model, "layers", "norm", "rotary_emb", rotary_per_layer_type=True),
    "gpt2": ArchitectureAdapter(lambda m: m.transformer, "h", "ln_f", None, learned_positions_attribute="wpe"),
    "gpt_neox": ArchitectureAdapter(lambda m: m.gpt_neox, "layers", "final_layer_norm", "rotary_emb"),
}

CACHE_ARGUMENTS = ("cache", "past_key_values", "layer_past")  # the current name first, then the older ones


@functools.cache
def _cache_argument(module_type: type) -> str:
    parameters = inspect.signature(module_type.forward).parameters  # follows the deprecation wrapper to the real one
    for name in CACHE_ARGUMENTS:
        if name in parameters:
            return name
    raise ValueError(
        f"{module_type.__name__}.forward takes no key/value cache argument (tried {', '.join(CACHE_ARGUMENTS)})"
    )


def adapter_for(model: nn.Module) -> ArchitectureAdapter:
    """The architecture adapter of a model's ``config.model_type``, which the engine drives it with.

    Args:
        model (`nn.Module`): A transformers model.

    Raises:
        ValueError: If the architecture is not supported (naming the supported ones).
    """
    model_type = model.config.model_type
    if model_type not in ARCHITECTURES:
        raise ValueError(
            f"architecture {model_type!r} is not supported by the engine; supported: "
            f"{', '.join(sorted(ARCHITECTURES))}"
        )
    return ARCHITECTURES[model_type]


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder layers of a model of a supported architecture."""
    return adapter_for(model).layers(model)
