"""The placeholder tokens that mark where a vector is injected into an explainer's question."""

from __future__ import annotations

# Begin / rep / end special tokens; the input embedding at the rep token is replaced by the vector.
PLACEHOLDER_TOKENS = ("<|vec_begin|>", "<|vec|>", "<|vec_end|>")


VECTOR_PLACEHOLDER = "".join(PLACEHOLDER_TOKENS)
