"""Where a patch is written: the positions of a prompt aligned with its counterfactual's, and one patch's result."""

from __future__ import annotations

from dataclasses import dataclass

from ...core.engine import Patch
from .sources import PromptPair


@dataclass(frozen=True)
class AlignedPosition:
    """A patched position of the original and where its activation is read in the counterfactual.

    ``token_type``: ``subject`` (the last differing token), ``suffix`` (a shared token after it) or ``last``.
    """

    orig_pos: int
    counterfact_pos: int
    token_type: str  # subject: last differing token; suffix: a shared token after it; last: the final token


@dataclass(frozen=True)
class PatchedPosition:
    """One patch of a sweep and the target's greedy next tokens (patched, clean, counterfactual's), before the row."""

    pair: PromptPair
    original: list[int]
    counterfactual: list[int]
    position: AlignedPosition
    window: list[int]
    patch: Patch
    patched_id: int
    clean_id: int
    counterfactual_id: int
    clean_word: str

    @property
    def changed(self) -> bool:
        """Whether the patch changes the greedy next token."""
        return self.patched_id != self.clean_id


def align_positions(original: list[int], counterfactual: list[int]) -> list[AlignedPosition]:
    """Positions of x whose residual differs from x', with their counterparts in x'; [] when unalignable.

    The prompts share a prefix and a suffix: the differing span's last token is aligned with the counterfactual span's
    last token, and each shared suffix token with its counterpart from the end.
    """
    prefix = 0
    while prefix < min(len(original), len(counterfactual)) and original[prefix] == counterfactual[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < min(len(original), len(counterfactual)) - prefix
        and original[-1 - suffix] == counterfactual[-1 - suffix]
    ):
        suffix += 1
    subject_end, counterfact_end = len(original) - suffix, len(counterfactual) - suffix
    if subject_end <= prefix or counterfact_end <= prefix:
        return []
    positions = [AlignedPosition(subject_end - 1, counterfact_end - 1, "subject")]
    for offset in range(suffix):
        positions.append(AlignedPosition(subject_end + offset, counterfact_end + offset, "suffix"))
    last = positions[-1]
    positions[-1] = AlignedPosition(last.orig_pos, last.counterfact_pos, "last")
    return positions
