"""Exemplars of SAE features: the contexts of a corpus where each feature fires, streamed with bounded memory.

The corpus is run through the target once, each layer's residual stream encoded by its SAE. Per feature, windows
of tokens with the feature's activation at each token:

- ``top``: the ``top_k`` texts with the highest activation, centred on the maximum (a min-heap); a window seen
  twice (corpora repeat texts) is kept once;
- ``quantile``: one text from each of ``num_quantile`` rank-quantile bins of the texts where it fired, drawn from a
  reservoir of ``quantile_pool``;
- ``random``: texts from the whole corpus, fired or not, around a random token (one reservoir per layer).

Selection does not depend on the batch size: padding changes activations by float rounding (~1e-8), so texts are
ranked by their maximum rounded to six significant digits, ties by text index. Nothing grows with the corpus. Each
text's first token (BOS, or the attention sink) is left out: its huge activations say nothing about the text.

On disk (``write_to``): ``layer_<ℓ>.jsonl``, one feature a line, and ``exemplars.json`` (the run), each written
whole at the end through a temporary file and a rename; ``exemplars.json`` comes last and marks a complete write.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ...core.activations import FIRST_READ_POSITION, read_layer_inputs, tokenize_texts
from ...core.models import LoadedModel, context_length
from ...core.sae import SparseAutoencoder, check_sae_fits, sae_for_layer
from ...utils.files import read_user_text, write_atomically
from ...utils.progress import progress_bar

logger = logging.getLogger(__name__)


@dataclass
class Exemplar:
    """One context where a feature was read: its tokens and the feature's activation at each."""

    tokens: list[str]  # the context's tokens as strings (tokenizer.convert_ids_to_tokens)
    activations: list[float]  # the feature's activation at each token of the context
    kind: str  # "top" | "quantile" | "random"
    text_index: int  # which corpus text it came from


@dataclass
class FeatureExemplars:
    """An SAE feature's exemplars over a corpus, with its activation statistics."""

    layer: int
    feature: int
    max_activation: float
    activation_frequency: float  # share of tokens where the feature fired (>0)
    exemplars: list[Exemplar]

    @classmethod
    def from_dict(cls, row: dict) -> FeatureExemplars:
        """Read one feature's exemplars as written by `write_exemplars` (one JSONL line, parsed)."""
        return cls(**{**row, "exemplars": [Exemplar(**exemplar) for exemplar in row["exemplars"]]})


def _rank_value(value: float) -> float:
    """``value`` at six significant digits: the ranking key, blind to batch-dependent float rounding."""
    return float(f"{value:.6g}")


class ExemplarCollector:
    """The streaming state of one layer: heaps and reservoirs, fed one text at a time with :meth:`add`."""

    def __init__(
        self,
        layer: int,
        features: list[int],
        top_k: int = 20,
        num_quantile: int = 10,
        num_random: int = 10,
        context_window: int = 16,
        seed: int = 0,
        quantile_pool: int | None = None,
    ):
        self.layer, self.features = layer, list(features)
        self.top_k, self.num_quantile, self.num_random = top_k, num_quantile, num_random
        self.context_window = context_window
        self.pool_size = quantile_pool if quantile_pool is not None else 5 * num_quantile
        self.seed = seed * 1_000_003 + layer
        self.generator = torch.Generator().manual_seed(self.seed)
        count = len(self.features)
        self.top: list[list[tuple]] = [[] for _ in range(count)]  # min-heaps of (max, -text_index, window)
        self.top_floor = torch.zeros(count)  # what a text's maximum must exceed to enter the heap
        self.top_windows: list[dict[tuple, tuple]] = [{} for _ in range(count)]  # token window -> its heap entry
        self.pool: list[list[tuple]] = [[] for _ in range(count)]  # reservoirs of (max, text_index, window)
        self.fired_texts = torch.zeros(count, dtype=torch.long)
        self.random: list[tuple] = []  # (text_index, token ids, activations (window, features))
        self.max_activation = torch.zeros(count)
        self.fired_tokens = torch.zeros(count, dtype=torch.long)
        self.num_texts = self.num_tokens = 0

    def _window(self, center: int, length: int) -> slice:
        return slice(max(0, center - self.context_window), min(length, center + self.context_window + 1))

    def add(self, text_index: int, token_ids: list[int], activations: torch.Tensor, counted: torch.Tensor) -> None:
        """Feed one text; uncounted tokens get activation 0. A text without a counted token is skipped."""
        if not counted.any():
            return
        activations = activations.float() * counted[:, None]
        length = len(token_ids)
        self.num_texts += 1
        self.num_tokens += int(counted.sum())
        self.fired_tokens += (activations > 0).sum(0)
        text_max, argmax = activations.max(0)
        self.max_activation = torch.maximum(self.max_activation, text_max)
        fired = text_max > 0

        def window(i: int) -> tuple[list[int], list[float]]:
            span = self._window(int(argmax[i]), length)
            return token_ids[span], activations[span, i].tolist()

        for i in (fired & (text_max > self.top_floor)).nonzero()[:, 0].tolist():
            entry = (_rank_value(float(text_max[i])), -text_index, window(i))
            key, heap, shown = tuple(entry[2][0]), self.top[i], self.top_windows[i]
            if key in shown:  # the same context again (corpora repeat texts): only its highest copy is kept
                if entry[0] <= shown[key][0]:
                    continue
                heap.remove(shown[key])
                heapq.heapify(heap)
                heapq.heappush(heap, entry)
            elif len(heap) < self.top_k:
                heapq.heappush(heap, entry)
            else:
                del shown[tuple(heapq.heapreplace(heap, entry)[2][0])]
            shown[key] = entry
            if len(heap) == self.top_k:
                self.top_floor[i] = heap[0][0]
        # Reservoir sampling (algorithm R) of the fired texts, all features at once.
        self.fired_texts += fired
        slot = (torch.rand(len(self.features), generator=self.generator) * self.fired_texts).long()
        for i in (fired & (slot < self.pool_size)).nonzero()[:, 0].tolist():
            entry = (_rank_value(float(text_max[i])), text_index, window(i))
            pool = self.pool[i]
            if len(pool) < self.pool_size:
                pool.append(entry)
            else:
                pool[int(slot[i])] = entry
        # One reservoir of random windows per layer, zero activations included.
        draw_slot, draw_center = torch.rand(2, generator=self.generator).tolist()
        positions = counted.nonzero()[:, 0]
        span = self._window(int(positions[int(draw_center * len(positions))]), length)
        entry = (text_index, token_ids[span], activations[span].clone())
        if len(self.random) < self.num_random:
            self.random.append(entry)
        elif int(draw_slot * self.num_texts) < self.num_random:
            self.random[int(draw_slot * self.num_texts)] = entry

    def result(self, tokenizer) -> dict[tuple[int, int], FeatureExemplars]:
        """Every feature's exemplars: top (highest first), quantile (lowest bin first), random (corpus order)."""
        if self.num_tokens == 0:
            raise ValueError(
                "the corpus has no tokens to read activations at (every text was empty or one token long)"
            )
        strings: dict[int, str] = {}

        def tokens(ids: list[int]) -> list[str]:
            missing = [i for i in set(ids) if i not in strings]
            strings.update(zip(missing, tokenizer.convert_ids_to_tokens(missing)))
            return [strings[i] for i in ids]

        rng = random.Random(self.seed)
        results = {}
        for i, feature in enumerate(self.features):
            exemplars = [
                Exemplar(tokens(ids), acts, "top", -negative_index)
                for _, negative_index, (ids, acts) in sorted(self.top[i], key=lambda e: (-e[0], -e[1]))
            ]
            ranked = sorted(self.pool[i], key=lambda e: (e[0], e[1]))
            bounds = [round(q * len(ranked) / self.num_quantile) for q in range(self.num_quantile + 1)]
            for low, high in itertools.pairwise(bounds):
                if high > low:
                    _, text_index, (ids, acts) = ranked[rng.randrange(low, high)]
                    exemplars.append(Exemplar(tokens(ids), acts, "quantile", text_index))
            for text_index, ids, acts in sorted(self.random, key=lambda e: e[0]):
                exemplars.append(Exemplar(tokens(ids), acts[:, i].tolist(), "random", text_index))
            results[(self.layer, feature)] = FeatureExemplars(
                layer=self.layer,
                feature=feature,
                max_activation=float(self.max_activation[i]),
                activation_frequency=float(self.fired_tokens[i]) / self.num_tokens,
                exemplars=exemplars,
            )
        return results


def _chunks(texts: Iterable[str], size: int):
    iterator = iter(texts)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def collect_exemplars(
    model: LoadedModel,
    saes: dict[int, SparseAutoencoder],
    texts: Iterable[str],
    features: dict[int, list[int]] | None = None,
    top_k: int = 20,
    num_quantile: int = 10,
    num_random: int = 10,
    context_window: int = 16,
    batch_size: int = 32,
    seed: int = 0,
    write_to: Path | None = None,
    *,
    quantile_pool: int | None = None,
    max_length: int | None = None,
) -> dict[tuple[int, int], FeatureExemplars]:
    """Exemplars of SAE features over a corpus, keyed by (layer, feature); see the module docstring.

    Args:
        model (`LoadedModel`): The target model and its tokenizer.
        saes (`dict[int, SparseAutoencoder]`): A layer -> the SAE reading its residual stream.
        texts (`Iterable[str]`): The corpus, read once (a stream is fine).
        features (`dict[int, list[int]]`, *optional*): The features to collect per layer (default: all of each SAE).
        top_k (`int`, *optional*, defaults to 20): Top exemplars kept per feature.
        num_quantile (`int`, *optional*, defaults to 10): Quantile bins, one exemplar each, per feature.
        num_random (`int`, *optional*, defaults to 10): Random exemplars per layer.
        context_window (`int`, *optional*, defaults to 16): Tokens kept on each side of an exemplar's centre.
        batch_size (`int`, *optional*, defaults to 32): Texts per forward pass.
        seed (`int`, *optional*, defaults to 0): Seed of the reservoirs and quantile draws.
        write_to (`Path`, *optional*): A folder the result is also written to (`write_exemplars`).
        quantile_pool (`int`, *optional*): The reservoir each feature's quantile bins are drawn from
            (default 5 × ``num_quantile``).
        max_length (`int`, *optional*): Texts are cut to this many tokens (default: the model's context).

    Raises:
        ValueError: When there is no SAE, an SAE does not fit the model, a layer's features are empty or out of
            range, or the corpus has no texts (or no tokens).
    """
    if not saes:
        raise ValueError("collect_exemplars needs at least one SAE (saes maps a layer to its SAE)")
    for layer, sae in saes.items():
        check_sae_fits(sae, model, layer)
    chosen = features if features is not None else {layer: list(range(sae.d_sae)) for layer, sae in saes.items()}
    for layer, indices in chosen.items():
        sae = sae_for_layer(saes, layer)
        bad = [index for index in indices if not 0 <= index < sae.d_sae]
        if bad or not indices:
            raise ValueError(
                f"features of layer {layer} must be a non-empty list in [0, {sae.d_sae}), got {bad or []}"
            )
    layers = sorted(chosen)
    collectors = {
        layer: ExemplarCollector(
            layer, chosen[layer], top_k, num_quantile, num_random, context_window, seed, quantile_pool
        )
        for layer in layers
    }
    columns = {layer: torch.tensor(chosen[layer]) for layer in layers}
    tokenizer, module = model.tokenizer, model.model
    max_length = max_length or context_length(module)
    text_index = 0
    progress = progress_bar(
        desc="collecting exemplars", unit="text", total=len(texts) if hasattr(texts, "__len__") else None
    )
    for chunk in _chunks(texts, batch_size):
        sequences = tokenize_texts(tokenizer, chunk, max_length)
        counted = [torch.ones(len(s), dtype=torch.bool) for s in sequences]
        for mask in counted:
            mask[:FIRST_READ_POSITION] = False
        rows = [row for row, mask in enumerate(counted) if mask.any()]
        if rows:
            residuals = read_layer_inputs(module, [sequences[row] for row in rows], layers)
            for layer in layers:
                sae = saes[layer]
                for batch_row, row in enumerate(rows):
                    hidden = residuals[layer][batch_row, : len(sequences[row])].to(sae.W_enc.device)
                    with torch.no_grad():
                        activations = sae.encode(hidden)[:, columns[layer]].float().cpu()
                    collectors[layer].add(text_index + row, sequences[row], activations, counted[row])
        text_index += len(chunk)
        progress.update(len(chunk))
    progress.close()
    if text_index == 0:
        raise ValueError("the corpus has no texts: collect_exemplars needs at least one text")
    results = {}
    for layer in layers:
        results.update(collectors[layer].result(tokenizer))
    if write_to is not None:
        options = dict(
            top_k=top_k,
            num_quantile=num_quantile,
            num_random=num_random,
            context_window=context_window,
            quantile_pool=collectors[layers[0]].pool_size,
            max_length=max_length,
            seed=seed,
        )
        write_exemplars(
            write_to,
            results,
            {
                "model": model.name,
                "revision": model.revision,
                "num_texts": text_index,
                "options": options,
                "layers": {
                    str(layer): {
                        "sae": saes[layer].name,
                        "features": len(chosen[layer]),
                        "num_tokens": collectors[layer].num_tokens,
                    }
                    for layer in layers
                },
            },
        )
    return results


def write_exemplars(
    folder: str | Path, results: dict[tuple[int, int], FeatureExemplars], run: dict | None = None
) -> Path:
    """``layer_<ℓ>.jsonl`` per layer (features in order) and ``exemplars.json`` (``run``), each written atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for layer in sorted({layer for layer, _ in results}):
        rows = [asdict(results[key]) for key in sorted(results) if key[0] == layer]

        def write(path: str, rows=rows) -> None:
            with open(path, "w") as handle:
                handle.writelines(json.dumps(row) + "\n" for row in rows)

        write_atomically(folder / f"layer_{layer}.jsonl", write)
    manifest = {"format": "self-explain-exemplars", "version": 1, **(run or {})}
    write_atomically(
        folder / "exemplars.json", lambda path: Path(path).write_text(json.dumps(manifest, indent=2) + "\n")
    )
    logger.info("wrote exemplars of %d features to %s", len(results), folder)
    return folder


def read_exemplars(path: str | Path) -> dict[tuple[int, int], FeatureExemplars]:
    """Exemplars written by :func:`collect_exemplars`: a folder (its ``exemplars.json``'s layers) or one JSONL file."""
    path = Path(path)
    if path.is_dir() and (path / "exemplars.json").is_file():  # the layers of the last run, not stale files
        layers = json.loads((path / "exemplars.json").read_text()).get("layers") or {}
        files = [path / f"layer_{layer}.jsonl" for layer in sorted(layers, key=int)]
        missing = [file.name for file in files if not file.is_file()]
        if missing:
            raise FileNotFoundError(f"{path}/exemplars.json lists {', '.join(missing)}, which is missing")
    elif path.is_dir():
        files = sorted(path.glob("layer_*.jsonl"))
        if not files:
            raise FileNotFoundError(f"{path} has no layer_*.jsonl exemplar files")
    elif path.is_file():
        files = [path]
    else:
        raise FileNotFoundError(f"no exemplars at {path}: expected a folder of layer_*.jsonl files or one such file")
    results = {}
    for file in files:
        for number, line in enumerate(read_user_text(file).splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = FeatureExemplars.from_dict(json.loads(line))
            except (json.JSONDecodeError, TypeError, KeyError) as error:
                raise ValueError(f"{file}:{number} is not a feature's exemplars ({error})") from error
            results[(row.layer, row.feature)] = row
    return results
