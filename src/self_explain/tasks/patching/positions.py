"""Where a patch is written: the positions of a prompt aligned with its counterfactual's, and one patch's result."""

from __future__ import annotations

from dataclasses import dataclass

from ...core.engine import Patch
from .sources import PromptPair


@dataclass(frozen=True)
class AlignedPosition:
    """A position of the original prompt that is patched, and where its activation is read in the counterfactual.

    Args:
        orig_pos (`int`): The patched position in the original prompt's tokens.
        counterfact_pos (`int`): The aligned position in the counterfactual's tokens.
        token_type (`str`): ``subject`` (the last differing token), ``suffix`` (a shared token after it) or ``last``
            (the final token).
    """

    orig_pos: int
    counterfact_pos: int
    token_type: str  # subject: last differing token; suffix: a shared token after it; last: the final token


@dataclass(frozen=True)
class PatchedPosition:
    """One patch of a sweep and what the target predicted, before it becomes a row.

    Args:
        pair (`PromptPair`): The prompt pair patched.
        original (`list[int]`): The original's token ids.
        counterfactual (`list[int]`): The counterfactual's token ids.
        position (`AlignedPosition`): The patched position and its counterpart.
        window (`list[int]`): The patched layers.
        patch (`Patch`): The patch written.
        patched_id (`int`): The greedy next token with the patch.
        clean_id (`int`): The greedy next token without it.
        counterfactual_id (`int`): The counterfactual's own greedy next token.
        clean_word (`str`): The whole word ``clean_id`` starts.
    """

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
    """Positions of x whose residual differs from x' and their counterparts in x'.

    The two prompts share a prefix and a suffix; the differing span's last token is aligned with the
    counterfactual span's last token, and each shared suffix token with its counterpart from the end.
    Empty when the prompts cannot be aligned (identical, or x has no differing token).

    Args:
        original (`list[int]`): The token ids of x.
        counterfactual (`list[int]`): The token ids of x'.

    Returns:
        `list[AlignedPosition]`: The subject position, then the suffix positions; the final one is ``last``.
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
