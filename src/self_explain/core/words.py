"""Whole-word continuations beside the next token a patching row records.

Rows keep next-token semantics (the answer is the greedy next token), but a BPE model's next token is often a word
piece (``y`` of ``yen``); the word it starts is recorded beside it: the greedy continuation, with the same patch
written, up to the next token that does not continue the word.
"""

from __future__ import annotations

import torch

from .engine import Patch, patch_naive
from .generation import stop_token_ids

MAX_WORD_PIECES = 4  # tokens read after the first one; longer words are cut there


def is_word_level(tokenizer) -> bool:
    """Whether every token of the tokenizer is a whole word (the toy world's WordLevel tokenizer)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return backend is not None and type(backend.model).__name__ == "WordLevel"


def continues_word(piece: str) -> bool:
    """Whether a decoded token continues the word before it: letters or digits with no leading space.

    Examples:
    >>> [continues_word(p) for p in ("en", "le", " Paris", ".", "", "-")]
    [True, True, False, False, False, False]
    """
    return bool(piece) and not piece[0].isspace() and piece[0].isalnum()


class WordReader:
    """Reads the word a greedy next token starts, on the target, with or without a patch."""

    def __init__(self, model, tokenizer):
        self.model = model
        self.tokenizer = tokenizer
        self.word_level = is_word_level(tokenizer)
        self.stops = set(stop_token_ids(tokenizer, model))

    def word(self, sequence: list[int], first_token: int, patch: Patch | None = None) -> str:
        """The word that ``first_token``, the greedy next token after ``sequence``, starts (stripped)."""
        text = self.tokenizer.decode([first_token])
        if self.word_level or first_token in self.stops or not text.strip():
            return text.strip()
        generated = [first_token]
        with torch.no_grad():
            for _ in range(MAX_WORD_PIECES):
                ids = sequence + generated
                if patch is None:
                    logits = self.model(input_ids=torch.as_tensor([ids], device=self.model.device)).logits[0, -1]
                else:
                    logits = patch_naive(self.model, ids, patch)
                following = int(logits.argmax())
                piece = self.tokenizer.decode([following])
                if following in self.stops or not continues_word(piece):
                    break
                generated.append(following)
        return self.tokenizer.decode(generated).strip()


def matches_target(word: str, token: str, target: str) -> bool:
    """Whether the prediction agrees with a user's target: the whole word equals it, or the target begins with the
    token.

    Examples:
    >>> matches_target("yen", "y", "yen"), matches_target("Paris", "Paris", "Rome"), matches_target("", "", "Rome")
    (True, False, False)
    """
    target = target.strip()
    return bool(target) and (word == target or (bool(token) and target.startswith(token)))
