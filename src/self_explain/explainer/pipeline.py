"""The ``"self-explanation"`` pipeline: ask an explainer about its target's computations.

``pipeline("self-explanation", target=T, explainer=E)`` and ``pipeline("self-explanation", model=E, target=T)``
both work, but ``pipeline()`` reads a ``model`` string's config itself (an adapter's base's), so short names such as
``toy-target-patching-explainer`` go through ``explainer=``. [`ExplainerAutoModel`] loads nothing: the pipeline loads
the explainer and its target once, where ``device`` / ``device_map`` say. The default explainer is the shipped
``toy-target-patching-explainer`` (transformers' "picked a default" notice is not shown).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import Pipeline

from ..core.models import LoadedModel, toy_model_path, weights_fingerprint
from ..tasks import ExplainerExamples, get_task
from .modeling import Explainer, load_explainer

logger = logging.getLogger(__name__)

TASK = "self-explanation"
DEFAULT_BASE = "toy-target"
DEFAULT_EXPLAINER = "toy-target-patching-explainer"
# transformers' notice when it picks the task default, which the pipeline does not use (see the module docstring).
DEFAULT_NOTICE = f"No model was supplied, defaulted to {toy_model_path(DEFAULT_BASE)} "
# ``device_map`` values that spread a model over devices rather than name one.
SPREADING_DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential")


@dataclass
class ExplainerReference:
    """What ``pipeline()`` gets for a ``model`` string: the explainer's name and loading options, nothing loaded."""

    name: str
    device_map: str | dict | None = None
    dtype: torch.dtype | str | None = None
    trust_remote_code: bool = False

    @property
    def hf_device_map(self) -> dict | None:
        """A ``device_map`` that spreads the model (transformers then leaves ``device`` unset), else None."""
        if isinstance(self.device_map, dict):
            return self.device_map
        return {"": self.device_map} if self.device_map in SPREADING_DEVICE_MAPS else None

    @property
    def device(self) -> torch.device | None:
        """The one device a ``device_map`` names (transformers passes it on as ``device``), else None."""
        if isinstance(self.device_map, (str, int, torch.device)) and self.device_map not in SPREADING_DEVICE_MAPS:
            return torch.device(self.device_map)
        return None


class ExplainerAutoModel:
    """What ``pipeline()`` loads a string ``model`` with: nothing (the pipeline loads explainer and target itself)."""

    @classmethod
    def from_pretrained(cls, name: str, **kwargs) -> ExplainerReference:
        """An [`ExplainerReference`] to the explainer ``pipeline()`` was asked for, to load in the pipeline."""
        return ExplainerReference(
            str(name), kwargs.get("device_map"), kwargs.get("dtype"), bool(kwargs.get("trust_remote_code"))
        )


def _loaded(model, tokenizer) -> LoadedModel:
    name = getattr(model, "name_or_path", "") or ""
    revision = weights_fingerprint(Path(name)) if Path(name).is_dir() else getattr(model.config, "_commit_hash", None)
    return LoadedModel(model, tokenizer, name, revision or "unknown")


def _is_task_default(name: str) -> bool:
    """Whether ``name`` is the folder ``pipeline()`` falls back to when no ``model`` is given."""
    return Path(name).exists() and Path(name).resolve() == toy_model_path(DEFAULT_BASE).resolve()


def checked_device(device: int | str | torch.device) -> torch.device:
    """A pipeline ``device`` as a ``torch.device`` (``-1`` the CPU, ``i`` the i-th accelerator)."""
    if isinstance(device, bool):
        raise ValueError(f"self-explanation pipeline: device={device!r} is not a device; give e.g. 'cpu' or 'cuda:0'")
    if isinstance(device, int):
        device = "cpu" if device < 0 else f"cuda:{device}"
    try:
        found = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"self-explanation pipeline: device={device!r} is not a device torch knows ({error})"
        ) from None
    backend = getattr(torch, found.type, None) if found.type not in ("cpu", "mps") else None
    if found.type in ("cpu", "mps"):
        available = found.type == "cpu" or torch.backends.mps.is_available()
    else:
        available = callable(getattr(backend, "is_available", None)) and backend.is_available()
    if not available:
        raise ValueError(
            f"self-explanation pipeline: device {str(device)!r} was asked for (device or device_map), "
            f"but this machine has no {found.type.upper()} device torch can use (torch "
            f"{torch.__version__}); give device='cpu'"
        )
    count = getattr(backend, "device_count", None) if backend is not None else None
    if found.index is not None and count is not None and found.index >= count():
        raise ValueError(
            f"self-explanation pipeline: device {str(device)!r} was asked for (device or device_map), "
            f"but this machine has {count()} {found.type} device(s)"
        )
    return found


class ExplainerPipeline(Pipeline):
    """Inputs: dicts with a ``task`` key (one, or a list). Outputs: the explanation and its parsed fields.

    ``verify=True`` re-runs the described intervention on the target and adds the ground truth and whether the
    explanation held.

    Args:
        model ([`ExplainerReference`], `PreTrainedModel` or `None`): What ``pipeline()`` made of ``model=``, or a
            model already loaded (the explainer, or its base).
        tokenizer (`PreTrainedTokenizerBase`, *optional*): The tokenizer of a model already loaded.
        target (`str` or `LoadedModel`, *optional*): The model to explain (default: the explainer's own target).
        explainer (`str` or `Explainer`, *optional*): Name, folder, Hub id or a bound explainer (default: ``model``,
            else the shipped ``toy-target-patching-explainer``).
        allow_other_target (`bool`): Allow another target than the explainer's.
        trust_remote_code (`bool`): Allow custom model code from the Hub.
        batch_size (`int`): Explanations generated per batch.
        device (`int`, `str` or `torch.device`, *optional*): Where explainer and target run (``-1``, ``"cuda:0"``).
        device_map (`str` or `dict`, *optional*): How to place them (``"auto"``); ``pipeline(device_map=...)`` arrives
            through ``model``.
        dtype (`torch.dtype` or `str`, *optional*): The dtype to load them in (default: the checkpoints').
        **kwargs: Passed to ``Pipeline``.

    Raises:
        ValueError: When no explainer can be told, the device is not on this machine, or ``batch_size`` is not a
            positive integer.
    """

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False  # the explainer's own tokenizer is loaded with it; nothing for the task default's
    _pipeline_calls_generate = False  # generation goes through Explainer.generate, with vector injection

    def __init__(
        self,
        model=None,
        tokenizer=None,
        target=None,
        explainer=None,
        allow_other_target: bool = False,
        trust_remote_code: bool = False,
        batch_size: int = 16,
        device=None,
        device_map=None,
        dtype=None,
        **kwargs,
    ):
        if explainer is not None and not isinstance(explainer, Explainer):
            if not isinstance(explainer, (str, os.PathLike)):
                raise ValueError(
                    f"self-explanation pipeline: explainer must be an adapter or model id, folder or toy "
                    f"name (a string), or an Explainer; got {type(explainer).__name__} {_shown(explainer)}"
                )
            if not str(explainer).strip():
                raise ValueError(
                    "self-explanation pipeline: explainer is empty; give an adapter or model id, folder or toy name"
                )
        from ..utils.checks import check_positive

        check_positive("batch_size", batch_size)
        reference = model if isinstance(model, ExplainerReference) else None
        if reference is not None:
            device_map = device_map if device_map is not None else reference.device_map
            dtype = reference.dtype if dtype in (None, "auto") else dtype
            trust_remote_code = trust_remote_code or reference.trust_remote_code
        if device is not None:
            device = checked_device(device)
            device_map = str(device)  # as in transformers' pipeline(): device overrides device_map
        elif isinstance(device_map, (str, int, torch.device)) and device_map not in SPREADING_DEVICE_MAPS:
            device_map = str(checked_device(device_map))
        if isinstance(explainer, Explainer):
            bound = explainer
            if device is not None:
                bound.model.to(device)
                if not bound.shares_base:
                    bound.target.model.to(device)
        else:
            given, loaded = explainer, None
            if reference is not None and given is None and not _is_task_default(reference.name):
                given = reference.name
            elif reference is None and model is not None:  # a model already in memory: the explainer, or its base
                loaded = _loaded(model, tokenizer)
                given = given or getattr(model, "name_or_path", None)
            given = given or DEFAULT_EXPLAINER
            bound = load_explainer(
                given,
                target,
                loaded=loaded,
                allow_other_target=allow_other_target,
                trust_remote_code=trust_remote_code,
                device_map=device_map,
                dtype=None if dtype == "auto" else dtype,
            )
        self.explainer = bound
        self.explain_batch_size = batch_size
        spread = getattr(bound.model, "hf_device_map", None) is not None
        super().__init__(
            model=bound.model, tokenizer=bound.tokenizer, device=None if spread else bound.model.device, **kwargs
        )

    def _sanitize_parameters(self, verify=None, max_new_tokens=None, **kwargs):
        forward = {"max_new_tokens": max_new_tokens} if max_new_tokens is not None else {}
        postprocess = {"verify": verify} if verify is not None else {}
        return {}, forward, postprocess

    def __call__(self, inputs, verify: bool = False, max_new_tokens: int | None = None, batch_size: int | None = None):
        """Explain one input dict or a list of them (batched).

        Args:
            inputs (`dict` or `list[dict]`): Requests, each with a ``task`` key and that task's fields.
            verify (`bool`): Re-run the described intervention; add the ground truth and whether the explanation held.
            max_new_tokens (`int`, *optional*): Longest explanation (default: the task's).
            batch_size (`int`, *optional*): Explanations per batch (default: the pipeline's).

        Returns:
            `dict` or `list[dict]`: Per input, the ``explanation``, its parsed fields, ``valid`` (and verification's).

        Raises:
            ValueError: For an input that is not a dict with a string ``task``, a boolean field, an empty list, a
                task the explainer was not trained for, a non-positive ``max_new_tokens`` or ``batch_size``, or a
                non-boolean ``verify``.
        """
        from ..utils.checks import check_positive

        check_positive("max_new_tokens", max_new_tokens, optional=True)
        check_positive("batch_size", batch_size, optional=True)
        if not isinstance(verify, bool):  # "no" would be true
            raise ValueError(f"verify must be True or False, got {_shown(verify)}")
        single = isinstance(inputs, dict)
        if isinstance(inputs, (str, bytes)) or not (single or hasattr(inputs, "__iter__")):
            shown = repr(inputs) if len(repr(inputs)) <= 80 else repr(inputs)[:77] + "..."
            raise ValueError(
                f"self-explanation input must be a dict with a 'task' key (or a list of them); got "
                f"{type(inputs).__name__} {shown}, e.g. give {{'task': 'patching', 'text': ..., ...}}"
            )
        items = [inputs] if single else list(inputs)
        if not items:
            raise ValueError(
                "self-explanation input is an empty list: give a dict with a 'task' key, or a list of them"
            )
        requests = [self.preprocess(item) for item in items]
        by_task: dict[str, list[int]] = {}
        for index, item in enumerate(items):
            by_task.setdefault(item["task"], []).append(index)
        explanations = [""] * len(items)
        for task_name, indices in by_task.items():
            batch = _concatenate([requests[i] for i in indices])
            longest = max_new_tokens or get_task(task_name).max_new_tokens
            texts = self.explainer.generate(batch, batch_size or self.explain_batch_size, longest)
            for index, text in zip(indices, texts):
                explanations[index] = text
        outputs = [
            self.postprocess({"item": item, "explanation": text}, verify=verify)
            for item, text in zip(items, explanations)
        ]
        return outputs[0] if single else outputs

    def _task(self, item) -> object:
        from ..utils.checks import check_positive

        if not isinstance(item, dict) or "task" not in item:
            raise ValueError(f"self-explanation input must be a dict with a 'task' key; got {_shown(item)}")
        if not isinstance(item["task"], str):
            raise ValueError(
                f"self-explanation input 'task' must be a task name (a string, e.g. 'patching'); got "
                f"{_shown(item['task'])}"
            )
        for key in _INTEGER_FIELDS:  # the tasks read these with int(): a text, a list or None is named here
            value = item.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"self-explanation input {key!r} must be an integer; got {_shown(value)}")
        for key in _COUNT_FIELDS:
            if key in item:
                check_positive(f"self-explanation input {key!r}", item[key])
        for key, value in item.items():  # no field is a flag: True would pass as the number 1
            values = value if isinstance(value, (list, tuple)) else [value]
            if any(isinstance(v, bool) for v in values):
                raise ValueError(
                    f"self-explanation input {key!r} is {value!r}: a boolean, where a number or text is "
                    f"expected (e.g. 'token': 3)"
                )
        task = get_task(item["task"])
        if not task.implements("request"):
            raise ValueError(f"task {item['task']!r} has no explainer side yet")
        trained_for = self.explainer.task
        if trained_for is not None and trained_for != item["task"]:
            raise ValueError(
                f"explainer {self.explainer.name!r} explains the {trained_for!r} task, not {item['task']!r}"
            )
        return task

    def preprocess(self, item) -> ExplainerExamples:
        """The explainer's question, vectors and layers for one request (vectors read from the target).

        Args:
            item (`dict`): A request with a ``task`` key.

        Raises:
            ValueError: For a request without a known task, or a task the explainer was not trained for.
        """
        task = self._task(item)
        with self.explainer.target_runs() as target:
            return task.request(item, target)

    def _forward(self, request: ExplainerExamples, max_new_tokens: int = 48) -> list[str]:
        return self.explainer.generate(request, 1, max_new_tokens)

    def postprocess(self, output, verify: bool = False) -> dict:
        """The ``explanation``, its parsed fields and ``valid``; with ``verify``, checked against the target.

        Args:
            output (`dict`): The request (``item``) and its generated ``explanation``.
            verify (`bool`): Re-run the described intervention on the target.
        """
        item, explanation = output["item"], output["explanation"]
        task = self._task(item)
        parsed = task.parse(explanation)
        result = {
            "explanation": explanation,
            **{k: v for k, v in parsed.items() if k != "valid"},
            "valid": parsed["valid"],
        }
        if verify:
            with self.explainer.target_runs() as target:
                result.update(task.verify(item, target, parsed))
        return result


# Request fields the tasks read as integers: a template index (taken modulo the templates) and a seed; and counts.
_INTEGER_FIELDS = ("template", "seed")
_COUNT_FIELDS = ("max_new_tokens", "num_choices")


def _shown(value) -> str:
    """A value for a message: its repr, cut to 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _concatenate(requests: list[ExplainerExamples]) -> ExplainerExamples:
    import torch

    vectors = [r.vectors for r in requests]
    has_vectors = all(v is not None for v in vectors)
    return ExplainerExamples(
        questions=[q for r in requests for q in r.questions],
        answers=None,
        vectors=torch.cat(vectors) if has_vectors else None,
        layers=torch.cat([r.layers for r in requests]) if has_vectors else None,
    )


class _TaskDefaultNotice(logging.Filter):
    """Drops transformers' notice that it picked this task's default model, which the pipeline does not use."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(DEFAULT_NOTICE)


def register_pipeline() -> None:
    """Register the ``"self-explanation"`` task with transformers' ``pipeline()`` (once; later calls do nothing)."""
    from transformers.pipelines import PIPELINE_REGISTRY

    if TASK in PIPELINE_REGISTRY.supported_tasks:
        return
    PIPELINE_REGISTRY.register_pipeline(
        TASK,
        pipeline_class=ExplainerPipeline,
        pt_model=ExplainerAutoModel,
        default={"model": (str(toy_model_path(DEFAULT_BASE)), None)},
        type="text",
    )
    notices = logging.getLogger("transformers.pipelines")
    if not any(isinstance(existing, _TaskDefaultNotice) for existing in notices.filters):
        notices.addFilter(_TaskDefaultNotice())


# The task is registered when this module is imported (``self_explain/__init__``'s hook on transformers' pipelines
# imports it).
register_pipeline()
