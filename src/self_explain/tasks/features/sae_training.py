"""``self-explain train-sae``: TopK sparse autoencoders on a target's residual stream, in the SAELens format.

Each layer ℓ's SAE reads the input of decoder layer ℓ (``blocks.ℓ.hook_resid_pre``) and is written to
``<output_dir>/layer_<ℓ>/`` (``cfg.json``, ``sae_weights.safetensors``, ``training.json``). TopK as in Gao et al.
2024 (unit-norm decoder rows, b_dec started at the data mean, an AuxK loss for dead features), with dead features
re-aimed at high-error inputs early on (Bricken et al. 2023). At d_sae 512 over half of the toy residual stream's
features stay dead whatever is done, hence the default of 256.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.nn.functional import embedding_bag
from tqdm.auto import tqdm

from ...core.activations import FIRST_READ_POSITION, read_layer_inputs, tokenize_texts
from ...core.models import check_model_reference, is_toy_model, load_model, short_model_name
from ...core.sae import SAEConfig, SparseAutoencoder
from ...realworld import BUILTIN_CORPUS_NAME, builtin_corpus_path
from ...toyworld import toy_world_for
from ...toyworld.examples import toy_corpus
from ...utils.files import read_jsonl_objects, read_user_text
from ..build import require_input

logger = logging.getLogger(__name__)


@dataclass
class TrainSAEConfig:
    """Options of ``self-explain train-sae``.

    Args:
        target (`str`, *optional*, defaults to `"toy-target"`): The target: a toy name, a packaged short name
            (``smollm2-135m``), a folder or a Hub id.
        corpus (`str`, *optional*): The texts to read: a text file (one text per line) or JSONL with a ``text``
            field. Required for any target but a toy one (default: its toy world's texts) or a packaged one
            (default: the shipped English corpus).
        max_tokens (`int`, *optional*, defaults to 128): Longest text read, in tokens (longer ones are cut).
        layers (`list[int]`, *optional*, defaults to `[1, 2]`): Residual stream layers to train on.
        output_dir (`str`, *optional*, defaults to `"out/toy-target-saes"`): Folder; each layer's SAE goes to
            ``layer_<l>/``.
        d_sae (`int`, *optional*, defaults to 256): Number of SAE features.
        k (`int`, *optional*, defaults to 8): Active features per token (TopK).
        steps (`int`, *optional*, defaults to 2000): Adam steps per layer.
        batch_size (`int`, *optional*, defaults to 512): Tokens per step.
        learning_rate (`float`, *optional*, defaults to 3e-3): Adam learning rate (decays linearly in the last 20%).
        num_texts (`int`, *optional*, defaults to 4000): Texts whose activations are trained on (a seeded sample of
            a larger corpus).
        eval_fraction (`float`, *optional*, defaults to 0.1): Share of texts held out to measure FVE and dead
            features.
        aux_k (`int`, *optional*, defaults to 64): Dead features used by the AuxK loss (0: no AuxK).
        aux_coefficient (`float`, *optional*, defaults to 1/32): Weight of the AuxK loss.
        dead_steps (`int`, *optional*, defaults to 100): A feature silent this many steps counts as dead for AuxK.
        resample_every (`int`, *optional*, defaults to 200): Re-aim dead features at high-error inputs every this
            many steps in the first 40% of training (0: never).
        seed (`int`, *optional*, defaults to 0): Seed of the corpus, initialisation and batches.
        threads (`int`, *optional*, defaults to 0): torch threads (0: torch's default).
        overwrite (`bool`, *optional*, defaults to `False`): Replace existing ``layer_<l>/`` folders.

    Raises:
        ValueError: Naming the option, before any work: on no layers, a negative or repeated layer, ``k`` outside
            [1, ``d_sae``], ``steps``, ``batch_size`` or ``d_sae`` below 1, a learning rate that is not a finite
            number above 0, ``eval_fraction`` outside (0, 1), fewer than 2 texts, ``max_tokens`` below 2, or a
            negative ``aux_k``, ``aux_coefficient``, ``dead_steps``, ``resample_every``, ``seed`` or ``threads``.
    """

    target: str = field(
        default="toy-target", metadata={"help": "The target: a toy name, a packaged short name, a folder or a Hub id."}
    )
    corpus: str | None = field(
        default=None,
        metadata={
            "help": "Texts to read: a text file (one per line) or JSONL with a 'text' field. Required for any "
            "target but a toy one (default: its toy world's texts) or a packaged one such as "
            "smollm2-135m (default: the shipped English corpus)."
        },
    )
    max_tokens: int = field(default=128, metadata={"help": "Longest text read, in tokens (longer ones are cut)."})
    layers: list[int] = field(default_factory=lambda: [1, 2], metadata={"help": "Residual stream layers to train on."})
    output_dir: str = field(
        default="out/toy-target-saes", metadata={"help": "Folder; each layer's SAE goes to layer_<l>/."}
    )
    d_sae: int = field(default=256, metadata={"help": "Number of SAE features."})
    k: int = field(default=8, metadata={"help": "Active features per token (TopK)."})
    steps: int = field(default=2000, metadata={"help": "Adam steps per layer."})
    batch_size: int = field(default=512, metadata={"help": "Tokens per step."})
    learning_rate: float = field(
        default=3e-3, metadata={"help": "Adam learning rate (decays linearly over the last fifth of the steps)."}
    )
    num_texts: int = field(
        default=4000, metadata={"help": "Texts whose activations are trained on (a seeded sample of a larger corpus)."}
    )
    eval_fraction: float = field(
        default=0.1, metadata={"help": "Share of texts held out to measure FVE and dead features."}
    )
    aux_k: int = field(default=64, metadata={"help": "Dead features used by the AuxK loss (0: no AuxK)."})
    aux_coefficient: float = field(default=1 / 32, metadata={"help": "Weight of the AuxK loss."})
    dead_steps: int = field(
        default=100, metadata={"help": "A feature silent this many steps counts as dead for AuxK."}
    )
    resample_every: int = field(
        default=200,
        metadata={
            "help": "Re-aim dead features at high-error inputs every this many steps in the first two fifths of "
            "training (0: never)."
        },
    )
    seed: int = field(default=0, metadata={"help": "Seed of the corpus, initialisation and batches."})
    threads: int = field(default=0, metadata={"help": "torch threads (0: torch's default)."})
    overwrite: bool = field(default=False, metadata={"help": "Replace existing layer_<l>/ folders."})

    def __post_init__(self):
        from ...utils.checks import (
            check_distinct,
            check_non_negative,
            check_non_negative_number,
            check_positive,
            check_positive_number,
        )

        if not self.layers:
            raise ValueError("--layers needs at least one layer")
        for layer in self.layers:
            check_non_negative("--layers", layer)
        check_distinct("--layers", self.layers)
        check_positive("--d_sae", self.d_sae)
        check_positive("--k", self.k)
        if self.k > self.d_sae:
            raise ValueError(f"--k must be in [1, --d_sae={self.d_sae}], got {self.k}")
        check_positive("--steps", self.steps)
        check_positive("--batch_size", self.batch_size)
        check_positive_number("--learning_rate", self.learning_rate)
        if not 0 < self.eval_fraction < 1:  # NaN fails the comparison too
            raise ValueError(f"--eval_fraction must be in (0, 1), got {self.eval_fraction}")
        check_positive("--num_texts", self.num_texts)
        if self.num_texts < 2:
            raise ValueError(f"--num_texts must be at least 2 (training and held-out texts), got {self.num_texts}")
        check_positive("--max_tokens", self.max_tokens)
        if self.max_tokens < 2:
            raise ValueError(f"--max_tokens must be at least 2, got {self.max_tokens}")
        check_non_negative("--aux_k", self.aux_k)
        check_non_negative_number("--aux_coefficient", self.aux_coefficient)
        check_non_negative("--dead_steps", self.dead_steps)
        check_non_negative("--resample_every", self.resample_every)
        check_non_negative("--seed", self.seed)
        check_non_negative("--threads", self.threads)


def corpus_texts(path: str, num_texts: int, seed: int) -> list[str]:
    """The texts of a corpus file, a seeded sample of ``num_texts`` when it holds more, in file order."""
    import random

    file = Path(path)
    if not file.is_file():
        raise ValueError(f"--corpus {path}: no such file; give a text file (one text per line) or JSONL with 'text'")
    if file.suffix == ".jsonl":
        texts = []
        for number, record in read_jsonl_objects(file, "--corpus"):
            if not isinstance(record.get("text"), str):
                raise ValueError(f"--corpus {path} line {number}: needs a string 'text'")
            texts.append(record["text"])
    else:
        texts = [line.strip() for line in read_user_text(file, "--corpus").splitlines()]
    texts = [text for text in texts if text.strip()]
    if len(texts) < 2:
        raise ValueError(f"--corpus {path} holds {len(texts)} texts; at least 2 are needed (training and held out)")
    if len(texts) > num_texts:
        keep = sorted(random.Random(seed).sample(range(len(texts)), num_texts))
        texts = [texts[i] for i in keep]
    return texts


def residual_activations(
    loaded, texts: list[str], layers: list[int], batch_size: int = 64, max_tokens: int | None = None
) -> dict[int, torch.Tensor]:
    """Per layer, a float32 CPU (tokens, hidden) tensor of every token's residual but each text's first (BOS, sink)."""
    sequences = tokenize_texts(loaded.tokenizer, texts, max_length=max_tokens)
    found: dict[int, list[torch.Tensor]] = {layer: [] for layer in layers}
    for start in range(0, len(sequences), batch_size):
        chunk = [s for s in sequences[start : start + batch_size] if s]
        residuals = read_layer_inputs(loaded.model, chunk, layers)
        for layer in layers:
            for row, sequence in enumerate(chunk):
                found[layer].append(residuals[layer][row, FIRST_READ_POSITION : len(sequence)].float().cpu())
    return {layer: torch.cat(parts) for layer, parts in found.items()}


@torch.no_grad()
def reconstruction_metrics(sae: SparseAutoencoder, activations: torch.Tensor, chunk: int = 8192) -> dict[str, float]:
    """``fve`` (fraction of variance explained), ``dead_fraction`` and ``mean_l0`` (active features per token).

    ``training.json`` also reports the dead fraction on the training tokens (a rare feature can miss the held-out set).
    """
    squared_error = 0.0
    fired = torch.zeros(sae.d_sae, dtype=torch.bool)
    active = 0
    for start in range(0, len(activations), chunk):
        x = activations[start : start + chunk]
        features = sae.encode(x)
        squared_error += float((sae.decode(features) - x).pow(2).sum())
        fired |= (features > 0).any(0)
        active += int((features > 0).sum())
    total = float((activations - activations.mean(0)).pow(2).sum())
    return {
        "fve": 1 - squared_error / total,
        "dead_fraction": 1 - float(fired.float().mean()),
        "mean_l0": active / len(activations),
    }


@torch.no_grad()
def initialize_sae(sae: SparseAutoencoder, data: torch.Tensor, generator: torch.Generator) -> None:
    """Initialise in place: random unit decoder rows, the encoder their transpose, b_enc 0, b_dec the data mean."""
    directions = torch.randn(sae.d_sae, sae.d_in, generator=generator)
    sae.W_dec.copy_(directions / directions.norm(dim=-1, keepdim=True))
    sae.W_enc.copy_(sae.W_dec.T)
    sae.b_enc.zero_()
    sae.b_dec.copy_(data.mean(0))


def train_topk_sae(
    sae: SparseAutoencoder, data: torch.Tensor, config: TrainSAEConfig, generator: torch.Generator
) -> None:
    """Fit an initialised ``sae`` (TopK, unit-norm decoder rows) to ``data`` (tokens, d_in) in place."""
    variance = float((data - data.mean(0)).pow(2).sum(-1).mean())
    optimizer = torch.optim.Adam(sae.parameters(), lr=config.learning_rate)
    last_fired = torch.zeros(sae.d_sae, dtype=torch.long)
    decay_start = int(0.8 * config.steps)
    progress = tqdm(range(config.steps), desc=f"SAE layer {sae.layer}")
    for step in progress:
        x = data[torch.randint(0, len(data), (config.batch_size,), generator=generator)]
        hidden = sae.pre_activations(x)
        # TopK with a sparse decoder product: only the k chosen rows of W_dec per token are touched.
        values, indices = hidden.topk(sae.config.k, dim=-1, sorted=False)  # type: ignore[arg-type]
        values = values.relu()
        error = x - (embedding_bag(indices, sae.W_dec, per_sample_weights=values, mode="sum") + sae.b_dec)
        loss = error.pow(2).sum(-1).mean() / variance
        last_fired[indices[values > 0].unique()] = step
        dead = step - last_fired > config.dead_steps
        if config.aux_k and dead.any():  # AuxK: the dead features' top pre-activations model the error
            aux_values, aux_indices = hidden.masked_fill(~dead, float("-inf")).topk(
                min(config.aux_k, int(dead.sum())), dim=-1, sorted=False
            )
            aux = embedding_bag(aux_indices, sae.W_dec, per_sample_weights=aux_values.relu(), mode="sum")
            residual = error.detach()
            aux_loss = (aux - residual).pow(2).sum(-1).mean() / residual.pow(2).sum(-1).mean().clamp_min(1e-8)
            loss = loss + config.aux_coefficient * aux_loss
        if not torch.isfinite(loss):
            raise ValueError(
                f"SAE training of layer {sae.layer} diverged (loss {loss.item()} at step {step}); "
                f"nothing was saved for it: lower --learning_rate (now {config.learning_rate:g})"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():  # only the part of a decoder row's gradient that keeps its norm
            grad = sae.W_dec.grad
            grad -= (grad * sae.W_dec).sum(-1, keepdim=True) * sae.W_dec
        if step >= decay_start:
            for group in optimizer.param_groups:
                group["lr"] = config.learning_rate * (config.steps - step) / (config.steps - decay_start)
        optimizer.step()
        with torch.no_grad():
            sae.W_dec /= sae.W_dec.norm(dim=-1, keepdim=True)
        if config.resample_every and step and step % config.resample_every == 0 and step < decay_start // 2:
            dead = step - last_fired > config.dead_steps
            if dead.any():
                resample_features(sae, optimizer, dead.nonzero()[:, 0], error.detach(), generator)
                last_fired[dead] = step
        if step % 100 == 0:
            progress.set_postfix(loss=f"{loss.item():.4f}", dead=int(dead.sum()))


@torch.no_grad()
def resample_features(
    sae: SparseAutoencoder, optimizer, features: torch.Tensor, error: torch.Tensor, generator: torch.Generator
) -> None:
    """Point dead ``features`` at the batch's reconstruction errors (drawn by squared norm); reset their Adam state."""
    chosen = torch.multinomial(error.pow(2).sum(-1), len(features), replacement=True, generator=generator)
    directions = error[chosen] / error[chosen].norm(dim=-1, keepdim=True).clamp_min(1e-8)
    sae.W_dec[features] = directions
    sae.W_enc[:, features] = directions.T
    sae.b_enc[features] = 0
    for parameter, rows in ((sae.W_dec, features), (sae.b_enc, features)):
        for moment in optimizer.state[parameter].values():
            if torch.is_tensor(moment) and moment.dim():
                moment[rows] = 0
    for moment in optimizer.state[sae.W_enc].values():
        if torch.is_tensor(moment) and moment.dim():
            moment[:, features] = 0


def _layer_folder(config: TrainSAEConfig, layer: int) -> Path:
    return Path(config.output_dir) / f"layer_{layer}"


def train_saes(config: TrainSAEConfig) -> list[Path]:
    """Train one TopK SAE per layer of ``config.layers``, save each in the SAELens format; returns their folders.

    Args:
        config (`TrainSAEConfig`): The target, layers, SAE shape and training options.

    Raises:
        FileExistsError: When a layer's folder exists, is not empty and ``overwrite`` is not set.
        NotADirectoryError: When ``out`` (or a layer's folder in it) is a file.
        ValueError: When a layer is out of range for the target, a target other than a toy one has no ``corpus``,
            the corpus file is missing or bad (see `corpus_texts`), or training diverges (then nothing is saved for
            that layer).
    """
    # The corpus is checked before the target is loaded: a missing one fails at once, after a misspelt target.
    check_model_reference(config.target)
    builtin = None if config.corpus else builtin_corpus_path(config.target)
    require_input(
        config.target,
        config.corpus,
        "--corpus FILE",
        "a built-in corpus (their toy world's texts; the shipped English corpus for packaged models)",
        has_builtin=is_toy_model(config.target) or bool(builtin),
    )
    corpus_file = config.corpus or builtin
    if builtin:
        logger.info("no --corpus: reading the shipped English corpus (%s)", BUILTIN_CORPUS_NAME)
    corpus = corpus_texts(str(corpus_file), config.num_texts, config.seed) if corpus_file else None
    corpus_name = config.corpus or (BUILTIN_CORPUS_NAME if builtin else "self_explain.toyworld")
    if config.threads:
        torch.set_num_threads(config.threads)
    out = Path(config.output_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(
            f"--output_dir {out} is a file; give a folder (each layer's SAE goes to layer_<l>/ in it)"
        )
    for layer in config.layers:
        folder = _layer_folder(config, layer)
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(
                f"--output_dir {out}: {folder} is a file; remove it or choose another --output_dir"
            )
        if folder.exists() and any(folder.iterdir()) and not config.overwrite:
            raise FileExistsError(
                f"{folder} already exists and is not empty; choose another --output_dir or pass --overwrite"
            )
    loaded = load_model(config.target)
    num_layers = len(loaded.adapter.layers(loaded.model))
    bad = [layer for layer in config.layers if not 0 <= layer < num_layers]
    if bad:
        raise ValueError(f"--layers {bad} out of range for {config.target!r} with {num_layers} layers")
    texts = corpus or toy_corpus(
        toy_world_for(config.target), config.num_texts, config.seed, tokenizer=loaded.tokenizer
    )
    held_out = max(1, int(config.eval_fraction * len(texts)))
    train = residual_activations(loaded, texts[:-held_out], config.layers, max_tokens=config.max_tokens)
    evaluation = residual_activations(loaded, texts[-held_out:], config.layers, max_tokens=config.max_tokens)
    model_name = short_model_name(config.target)
    bos = loaded.tokenizer.bos_token_id
    prepends_bos = bos is not None and tokenize_texts(loaded.tokenizer, ["a"])[0][:1] == [bos]  # SmolLM2 does not
    folders = []
    for layer in config.layers:
        started = time.time()
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + layer)
        sae = SparseAutoencoder(
            SAEConfig(
                d_in=train[layer].shape[1],
                d_sae=config.d_sae,
                architecture="topk",
                k=config.k,
                hook_name=f"blocks.{layer}.hook_resid_pre",
                layer=layer,
                model_name=model_name,
                extra={"prepend_bos": prepends_bos, "seed": config.seed, "dataset_path": corpus_name},
            )
        )
        initialize_sae(sae, train[layer], generator)
        initial = reconstruction_metrics(sae, evaluation[layer])
        train_topk_sae(sae, train[layer], config, generator)
        metrics = reconstruction_metrics(sae, evaluation[layer])
        metrics["dead_fraction_train"] = reconstruction_metrics(sae, train[layer])["dead_fraction"]
        seconds = time.time() - started
        record = {
            "layer": layer,
            "target": config.target,
            "target_revision": loaded.revision,
            **metrics,
            "fve_at_init": initial["fve"],
            "train_tokens": len(train[layer]),
            "eval_tokens": len(evaluation[layer]),
            "seconds": round(seconds, 1),
            "config": asdict(config),
        }
        folder = sae.save_pretrained(
            _layer_folder(config, layer),
            overwrite=config.overwrite,
            extra_files={"training.json": json.dumps(record, indent=2) + "\n"},
        )
        logger.info(
            "layer %d: FVE %.3f (init %.3f), dead %.3f, L0 %.2f, %.0f s -> %s",
            layer,
            metrics["fve"],
            initial["fve"],
            metrics["dead_fraction"],
            metrics["mean_l0"],
            seconds,
            folder,
        )
        folders.append(folder)
    return folders


def main(argv: list[str] | None = None) -> list[Path]:
    """Parse ``TrainSAEConfig`` options and train the SAEs (what ``self-explain train-sae`` runs)."""
    from transformers import HfArgumentParser

    parser = HfArgumentParser(TrainSAEConfig, prog="self-explain train-sae")
    (config,) = parser.parse_args_into_dataclasses(args=argv)
    return train_saes(config)
