"""The ``"self-explanation"`` pipeline: ask an explainer about its target's computations.

``pipeline("self-explanation", target=T, explainer=E)`` and ``pipeline("self-explanation", model=E,
target=T)`` both work. transformers' ``pipeline()`` loads a task default when ``model`` is missing: ours
is the shipped toy target's base, and the pipeline reuses it as the base of ``E`` (or of the shipped toy
explainer when ``E`` is not given) when it is one, so nothing is loaded twice.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from transformers import AutoModelForCausalLM, Pipeline

from ..core.models import (
    LoadedModel,
    resolve_model_id,
    toy_model_path,
    weights_fingerprint,
)
from ..tasks import ExplainerExamples, get_task
from .modeling import Explainer, adapter_base, load_explainer

logger = logging.getLogger(__name__)

TASK = "self-explanation"
DEFAULT_BASE = "toy-target"
DEFAULT_EXPLAINER = "toy-target-patching-explainer"


class ExplainerAutoModel:
    """What ``pipeline()`` loads a string ``model`` with: for an adapter, only its base (which the pipeline
    reuses), remembering where the explainer itself is, so its metadata and projection are found."""

    @classmethod
    def from_pretrained(cls, name: str, **kwargs):
        """Load the causal LM behind ``name``: an adapter's base, or the model itself.

        Args:
            name (`str`): An explainer (adapter or full model): Hub id, folder or toy name.
            **kwargs: Passed to ``AutoModelForCausalLM.from_pretrained`` (an adapter's ``revision`` is dropped:
                it is not the base's).

        Returns:
            `PreTrainedModel`: The model, with ``self_explain_source`` set to ``name``.
        """
        kwargs.pop("_from_pipeline", None)
        kwargs.pop("code_revision", None)
        base = adapter_base(name, kwargs.get("revision"))
        if base is not None:
            kwargs.pop("revision", None)  # the adapter's revision, not the base's
        model = AutoModelForCausalLM.from_pretrained(resolve_model_id(base or name), **kwargs)
        model.self_explain_source = name
        return model


def _loaded(model, tokenizer) -> LoadedModel:
    name = getattr(model, "name_or_path", "") or ""
    revision = weights_fingerprint(Path(name)) if Path(name).is_dir() else getattr(model.config, "_commit_hash", None)
    return LoadedModel(model, tokenizer, name, revision or "unknown")


class ExplainerPipeline(Pipeline):
    """Inputs: dicts with a ``task`` key (one, or a list). Outputs: the explanation and its parsed fields.

    ``verify=True`` re-runs the described intervention on the target and adds the ground truth and
    whether the explanation held.

    Args:
        model (`PreTrainedModel`): What ``pipeline()`` loaded (see [`ExplainerAutoModel`]); reused as the
            explainer's base or target when it is one.
        tokenizer (`PreTrainedTokenizerBase`, *optional*): Its tokenizer.
        target (`str` or `LoadedModel`, *optional*): The model to explain (default: the explainer's own target).
        explainer (`str` or `Explainer`, *optional*): The explainer; default: the shipped toy explainer for the
            default base, else the model given.
        allow_other_target (`bool`, *optional*, defaults to `False`): Allow another target than the explainer's.
        trust_remote_code (`bool`, *optional*, defaults to `False`): Allow custom model code from the Hub.
        batch_size (`int`, *optional*, defaults to 16): Explanations generated per batch.
        **kwargs: Passed to ``Pipeline`` (``device`` is ignored: the explainer stays where it was loaded).

    Raises:
        ValueError: When no explainer can be told, or ``batch_size`` is not a positive integer.
    """

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = True
    _pipeline_calls_generate = False  # generation goes through Explainer.generate, with vector injection

    def __init__(self, model, tokenizer=None, target=None, explainer=None, allow_other_target: bool = False,
                 trust_remote_code: bool = False, batch_size: int = 16, **kwargs):
        if isinstance(explainer, Explainer):
            bound = explainer
        else:
            given = explainer
            if given is None:
                source = getattr(model, "self_explain_source", None) or getattr(model, "name_or_path", "") or ""
                default_base = str(toy_model_path(DEFAULT_BASE))
                given = DEFAULT_EXPLAINER if source.rstrip("/") == default_base else source
            if not given:
                raise ValueError("self-explanation pipeline: give explainer=… (an adapter or model id, folder or toy name)")
            if not isinstance(given, (str, os.PathLike)):
                raise ValueError(f"self-explanation pipeline: explainer must be an adapter or model id, folder or toy "
                                 f"name (a string), or an Explainer; got {type(given).__name__} {_shown(given)}")
            bound = load_explainer(
                given, target, loaded=_loaded(model, tokenizer) if model is not None else None,
                allow_other_target=allow_other_target, trust_remote_code=trust_remote_code,
            )
        from ..core.checks import check_positive

        check_positive("batch_size", batch_size)
        self.explainer = bound
        self.explain_batch_size = batch_size
        kwargs.pop("device", None)  # the explainer stays where it was loaded (device_map is honoured there)
        super().__init__(model=bound.model, tokenizer=bound.tokenizer, device=-1, **kwargs)

    def _sanitize_parameters(self, verify=None, max_new_tokens=None, **kwargs):
        forward = {"max_new_tokens": max_new_tokens} if max_new_tokens is not None else {}
        postprocess = {"verify": verify} if verify is not None else {}
        return {}, forward, postprocess

    def __call__(self, inputs, verify: bool = False, max_new_tokens: int | None = None, batch_size: int | None = None):
        """Explain one input dict or a list of them; batched generation over the list.

        Args:
            inputs (`dict` or `list[dict]`): Requests, each with a ``task`` key and that task's fields.
            verify (`bool`, *optional*, defaults to `False`): Re-run the described intervention on the target and add
                the ground truth and whether the explanation held.
            max_new_tokens (`int`, *optional*): Longest explanation (default: the task's).
            batch_size (`int`, *optional*): Explanations generated per batch (default: the pipeline's).

        Returns:
            `dict` or `list[dict]`: For each input, the ``explanation``, its parsed fields and ``valid`` (and with
            ``verify``, the verification's fields).

        Raises:
            ValueError: For an input that is not a dict with a string ``task`` key, a field given as a boolean, an
                empty list, a task the explainer was not trained for, a ``max_new_tokens`` or ``batch_size`` that
                is not a positive integer, or a ``verify`` that is not a boolean.
        """
        from ..core.checks import check_positive

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
            raise ValueError("self-explanation input is an empty list: give a dict with a 'task' key, or a list of them")
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
        outputs = [self.postprocess({"item": item, "explanation": text}, verify=verify)
                   for item, text in zip(items, explanations)]
        return outputs[0] if single else outputs

    def _task(self, item) -> object:
        from ..core.checks import check_positive

        if not isinstance(item, dict) or "task" not in item:
            raise ValueError(f"self-explanation input must be a dict with a 'task' key; got {_shown(item)}")
        if not isinstance(item["task"], str):
            raise ValueError(f"self-explanation input 'task' must be a task name (a string, e.g. 'patching'); got "
                             f"{_shown(item['task'])}")
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
                raise ValueError(f"self-explanation input {key!r} is {value!r}: a boolean, where a number or text is "
                                 f"expected (e.g. 'token': 3)")
        task = get_task(item["task"])
        if task.request is None:
            raise ValueError(f"task {item['task']!r} has no explainer side yet")
        trained_for = self.explainer.task
        if trained_for is not None and trained_for != item["task"]:
            raise ValueError(f"explainer {self.explainer.name!r} explains the {trained_for!r} task, not {item['task']!r}")
        return task

    def preprocess(self, item) -> ExplainerExamples:
        """The explainer's question (and vectors, read from the target) for one request.

        Args:
            item (`dict`): A request with a ``task`` key.

        Returns:
            `ExplainerExamples`: The question(s), vectors and layers.

        Raises:
            ValueError: For a request without a known task, or a task the explainer was not trained for.
        """
        task = self._task(item)
        with self.explainer.target_runs() as target:
            return task.request(item, target)

    def _forward(self, request: ExplainerExamples, max_new_tokens: int = 48) -> list[str]:
        return self.explainer.generate(request, 1, max_new_tokens)

    def postprocess(self, output, verify: bool = False) -> dict:
        """Parse an explanation and, with ``verify``, check it against the target.

        Args:
            output (`dict`): The request (``item``) and its generated ``explanation``.
            verify (`bool`, *optional*, defaults to `False`): Re-run the described intervention on the target.

        Returns:
            `dict`: The ``explanation``, the task's parsed fields and ``valid``, plus the verification's fields.
        """
        item, explanation = output["item"], output["explanation"]
        task = self._task(item)
        parsed = task.parse(explanation)
        result = {"explanation": explanation, **{k: v for k, v in parsed.items() if k != "valid"}, "valid": parsed["valid"]}
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
