from __future__ import annotations

from dataclasses import dataclass, field

from ...utils.checks import check_non_negative, check_positive
from ..config import BuildConfig

DESCRIBERS = ("concept", "lm", "neuronpedia")
SIMULATORS = ("concept", "lm")


@dataclass
class FeaturesConfig(BuildConfig):
    """Options of ``self-explain build features``.

    The options every build shares (target, out, seed, config name, revision, push, overwrite, remote code) come
    from [`~self_explain.tasks.config.BuildConfig`].

    Args:
        saes (`list[str]`, *optional*):
            SAEs in the SAELens format (folders or Hub ids; each names its layer). Toy targets and ``smollm2-135m``:
            the shipped SAEs by default.
        sae_release (`str`, *optional*):
            A published SAELens release to take ``sae_ids`` from (needs self-explain[sae]).
        sae_ids (`list[str]`, *optional*):
            SAE ids within ``sae_release``.
        features_per_layer (`int`, *optional*):
            Features drawn (seeded) per layer; default every feature.
        corpus (`str`, *optional*):
            Texts to find exemplars in: a .txt (one text per line) or .jsonl ('text' field). By default: the toy
            world's texts for toy targets, the shipped English corpus for a packaged one (``smollm2-135m``).
        num_texts (`int`, *optional*, defaults to 4000):
            Texts of the toy-world corpus (toy targets, no ``corpus``).
        top_k (`int`, *optional*, defaults to 20):
            Top-activating exemplars kept per feature (at least 2: they are split to describe and to score).
        num_quantile (`int`, *optional*, defaults to 10):
            Exemplars drawn from activation quantiles per feature.
        num_random (`int`, *optional*, defaults to 10):
            Random exemplars (fired or not) per layer.
        context_window (`int`, *optional*, defaults to 12):
            Tokens kept on each side of an exemplar's centre.
        describer (`str`, *optional*, defaults to `"concept"`):
            Who describes features: one of ``DESCRIBERS`` (concept, lm, neuronpedia).
        describer_model (`str`, *optional*):
            LM describer: a local chat model, or the model name at ``describer_base_url``.
        describer_base_url (`str`, *optional*):
            LM describer: OpenAI-compatible endpoint.
        num_candidates (`int`, *optional*, defaults to 3):
            Candidate descriptions per feature, each scored.
        neuronpedia (`str`, *optional*):
            Neuronpedia explanations export (JSON/JSONL/folder).
        simulator (`str`, *optional*, defaults to `"concept"`):
            Who scores descriptions: one of ``SIMULATORS`` (concept, lm).
        simulator_model (`str`, *optional*):
            LM simulator: a local causal LM, or the model name at ``simulator_base_url``.
        simulator_base_url (`str`, *optional*):
            LM simulator: OpenAI-compatible endpoint.
        min_score (`float`, *optional*, defaults to 0.0):
            Keep features whose best description scores above this simulator correlation.
        test_fraction (`float`, *optional*, defaults to 0.15):
            Share of features held out into the test split.
        ood_layers (`list[int]`, *optional*):
            Layers whose features form the ood split (default: the last SAE layer when there are two or more).
            Pass -1 for none.
        shard_size (`int`, *optional*, defaults to 128):
            Features per shard (resumption unit).
        batch_size (`int`, *optional*, defaults to 32):
            Texts per forward pass while collecting exemplars.

    Raises:
        ValueError: On an option out of its range, an unknown describer or simulator, or one without what it needs
            (an LM's model, neuronpedia's export, ``sae_release`` and ``sae_ids`` together).
    """

    saes: list[str] | None = field(
        default=None,
        metadata={
            "help": "SAEs in the SAELens format (folders or Hub ids; each names its layer). Toy targets and "
            "smollm2-135m: the shipped SAEs by default."
        },
    )
    sae_release: str | None = field(
        default=None,
        metadata={"help": "A published SAELens release to take --sae-ids from (needs self-explain[sae])."},
    )
    sae_ids: list[str] | None = field(default=None, metadata={"help": "SAE ids within --sae-release."})
    features_per_layer: int | None = field(
        default=None, metadata={"help": "Features drawn (seeded) per layer; default every feature."}
    )
    corpus: str | None = field(
        default=None,
        metadata={
            "help": "Texts to find exemplars in: a .txt (one text per line) or .jsonl ('text' field). By "
            "default: the toy world's texts for toy targets, the shipped English corpus for smollm2-135m."
        },
    )
    num_texts: int = field(
        default=4000, metadata={"help": "Texts of the toy-world corpus (toy targets, no --corpus)."}
    )
    top_k: int = field(default=20, metadata={"help": "Top-activating exemplars kept per feature."})
    num_quantile: int = field(default=10, metadata={"help": "Exemplars drawn from activation quantiles per feature."})
    num_random: int = field(default=10, metadata={"help": "Random exemplars (fired or not) per layer."})
    context_window: int = field(default=12, metadata={"help": "Tokens kept on each side of an exemplar's centre."})
    describer: str = field(default="concept", metadata={"help": f"Who describes features: {', '.join(DESCRIBERS)}."})
    describer_model: str | None = field(
        default=None, metadata={"help": "LM describer: a local chat model, or the model name at --describer-base-url."}
    )
    describer_base_url: str | None = field(
        default=None, metadata={"help": "LM describer: OpenAI-compatible endpoint."}
    )
    num_candidates: int = field(default=3, metadata={"help": "Candidate descriptions per feature, each scored."})
    neuronpedia: str | None = field(
        default=None, metadata={"help": "Neuronpedia explanations export (JSON/JSONL/folder)."}
    )
    simulator: str = field(default="concept", metadata={"help": f"Who scores descriptions: {', '.join(SIMULATORS)}."})
    simulator_model: str | None = field(
        default=None, metadata={"help": "LM simulator: a local causal LM, or the model name at --simulator-base-url."}
    )
    simulator_base_url: str | None = field(
        default=None, metadata={"help": "LM simulator: OpenAI-compatible endpoint."}
    )
    min_score: float = field(
        default=0.0, metadata={"help": "Keep features whose best description scores above this simulator correlation."}
    )
    test_fraction: float = field(default=0.15, metadata={"help": "Share of features held out into the test split."})
    ood_layers: list[int] | None = field(
        default=None,
        metadata={
            "help": "Layers whose features form the ood split (default: the last SAE layer when there are two or "
            "more). Pass -1 for none."
        },
    )
    shard_size: int = field(default=128, metadata={"help": "Features per shard (resumption unit)."})
    batch_size: int = field(default=32, metadata={"help": "Texts per forward pass while collecting exemplars."})

    def __post_init__(self):
        super().__post_init__()
        if self.describer not in DESCRIBERS:
            raise ValueError(f"--describer must be one of {DESCRIBERS}, got {self.describer!r}")
        if self.simulator not in SIMULATORS:
            raise ValueError(f"--simulator must be one of {SIMULATORS}, got {self.simulator!r}")
        if self.describer == "lm" and not self.describer_model:
            raise ValueError(
                "--describer lm needs --describer-model (a local chat model, or the endpoint's model name)"
            )
        if self.simulator == "lm" and not self.simulator_model:
            raise ValueError(
                "--simulator lm needs --simulator-model (a local causal LM, or the endpoint's model name)"
            )
        if self.describer == "neuronpedia" and not self.neuronpedia:
            raise ValueError("--describer neuronpedia needs --neuronpedia FILE (an explanations export)")
        if self.sae_release and not self.sae_ids:
            raise ValueError("--sae-release needs --sae-ids")
        if self.sae_ids and not self.sae_release:
            raise ValueError(
                "--sae-ids needs --sae-release (the SAELens release they belong to); for SAE folders "
                "give --saes instead"
            )
        if self.neuronpedia and self.describer != "neuronpedia":
            raise ValueError(
                f"--neuronpedia is read only by --describer neuronpedia (here --describer "
                f"{self.describer}); add --describer neuronpedia, or leave --neuronpedia out"
            )
        if self.top_k < 2:
            raise ValueError(
                f"--top-k must be at least 2 (exemplars are split to describe and to score), got {self.top_k}"
            )
        if self.features_per_layer is not None and self.features_per_layer < 1:
            raise ValueError(f"--features-per-layer must be at least 1, got {self.features_per_layer}")
        check_positive("--shard-size", self.shard_size)
        check_positive("--batch-size", self.batch_size)
        check_positive("--num-texts", self.num_texts)
        check_positive("--num-candidates", self.num_candidates)
        check_non_negative("--num-quantile", self.num_quantile)
        check_non_negative("--num-random", self.num_random)
        check_non_negative("--context-window", self.context_window)
        if not 0 <= self.test_fraction < 1:
            raise ValueError(f"--test-fraction must be in [0, 1), got {self.test_fraction}")
        if not -1 <= self.min_score <= 1:  # a correlation; NaN fails the comparison too
            raise ValueError(f"--min-score must be a correlation in [-1, 1], got {self.min_score}")
