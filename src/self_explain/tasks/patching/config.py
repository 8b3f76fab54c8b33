from __future__ import annotations

from dataclasses import dataclass, field

from ...core.checks import check_positive
from ..config import BuildConfig


@dataclass
class PatchingConfig(BuildConfig):
    """Options of ``self-explain build patching``.

    The options every build shares (target, out, seed, config name, revision, push, overwrite, remote code) come
    from [`~self_explain.tasks.config.BuildConfig`].

    Args:
        num_prompts (`int`, *optional*, defaults to 2000):
            Prompt pairs to build from (toy world targets).
        prompts (`str`, *optional*):
            JSONL of prompt pairs: text, counterfactual, optional targets [original, counterfactual].
        layers (`list[int]`, *optional*):
            First layers of the patched windows (default: every layer a window fits).
        window (`int`, *optional*, defaults to 1):
            Number of consecutive layers patched at once.
        test_fraction (`float`, *optional*, defaults to 0.1):
            Share of in-distribution prompts of a user's file drawn into the test split (toy-world builds hold out a
            seeded quarter of the entities instead).
        ood_relations (`list[str]`, *optional*, defaults to `["number"]`):
            Toy-world relations held out of train/test into the ood split.
        shard_size (`int`, *optional*, defaults to 100):
            Prompts per shard (resumption unit).
        batch_prompts (`int`, *optional*, defaults to 32):
            Prompts whose patches share one batched sweep.

    Raises:
        ValueError: When ``window`` or ``num_prompts`` is below 1, ``shard_size`` or ``batch_prompts`` is not
            positive, ``seed`` is negative, or ``test_fraction`` is outside [0, 1).
    """

    num_prompts: int = field(default=2000, metadata={"help": "Prompt pairs to build from (toy world targets)."})
    prompts: str | None = field(
        default=None,
        metadata={"help": "JSONL of prompt pairs: text, counterfactual, optional targets [original, counterfactual]."},
    )
    layers: list[int] | None = field(
        default=None, metadata={"help": "First layers of the patched windows (default: every layer a window fits)."}
    )
    window: int = field(default=1, metadata={"help": "Number of consecutive layers patched at once."})
    test_fraction: float = field(
        default=0.1,
        metadata={"help": "Share of in-distribution prompts of a user's file drawn into the test split "
                          "(toy-world builds hold out a quarter of the entities instead)."},
    )
    ood_relations: list[str] = field(
        default_factory=lambda: ["number"],
        metadata={"help": "Toy-world relations held out of train/test into the ood split."},
    )
    shard_size: int = field(default=100, metadata={"help": "Prompts per shard (resumption unit)."})
    batch_prompts: int = field(default=32, metadata={"help": "Prompts whose patches share one batched sweep."})

    def __post_init__(self):
        super().__post_init__()
        if self.window < 1:
            raise ValueError(f"--window must be at least 1, got {self.window}")
        if self.num_prompts < 1:
            raise ValueError(f"--num-prompts must be at least 1, got {self.num_prompts}")
        check_positive("--shard-size", self.shard_size)
        check_positive("--batch-prompts", self.batch_prompts)
        if not 0 <= self.test_fraction < 1:
            raise ValueError(f"--test-fraction must be in [0, 1), got {self.test_fraction}")
