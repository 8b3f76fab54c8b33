"""An explainer bound to its target: loading (adapter or full model), target runs, and generation.

An adapter on the target's own base shares one model: adapter on for explainer runs, off for target runs. Training,
pipeline and evaluation all generate through :meth:`Explainer.generate`.
"""

from __future__ import annotations

import itertools
import logging
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HFValidationError,
    RepositoryNotFoundError,
)
from peft import PeftConfig, PeftModel
from safetensors import SafetensorError
from torch import nn
from transformers import AutoTokenizer

from ..core.generation import greedy_generate, prompt_ids
from ..core.hub_ids import is_package_made, shipped_name_of
from ..core.injection import PROJECTION_FILE, VectorInjector, VectorProjection
from ..core.models import (
    SHIPPED_EXPLAINERS,
    TOY_MODELS,
    LoadedModel,
    closest_short_name,
    load_model,
    resolve_model_id,
    short_model_name,
)
from ..core.packaged_models import is_packaged_model, packaged_name_of
from ..tasks import TASKS, ExplainerExamples
from ..utils.deprecations import library_deprecations_silenced
from ..utils.progress import progress_bar
from .card import EXPLAINER_METADATA, is_hub_id, read_metadata_file
from .controls import METADATA_KEY as CONTROL_METADATA_KEY
from .controls import apply_vector_control

logger = logging.getLogger(__name__)


def explainer_file(source: str, name: str, revision: str | None = None) -> Path | None:
    """A file of an explainer (local folder or Hub id), local or downloaded; None when it has no such file."""
    if Path(source).is_dir():
        path = Path(source) / name
        return path if path.is_file() else None
    if not is_hub_id(source):
        close = closest_short_name(source, SHIPPED_EXPLAINERS)
        raise ValueError(
            f"unknown explainer {source!r}: no such folder (expected a toy name, a local folder or a Hub "
            f"id){f'; did you mean {close!r}?' if close else ''}"
        )
    try:
        return Path(hf_hub_download(source, name, revision=revision))
    except EntryNotFoundError:
        return None
    except (HFValidationError, RepositoryNotFoundError, OSError) as error:  # OSError: offline, no cached copy
        close = closest_short_name(source, SHIPPED_EXPLAINERS)
        raise ValueError(
            f"unknown explainer {source!r}: not a local folder, and not readable as a Hub repo "
            f"({type(error).__name__})"
            f"{f'; did you mean {close!r}?' if close else ''}"
        ) from error


def read_metadata(source: str, revision: str | None = None) -> dict:
    """The explainer's ``self_explain.json``, checked; {} for a model that has none (any full model)."""
    path = explainer_file(source, EXPLAINER_METADATA, revision)
    return {} if path is None else read_metadata_file(path)


def adapter_base(source: str, revision: str | None = None) -> str | None:
    """The base in a PEFT adapter's ``adapter_config.json`` (a packaged model's short name for its Hub id), or None."""
    if Path(source).is_dir() and not (Path(source) / "adapter_config.json").is_file():
        return None
    try:
        base = PeftConfig.from_pretrained(source, revision=revision).base_model_name_or_path
    except (OSError, ValueError) as error:
        local = Path(source) / "adapter_config.json"
        if local.is_file():  # an adapter whose config is damaged, not a model: say so rather than "no model"
            reason = " ".join(str(error).split())[:200]
            raise ValueError(
                f"adapter {source!r}: {local} cannot be read ({reason}); the file is damaged: train "
                "the explainer again, or download it again"
            ) from None
        return None
    if base and not Path(base).exists() and (shipped := shipped_name_of(base)):
        return shipped  # the Hub id a shipped or packaged base is published under: the package has its own copy
    # An older adapter trained on a toy model records the folder it was loaded from; here that is the shipped one.
    if base and not Path(base).exists() and Path(base).name in TOY_MODELS:
        return Path(base).name
    # One trained on a packaged model records its converted folder in some cache; the short name finds it here.
    return packaged_name_of(base) if base and packaged_name_of(base) else base


ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


def _check_adapter_weights(explainer: str, source: str) -> None:
    """A local adapter folder without its weights is refused (PEFT would look for them on the Hub instead)."""
    folder = Path(source)
    if folder.is_dir() and not any((folder / name).is_file() for name in ADAPTER_WEIGHTS):
        raise FileNotFoundError(
            f"explainer {explainer!r}: {folder} has adapter_config.json but no {ADAPTER_WEIGHTS[0]}; the training did "
            "not finish or the file was removed: train the explainer again (or resume it with "
            "--resume-from-checkpoint latest)"
        )


def same_model(a: str, b: str) -> bool:
    """Whether two model references (toy name, folder, Hub id) resolve to the same folder or id."""
    resolved_a, resolved_b = resolve_model_id(a), resolve_model_id(b)
    if Path(resolved_a).is_dir() and Path(resolved_b).is_dir():
        return Path(resolved_a).resolve() == Path(resolved_b).resolve()
    return resolved_a == resolved_b


@dataclass
class Explainer:
    """An explainer bound to its target; made by [`load_explainer`].

    Args:
        model (`nn.Module`): A ``PeftModel`` (adapter) or a full causal LM.
        tokenizer (`PreTrainedTokenizerBase`): The explainer's tokenizer (with the placeholder tokens).
        target (`LoadedModel`): The model whose computations are explained.
        metadata (`dict`, *optional*): The explainer's ``self_explain.json``.
        projection (`VectorProjection`, *optional*): Maps the target's vectors into the explainer's width.
        shares_base (`bool`): Target runs use the explainer's base with the adapter off.
        name (`str`): How the explainer was given (for messages).
    """

    model: nn.Module  # a PeftModel (adapter) or a full causal LM
    tokenizer: object
    target: LoadedModel
    metadata: dict = field(default_factory=dict)
    projection: VectorProjection | None = None
    shares_base: bool = False  # target runs use the explainer's base with the adapter off
    name: str = ""

    def __post_init__(self):
        self.injector = VectorInjector(self.model, self.tokenizer, self.projection)

    @property
    def is_adapter(self) -> bool:
        return isinstance(self.model, PeftModel)

    @property
    def task(self) -> str | None:
        return self.metadata.get("task")

    @contextmanager
    def target_runs(self):
        """Within the block, ``self.target.model`` is the target (the shared base with the adapter off)."""
        with self.model.disable_adapter() if self.shares_base else nullcontext():
            yield self.target

    def untrained(self):
        """A context within which the model is its untrained base (the adapter off, or a plain never-trained model).

        Raises:
            ValueError: For a full model trained for a task: it has no untrained base.
        """
        if self.is_adapter:
            return self.model.disable_adapter()
        if self.task is not None:
            raise ValueError(
                f"explainer {self.name!r} is a full model trained for {self.task!r}: it has no untrained base"
            )
        return nullcontext()

    @property
    def vector_control(self) -> dict | None:
        """The vector control the explainer was trained under (``{"name", "seed"}``), or None for none."""
        return self.metadata.get(CONTROL_METADATA_KEY)

    @torch.no_grad()
    def generate(
        self,
        examples: ExplainerExamples,
        batch_size: int = 16,
        max_new_tokens: int = 48,
        progress: bool = False,
        chat_template: bool = True,
        apply_control: bool = True,
    ) -> list[str]:
        """Greedy explanations (stripped), batched with left padding, the vectors filling the placeholders in order.

        Questions are wrapped in the chat template as in training. An explainer trained under a vector control gets its
        vectors transformed the same way first, over all of ``examples`` at once.

        Args:
            examples (`ExplainerExamples`): The questions, and the vectors and their layers (if any).
            batch_size (`int`): Prompts per batch.
            max_new_tokens (`int`): Longest explanation.
            progress (`bool`): Show a progress bar.
            chat_template (`bool`): Wrap each question in the chat template (else a raw continuation prompt).
            apply_control (`bool`): Apply the explainer's vector control (off for the untrained base).

        Raises:
            ValueError: When the number of placeholders in the questions differs from the number of vectors.
        """
        control = self.vector_control
        if apply_control and control and examples.vectors is not None:
            examples = apply_vector_control(examples, control["name"], control["seed"])
        if chat_template:
            prompts = [prompt_ids(self.tokenizer, q) for q in examples.questions]
        else:
            prompts = [self.tokenizer(q).input_ids for q in examples.questions]
        outputs: list[str] = []
        # Where each prompt's vectors start: a prompt may hold several placeholders (SelfIE's holds two).
        counts = [p.count(self.injector.placeholder_id) for p in prompts]
        offsets = [0, *itertools.accumulate(counts)]
        if examples.vectors is not None and offsets[-1] != len(examples.vectors):
            raise ValueError(
                f"the questions hold {offsets[-1]} vector placeholders but {len(examples.vectors)} vectors were given"
            )
        merge_trained_token_rows(self.model)  # once: nothing in the loop switches the adapter off
        starts = range(0, len(prompts), batch_size)
        for start in progress_bar(starts, desc="explaining", disable=not progress):
            chunk = prompts[start : start + batch_size]
            if examples.vectors is not None:
                first, last = offsets[start], offsets[min(start + batch_size, len(prompts))]
                context = self.injector.inject(examples.vectors[first:last], examples.layers[first:last])
            else:
                context = nullcontext()
            with context:
                generated = greedy_generate(self.model, self.tokenizer, chunk, max_new_tokens)
            outputs += [t.strip() for t in self.tokenizer.batch_decode(generated, skip_special_tokens=True)]
        return outputs


def merge_trained_token_rows(model: nn.Module) -> None:
    """Write an adapter's trained embedding rows (``trainable_token_indices``) into the base in place, for inference.

    Unmerged, PEFT copies the whole embedding matrix in every forward pass (113 MB on SmolLM2, twice with a tied head);
    overwriting the rows in place does not. Switching the adapter off still restores the original rows (PEFT unmerges
    in the first forward pass with the adapter off).
    """
    from peft.tuners.trainable_tokens.layer import TrainableTokensLayer

    for layer in model.modules():
        if not isinstance(layer, TrainableTokensLayer) or layer.merged or layer.disable_adapters:
            continue
        weight = layer.get_base_layer().weight
        with torch.no_grad():
            for adapter in layer.active_adapters:
                index = torch.tensor(layer.token_indices[adapter], device=weight.device)
                weight.index_copy_(0, index, layer.trainable_tokens_delta[adapter].to(weight))
        layer.merged_adapters.extend(layer.active_adapters)


def _check_target(metadata: dict, target: LoadedModel, explainer: str, allow_other_target: bool) -> None:
    trained_for, trained_revision = metadata.get("target"), metadata.get("target_revision")
    if allow_other_target or not trained_for:
        return
    if trained_revision and target.revision != "unknown" and trained_revision != target.revision:
        raise ValueError(
            f"explainer {explainer!r} was trained to explain {trained_for!r} (revision {trained_revision}), but the "
            f"target {target.name!r} has revision {target.revision}; pass the right target, or "
            "--allow-other-target (allow_other_target=True) to explain another model anyway"
        )


def _check_sizes(
    explainer: str, target: LoadedModel, model: nn.Module, projection: VectorProjection | None, uses_vectors: bool
) -> None:
    target_hidden = target.model.get_input_embeddings().weight.shape[-1]
    explainer_hidden = model.get_input_embeddings().weight.shape[-1]
    if projection is None and not uses_vectors:
        return  # a text-only task's explainer is never given the target's vectors
    if projection is None and target_hidden != explainer_hidden:
        raise ValueError(
            f"explainer {explainer!r} has hidden size {explainer_hidden} but target {target.name!r} has "
            f"{target_hidden}, and the explainer has no {PROJECTION_FILE} to map one into the other"
        )
    if projection is None:
        return
    target_layers = len(target.adapter.layers(target.model))
    if projection.target_hidden != target_hidden or projection.num_layers != target_layers:
        raise ValueError(
            f"explainer {explainer!r} projects vectors of size {projection.target_hidden} from "
            f"{projection.num_layers} "
            f"layers, but target {target.name!r} has hidden size {target_hidden} and {target_layers} layers"
        )
    if projection.explainer_hidden != explainer_hidden:
        raise ValueError(
            f"explainer {explainer!r} projects into size {projection.explainer_hidden}, but its own hidden size is "
            f"{explainer_hidden}"
        )


def load_explainer(
    explainer: str,
    target: str | LoadedModel | None = None,
    *,
    revision: str | None = None,
    loaded: LoadedModel | None = None,
    trust_remote_code: bool = False,
    allow_other_target: bool = False,
    device_map: str | dict | None = None,
    dtype: torch.dtype | str | None = None,
) -> Explainer:
    """Load ``explainer`` (adapter or full model) and bind it to ``target``, sharing its base when it can.

    Args:
        explainer (`str`): Toy name, folder or Hub id.
        target (`str` or `LoadedModel`, *optional*): The model to explain (default: the one its ``self_explain.json``
            names, else its own base).
        revision (`str`, *optional*): The explainer's Hub revision.
        loaded (`LoadedModel`, *optional*): A model in memory, reused as base or target when it is one.
        trust_remote_code (`bool`): Allow custom model code from the Hub.
        allow_other_target (`bool`): Allow a target of another revision than the explainer was trained for.
        device_map (`str` or `dict`, *optional*): Where to load the models, as ``from_pretrained`` takes it.
        dtype (`torch.dtype` or `str`, *optional*): The dtype of the models it loads (default: the checkpoint's).

    Raises:
        FileNotFoundError: For a local adapter folder without its weights.
        ValueError: For an unknown explainer, damaged or ill-fitting adapter weights, hidden sizes without a projection
            that maps them, or another target revision (without ``allow_other_target``).
    """
    source = resolve_model_id(explainer, revision)
    metadata = read_metadata(source, revision)
    base_name = adapter_base(source, revision)
    trained_on = metadata.get("explainer_base")
    if base_name is not None and trained_on and (is_packaged_model(trained_on) or is_package_made(trained_on)):
        base_name = trained_on  # a pushed adapter names the repo its base went to; the package has that base itself
    target_name = target.name if isinstance(target, LoadedModel) else target
    target_name = target_name or metadata.get("target") or base_name or explainer

    def load(name: str) -> LoadedModel:
        if loaded is not None and same_model(loaded.name, name):
            return loaded
        return load_model(name, trust_remote_code=trust_remote_code, device_map=device_map, dtype=dtype)

    if base_name is not None:
        _check_adapter_weights(explainer, source)
        base = load(base_name)
        tokenizer = base.tokenizer
        if explainer_file(source, "tokenizer_config.json", revision) is not None:
            tokenizer = AutoTokenizer.from_pretrained(source, revision=revision)
        if len(tokenizer) > base.model.get_input_embeddings().weight.shape[0]:
            # Placeholder tokens added when it was trained; the adapter restores their rows, so the new rows need no
            # mean initialisation (which would take one more copy of the embedding matrix, 113 MB on SmolLM2).
            base.model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        try:
            with library_deprecations_silenced():
                model = PeftModel.from_pretrained(base.model, source, revision=revision)
        except SafetensorError as error:
            raise ValueError(
                f"adapter {explainer!r}: its weights file cannot be read ({error}); the file is damaged: "
                "train the explainer again, or download it again"
            ) from error
        except (RuntimeError, ValueError, KeyError) as error:
            raise ValueError(f"adapter {explainer!r} does not fit its base model {base_name!r}: {error}") from error
        model.eval()
        shares_base = isinstance(target, str | type(None)) and same_model(target_name, base_name)
        if shares_base:
            bound_target = LoadedModel(model.get_base_model(), base.tokenizer, target_name, base.revision)
        else:
            bound_target = target if isinstance(target, LoadedModel) else load(target_name)
    else:
        full = load(explainer)
        model, tokenizer, shares_base = full.model, full.tokenizer, False
        if isinstance(target, LoadedModel):
            bound_target = target
        elif same_model(target_name, explainer):
            bound_target = full  # an untrained model explaining itself
        else:
            bound_target = load(target_name)
    projection_path = explainer_file(source, PROJECTION_FILE, revision)
    projection = VectorProjection.load(projection_path.parent) if projection_path is not None else None
    task = metadata.get("task")
    uses_vectors = task is None or task not in TASKS or TASKS[task].uses_vectors
    _check_sizes(explainer, bound_target, model, projection, uses_vectors)
    _check_target(metadata, bound_target, explainer, allow_other_target)
    logger.info(
        "explainer %s (%s) bound to target %s%s",
        explainer,
        "adapter" if base_name else "full model",
        short_model_name(bound_target.name),
        ", sharing its base" if shares_base else "",
    )
    return Explainer(model, tokenizer, bound_target, metadata, projection, shares_base, explainer)
