from __future__ import annotations

import math
from dataclasses import dataclass, field

from ...utils.checks import check_distinct, check_non_negative, check_positive
from ..config import BuildConfig

# The reference's windows: Transluce's act_patch datasets patch 8 consecutive layers of Llama-3.1-8B's 32 (and 9 of
# Qwen3-8B's 36), a quarter of the depth.
REFERENCE_WINDOW, REFERENCE_DEPTH = 8, 32
# How the rows are drawn: one counterfactual per prompt pair (the paper's), or k counterfactuals with distinct patched
# outputs per (text, layer window, token) site (see ``sites.py``).
DESIGNS = ("pairs", "sites")


def default_window(num_layers: int) -> int:
    """The window sized like the reference's, relative to depth: round(8/32 · L) layers, at least 1 (halves round up).

    E.g. 1 for a 4-layer toy target, 2 for 6 layers, 8 for SmolLM2-135M's 30 and Llama-3.1-8B's 32.
    """
    return max(1, math.floor(REFERENCE_WINDOW * num_layers / REFERENCE_DEPTH + 0.5))


@dataclass
class PatchingConfig(BuildConfig):
    """Options of ``self-explain build patching``, after those of [`~self_explain.tasks.config.BuildConfig`].

    Args:
        design (`str`, *optional*, defaults to `"pairs"`): How rows are drawn. ``pairs``: one counterfactual per prompt
            pair, as the paper's datasets (most rows "unchanged"). ``sites``: each (text, window, token) site with
            ``counterfactuals_per_site`` counterfactuals of distinct patched outputs, so that ignoring the vector is
            right on at most 1 in k changed rows (see `~self_explain.tasks.patching.sites`).
        num_prompts (`int`, *optional*, defaults to 2000): Prompt pairs to build from (toy world or built-in facts);
            with ``design: sites``, the texts.
        prompts (`str`, *optional*): JSONL of prompt pairs: text, counterfactual, optional targets.
        layers (`list[int]`, *optional*): First layers of the windows (default: every layer a window fits). Layer ℓ is
            the output of decoder block ℓ, as in the reference.
        window (`int`, *optional*): Consecutive layers patched at once; default `default_window`. One vector, the
            counterfactual's residual at the window's first block, is written at every block of the window.
        same_value_share (`float`, *optional*, defaults to 0.3): Toy world: the share of pairs whose counterfactual
            entity has the same value of the fact, so that about this share leaves the answer unchanged.
        test_fraction (`float`, *optional*, defaults to 0.1): Share of a user's file's prompts drawn into test
            (toy-world builds hold out a seeded quarter of the entities instead).
        ood_relations (`list[str]`, *optional*, defaults to `["number"]`): Toy-world relations put in the ood split.
        counterfactuals_per_site (`int`, *optional*, defaults to 4): ``sites``: k, counterfactuals kept per site, one
            per distinct changed output (at least 2).
        unchanged_per_site (`int`, *optional*, defaults to 1): ``sites``: at most this many unchanged counterfactuals
            kept beside the k changed ones, so the verdict cannot be read off the text either.
        candidates_per_text (`int`, *optional*, defaults to 32): ``sites``: counterfactuals tried per text (the same on
            both sides of the held-out entities, so train and test sites are selected alike).
        shard_size (`int`, *optional*, defaults to 100): Prompts (``sites``: texts) per shard (resumption unit).
        batch_prompts (`int`, *optional*, defaults to 32): Prompt pairs whose patches share one batched sweep.

    Raises:
        ValueError: For an out-of-range number or share, an unknown ``design``, or ``counterfactuals_per_site`` below 2
            or above ``candidates_per_text``.
    """

    design: str = field(
        default="pairs",
        metadata={
            "help": "How rows are drawn: pairs (one counterfactual per prompt pair, as the paper) or sites (each "
            "(text, layer window, token) site with --counterfactuals-per-site counterfactuals whose "
            "patched outputs differ, so that the text alone cannot answer the changed rows)."
        },
    )
    num_prompts: int = field(
        default=2000,
        metadata={
            "help": "Prompt pairs to build from (toy world targets, or a model's built-in facts); with --design "
            "sites, the texts, each with its candidate counterfactuals."
        },
    )
    prompts: str | None = field(
        default=None,
        metadata={"help": "JSONL of prompt pairs: text, counterfactual, optional targets [original, counterfactual]."},
    )
    layers: list[int] | None = field(
        default=None,
        metadata={
            "help": "First layers of the patched windows (default: every layer a window fits); layer l is the "
            "output of decoder block l, for l in 0..L-1, as in the reference."
        },
    )
    window: int | None = field(
        default=None,
        metadata={
            "help": "Number of consecutive layers patched at once, each overwritten with the same vector (the "
            "counterfactual's output of the window's first block, the vector the explainer sees). "
            "Default: sized like the reference's (8 of 32 layers): round(8/32 * L), at least 1."
        },
    )
    same_value_share: float = field(
        default=0.3,
        metadata={
            "help": "Toy world: share of counterfactuals about another entity with the same value of the fact "
            "(in the target's world), so that their answer is unchanged and the verdict needs the vector."
        },
    )
    test_fraction: float = field(
        default=0.1,
        metadata={
            "help": "Share of in-distribution prompts of a user's file drawn into the test split "
            "(toy-world builds hold out a quarter of the entities instead)."
        },
    )
    ood_relations: list[str] = field(
        default_factory=lambda: ["number"],
        metadata={"help": "Toy-world relations held out of train/test into the ood split."},
    )
    counterfactuals_per_site: int = field(
        default=4,
        metadata={"help": "--design sites: k, the counterfactuals kept per site, one per distinct changed output."},
    )
    unchanged_per_site: int = field(
        default=1,
        metadata={
            "help": "--design sites: at most this many counterfactuals per site that leave the output "
            "unchanged, kept besides the k changed ones (0: only changed rows)."
        },
    )
    candidates_per_text: int = field(
        default=32,
        metadata={
            "help": "--design sites: counterfactuals tried per text (a seeded draw of the same relation and "
            "template about other entities on the same side of the held-out ones)."
        },
    )
    shard_size: int = field(
        default=100, metadata={"help": "Prompts (--design sites: texts) per shard (resumption unit)."}
    )
    batch_prompts: int = field(
        default=32, metadata={"help": "Prompt pairs (a text and one counterfactual) whose patches share one sweep."}
    )

    def __post_init__(self):
        super().__post_init__()
        if self.layers is not None:
            check_distinct("--layers", self.layers)
        if self.window is not None and self.window < 1:
            raise ValueError(f"--window must be at least 1, got {self.window}")
        if not 0 <= self.same_value_share <= 1:
            raise ValueError(f"--same-value-share must be in [0, 1], got {self.same_value_share}")
        if self.num_prompts < 1:
            raise ValueError(f"--num-prompts must be at least 1, got {self.num_prompts}")
        check_positive("--shard-size", self.shard_size)
        check_positive("--batch-prompts", self.batch_prompts)
        if not 0 <= self.test_fraction < 1:
            raise ValueError(f"--test-fraction must be in [0, 1), got {self.test_fraction}")
        if self.design not in DESIGNS:
            raise ValueError(f"--design must be one of {', '.join(DESIGNS)}, got {self.design!r}")
        check_positive("--candidates-per-text", self.candidates_per_text)
        check_non_negative("--unchanged-per-site", self.unchanged_per_site)
        if (
            isinstance(self.counterfactuals_per_site, bool)
            or not isinstance(self.counterfactuals_per_site, int)
            or not 2 <= self.counterfactuals_per_site <= self.candidates_per_text
        ):
            raise ValueError(
                f"--counterfactuals-per-site must be an integer from 2 to --candidates-per-text "
                f"({self.candidates_per_text}), got {self.counterfactuals_per_site!r}"
            )
