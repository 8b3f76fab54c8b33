"""Continuous-vector injection: the one implementation used in training, the pipeline and evaluation.

A forward hook on the explainer's input embedding replaces the embedding at ``<|vec|>`` (in the placeholder
``<|vec_begin|><|vec|><|vec_end|>``) by a vector read from the target, so the same code serves ``model(...)`` in the
trainer and ``model.generate(...)``: only the prefill step sees placeholder tokens.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .placeholders import PLACEHOLDER_TOKENS

PROJECTION_FILE = "projection.safetensors"


class VectorProjection(nn.Module):
    """A per-layer linear map from the target's residual stream into the explainer's embedding space.

    Needed when the hidden sizes differ; trained jointly with the adapter, starting as the identity on the shared
    dimensions.
    """

    def __init__(self, num_layers: int, target_hidden: int, explainer_hidden: int):
        super().__init__()
        self.weight = nn.Parameter(torch.eye(explainer_hidden, target_hidden).repeat(num_layers, 1, 1))
        self.bias = nn.Parameter(torch.zeros(num_layers, explainer_hidden))

    @property
    def num_layers(self) -> int:
        return self.weight.shape[0]

    @property
    def target_hidden(self) -> int:
        return self.weight.shape[2]

    @property
    def explainer_hidden(self) -> int:
        return self.weight.shape[1]

    def forward(self, vectors: torch.Tensor, layers: torch.Tensor) -> torch.Tensor:
        # One matmul per layer present. Gathering a weight per row (``self.weight[layers]``) would make the
        # weight's gradient a scatter-add, whose float sums differ from run to run: training was not repeatable.
        """Target vectors mapped into the explainer's embedding space by their layers' matrices: (n, explainer_hidden).

        Args:
            vectors (`torch.Tensor`): Target residual vectors, (n, target_hidden).
            layers (`torch.Tensor`): Each vector's target layer, (n,).
        """
        projected = vectors.new_empty(len(vectors), self.explainer_hidden)
        for layer in layers.unique().tolist():
            rows = layers == layer
            weight, bias = self.weight[layer].to(vectors.dtype), self.bias[layer].to(vectors.dtype)
            projected[rows] = vectors[rows] @ weight.T + bias
        return projected

    def describe(self) -> dict:
        """The shape an explainer's metadata records: ``num_layers``, ``target_hidden``, ``explainer_hidden``."""
        return {
            "num_layers": self.num_layers,
            "target_hidden": self.target_hidden,
            "explainer_hidden": self.explainer_hidden,
        }

    def save(self, folder: str | Path) -> None:
        """Save the weights as ``projection.safetensors``.

        Args:
            folder (`str` or `Path`): An existing folder (an explainer's).
        """
        tensors = {"weight": self.weight.detach().cpu().contiguous(), "bias": self.bias.detach().cpu().contiguous()}
        save_file(tensors, str(Path(folder) / PROJECTION_FILE))

    @classmethod
    def load(cls, folder: str | Path) -> VectorProjection | None:
        """The projection saved in a folder, or None without ``projection.safetensors``.

        Args:
            folder (`str` or `Path`): An explainer folder.
        """
        path = Path(folder) / PROJECTION_FILE
        if not path.is_file():
            return None
        tensors = load_file(str(path))
        weight = tensors["weight"]
        projection = cls(weight.shape[0], weight.shape[2], weight.shape[1])
        projection.load_state_dict(tensors)
        return projection


def placeholder_token_id(tokenizer) -> int:
    """The id of the vector placeholder token in an explainer's tokenizer."""
    token = PLACEHOLDER_TOKENS[1]
    token_id = tokenizer.convert_tokens_to_ids(token)
    if token_id is None or token_id == tokenizer.unk_token_id:
        raise ValueError(
            f"the explainer's tokenizer has no {token!r} token; add the placeholder tokens {list(PLACEHOLDER_TOKENS)} "
            "as special tokens (and resize the embeddings) before training an explainer"
        )
    return token_id


def add_placeholder_tokens(tokenizer, model) -> bool:
    """Give a tokenizer that lacks them the placeholder tokens, resizing the model's embeddings. True if added."""
    missing = [t for t in PLACEHOLDER_TOKENS if tokenizer.convert_tokens_to_ids(t) in (None, tokenizer.unk_token_id)]
    if not missing:
        return False
    tokenizer.add_tokens(missing, special_tokens=True)
    model.resize_token_embeddings(len(tokenizer))
    return True


class VectorInjector:
    """Replaces the input embedding at each placeholder token by a (projected) vector."""

    def __init__(self, model: nn.Module, tokenizer, projection: VectorProjection | None = None):
        self.model = model
        self.placeholder_id = placeholder_token_id(tokenizer)
        self.projection = projection
        self.embedding_size = model.get_input_embeddings().weight.shape[-1]

    def check_vectors(self, vectors: torch.Tensor, layers: torch.Tensor | None = None) -> None:
        """Refuse (ValueError) vectors whose size the explainer does not expect, or a layer outside the projection's.

        Args:
            vectors (`torch.Tensor`): The vectors to inject, (n, size).
            layers (`torch.Tensor`, *optional*): Each vector's target layer, (n,).
        """
        expected = self.projection.target_hidden if self.projection is not None else self.embedding_size
        if vectors.dim() != 2 or vectors.shape[-1] != expected:
            raise ValueError(
                f"vector of size {tuple(vectors.shape[1:]) if vectors.dim() == 2 else tuple(vectors.shape)} does not "
                f"fit the explainer: expected vectors of size {expected}"
                + (
                    " (the target's hidden size, mapped by the projection)"
                    if self.projection is not None
                    else " (the explainer's hidden size; an explainer of another width needs a projection)"
                )
            )
        if self.projection is not None and layers is not None and len(layers):
            if int(layers.min()) < 0 or int(layers.max()) >= self.projection.num_layers:
                raise ValueError(
                    f"vector layer {int(layers.max())} out of range: the projection covers layers "
                    f"0..{self.projection.num_layers - 1}"
                )

    @contextmanager
    def inject(self, vectors: torch.Tensor, layers: torch.Tensor | None = None):
        """A context within which forward passes see ``vectors[i]`` at the i-th placeholder of the batch (row-major).

        Args:
            vectors (`torch.Tensor`): The vectors, (n, size), one per placeholder in the batch.
            layers (`torch.Tensor`, *optional*): Each vector's target layer, (n,), which selects the projection's
                matrix (default: layer 0 for all).

        Raises:
            ValueError: If the vectors do not fit, or a forward pass holds another number of placeholders.
        """
        self.check_vectors(vectors, layers)
        embedding = self.model.get_input_embeddings()
        if layers is None:
            layers = torch.zeros(len(vectors), dtype=torch.long)

        def replace(module, args, output):
            input_ids = args[0]
            where = input_ids == self.placeholder_id
            count = int(where.sum())
            if count == 0:  # a decoding step after the prefill
                return output
            if count != len(vectors):
                raise ValueError(f"the batch holds {count} vector placeholders but {len(vectors)} vectors were given")
            injected = vectors.to(device=output.device, dtype=output.dtype)
            if self.projection is not None:
                injected = self.projection(injected, layers.to(output.device))
            output = output.clone()
            output[where] = injected.to(output.dtype)
            return output

        handle = embedding.register_forward_hook(replace)
        try:
            yield
        finally:
            handle.remove()
