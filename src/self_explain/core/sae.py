"""Sparse autoencoders in the SAELens on-disk format, without depending on sae-lens.

A folder holds ``cfg.json`` and ``sae_weights.safetensors`` (``W_enc`` (d_in, d_sae), ``b_enc``, ``W_dec``, ``b_dec``,
JumpReLU's ``threshold``). The cfg.json of SAELens < 6 and 6.x are both read; folders are written flat, which both
load. ``SAEConfig.layer`` follows the engine: layer ℓ is the *input* of decoder layer ℓ, so
``blocks.ℓ.hook_resid_pre`` is layer ℓ and ``blocks.ℓ.hook_resid_post`` is layer ℓ + 1.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..utils.files import give_default_permissions
from .architectures import adapter_for
from .models import LoadedModel, shipped_path

logger = logging.getLogger(__name__)

SAE_CFG_FILENAME = "cfg.json"
SAE_WEIGHTS_FILENAME = "sae_weights.safetensors"
ARCHITECTURES = ("standard", "topk", "jumprelu")
NORMALIZATIONS = ("none", "layer_norm", "constant_norm_rescale", "expected_average_only_in")
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "float64": torch.float64}
_HOOK = re.compile(r"^blocks\.(\d+)\.(.+)$")
_RESIDUAL_OFFSET = {"hook_resid_pre": 0, "hook_resid_post": 1}  # engine layer = block + offset
# Keys of cfg.json that SAEConfig holds itself (with the old names SAELens renamed).
_RENAMED = {
    "hook_point": "hook_name",
    "hook_point_head_index": "hook_head_index",
    "activation_fn_str": "activation_fn",
}


def _dtype_name(value: object) -> str:
    name = str(value or "float32").removeprefix("torch.")
    if name not in _DTYPES:
        raise ValueError(f"SAE dtype {value!r} is not supported; expected one of {', '.join(_DTYPES)}")
    return name


def layer_from_hook_name(hook_name: str) -> int | None:
    """The engine layer an SAELens residual hook reads (``blocks.6.hook_resid_pre`` → 6, ``…resid_post`` → 7)."""
    match = _HOOK.match(hook_name)
    if match is None or match.group(2) not in _RESIDUAL_OFFSET:
        return None
    return int(match.group(1)) + _RESIDUAL_OFFSET[match.group(2)]


@dataclass
class SAEConfig:
    """What ``cfg.json`` says about an SAE; an unsupported architecture or normalisation, a non-positive width or a bad
    ``k`` is a ValueError.

    Args:
        d_in (`int`): Input width (the model's hidden size).
        d_sae (`int`): Number of features.
        architecture (`str`, *optional*, defaults to `"standard"`): ``standard`` (ReLU), ``topk`` or ``jumprelu``.
        k (`int`, *optional*): Active features per input, for topk only.
        hook_name (`str`, *optional*): The SAELens hook it reads, e.g. ``blocks.6.hook_resid_pre``.
        layer (`int`, *optional*): Residual stream layer (input of decoder layer ``layer``); from hook_name if unset.
        model_name (`str`, *optional*): The model it was trained on.
        apply_b_dec_to_input (`bool`, *optional*, defaults to `True`): Subtract the decoder bias before encoding.
        normalize_activations (`str`, *optional*, defaults to `"none"`): The input normalisation.
        rescale_acts_by_decoder_norm (`bool`, *optional*, defaults to `False`): Scale features by decoder row norms.
        dtype (`str`, *optional*, defaults to `"float32"`): The weights' dtype.
        extra (`dict`, *optional*): Every other ``cfg.json`` key, written back on save.
    """

    d_in: int
    d_sae: int
    architecture: str = "standard"
    k: int | None = None  # topk only
    hook_name: str | None = None
    layer: int | None = None  # residual stream layer (input of decoder layer ``layer``); from hook_name if unset
    model_name: str | None = None
    apply_b_dec_to_input: bool = True
    normalize_activations: str = "none"
    rescale_acts_by_decoder_norm: bool = False
    dtype: str = "float32"
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"SAE architecture {self.architecture!r} is not supported; expected {', '.join(ARCHITECTURES)}"
            )
        if self.d_in < 1 or self.d_sae < 1:
            raise ValueError(f"SAE d_in and d_sae must be positive, got d_in={self.d_in}, d_sae={self.d_sae}")
        if self.architecture == "topk" and (self.k is None or not 1 <= self.k <= self.d_sae):
            raise ValueError(f"a topk SAE needs k in [1, d_sae={self.d_sae}], got k={self.k}")
        if self.normalize_activations not in NORMALIZATIONS:
            raise ValueError(
                f"normalize_activations {self.normalize_activations!r} is not supported; "
                f"expected {', '.join(NORMALIZATIONS)}"
            )
        self.dtype = _dtype_name(self.dtype)
        if self.layer is None and self.hook_name:
            self.layer = layer_from_hook_name(self.hook_name)

    @classmethod
    def from_dict(cls, raw: dict, source: str = SAE_CFG_FILENAME) -> SAEConfig:
        """Read a SAELens cfg.json (any generation, or ours with a ``layer`` key).

        Args:
            raw (`dict`): The parsed ``cfg.json``.
            source (`str`, *optional*, defaults to `"cfg.json"`): Where it came from, for the error messages.

        Raises:
            ValueError: If a width is missing or the activation function is not supported.
        """
        cfg = {_RENAMED.get(key, key): value for key, value in raw.items() if key != "metadata"}
        for key, value in (raw.get("metadata") or {}).items():  # SAELens 6 keeps model and hook here
            cfg.setdefault(_RENAMED.get(key, key), value)
        for key in ("d_in", "d_sae"):
            if not isinstance(cfg.get(key), int):
                raise ValueError(f"{source}: expected an integer {key!r}, got {cfg.get(key)!r}")
        activation = cfg.get("activation_fn") or "relu"
        architecture = cfg.get("architecture") or "standard"
        if architecture == "standard" and activation == "topk":  # SAELens < 6 wrote TopK SAEs this way
            architecture = "topk"
        elif architecture == "standard" and activation != "relu":
            raise ValueError(f"{source}: activation_fn {activation!r} is not supported; expected relu or topk")
        k = cfg.get("k")
        if k is None:
            k = (cfg.get("activation_fn_kwargs") or {}).get("k")
        normalize = cfg.get("normalize_activations")
        if isinstance(normalize, bool) or normalize is None:
            normalize = "expected_average_only_in" if normalize else "none"
        known = {
            "d_in",
            "d_sae",
            "architecture",
            "k",
            "hook_name",
            "layer",
            "model_name",
            "apply_b_dec_to_input",
            "normalize_activations",
            "rescale_acts_by_decoder_norm",
            "dtype",
            "activation_fn",
            "activation_fn_kwargs",
        }
        try:
            return cls(
                d_in=cfg["d_in"],
                d_sae=cfg["d_sae"],
                architecture=architecture,
                k=None if k is None else int(k),
                hook_name=cfg.get("hook_name"),
                layer=cfg.get("layer"),
                model_name=cfg.get("model_name"),
                apply_b_dec_to_input=bool(cfg.get("apply_b_dec_to_input", True)),
                normalize_activations=normalize,
                rescale_acts_by_decoder_norm=bool(cfg.get("rescale_acts_by_decoder_norm", False)),
                dtype=cfg.get("dtype") or "float32",
                extra={key: value for key, value in cfg.items() if key not in known},
            )
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from error

    def to_dict(self) -> dict:
        """A flat cfg.json for both SAELens generations: no ``sae_lens_version`` (6.x would expect ``metadata``)."""
        core = dict(
            architecture=self.architecture,
            d_in=self.d_in,
            d_sae=self.d_sae,
            dtype=self.dtype,
            model_name=self.model_name,
            hook_name=self.hook_name,
            layer=self.layer,
            apply_b_dec_to_input=self.apply_b_dec_to_input,
            normalize_activations=self.normalize_activations,
            activation_fn="topk" if self.architecture == "topk" else "relu",
        )
        if self.architecture == "topk":
            core.update(
                k=self.k,
                activation_fn_kwargs={"k": self.k},
                rescale_acts_by_decoder_norm=self.rescale_acts_by_decoder_norm,
            )
        return {**core, **{k: v for k, v in self.extra.items() if k not in core and k != "sae_lens_version"}}


class SparseAutoencoder(nn.Module):
    """An inference SAE (standard/ReLU, TopK or JumpReLU) with SAELens parameter names and semantics."""

    def __init__(self, config: SAEConfig, source: str | None = None):
        super().__init__()
        self.config = config
        self.source = source
        dtype = _DTYPES[config.dtype]
        self.W_enc = nn.Parameter(torch.zeros(config.d_in, config.d_sae, dtype=dtype))
        self.b_enc = nn.Parameter(torch.zeros(config.d_sae, dtype=dtype))
        self.W_dec = nn.Parameter(torch.zeros(config.d_sae, config.d_in, dtype=dtype))
        self.b_dec = nn.Parameter(torch.zeros(config.d_in, dtype=dtype))
        if config.architecture == "jumprelu":
            self.threshold = nn.Parameter(torch.zeros(config.d_sae, dtype=dtype))
        if config.normalize_activations == "expected_average_only_in":
            logger.warning(
                "SAE %s: normalize_activations='expected_average_only_in' without a folded scaling factor; "
                "inputs are encoded unscaled (as SAELens does when it knows no factor)",
                self.name,
            )

    @property
    def name(self) -> str:
        return self.source or f"{self.config.model_name or 'sae'}:{self.config.hook_name or self.config.layer}"

    @property
    def d_in(self) -> int:
        return self.config.d_in

    @property
    def d_sae(self) -> int:
        return self.config.d_sae

    @property
    def layer(self) -> int | None:
        return self.config.layer

    @property
    def decoder_directions(self) -> torch.Tensor:
        """Each feature's decoder row scaled to unit norm, (d_sae, d_in), detached: the vector v of feature f."""
        weights = self.W_dec.detach()
        return weights / weights.norm(dim=-1, keepdim=True).clamp_min(1e-8)

    def _normalize(self, x: torch.Tensor) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
        mode = self.config.normalize_activations
        if mode == "layer_norm":
            mean = x.mean(dim=-1, keepdim=True)
            std = (x - mean).std(dim=-1, keepdim=True)
            return (x - mean) / (std + 1e-5), lambda y: y * std + mean
        if mode == "constant_norm_rescale":
            scale = self.d_in**0.5 / x.norm(dim=-1, keepdim=True)
            return x * scale, lambda y: y / scale
        return x, lambda y: y

    def _check_width(self, x: torch.Tensor) -> None:
        if x.shape[-1] != self.d_in:
            raise ValueError(f"SAE {self.name} expects inputs of width d_in={self.d_in}, got shape {tuple(x.shape)}")

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder pre-activations (..., d_sae), before the sparsifying nonlinearity.

        Args:
            x (`torch.Tensor`): Normalised inputs, (..., d_in).
        """
        x = x.to(self.W_enc.dtype)
        if self.config.apply_b_dec_to_input:
            x = x - self.b_dec
        hidden = x @ self.W_enc + self.b_enc
        if self.config.rescale_acts_by_decoder_norm:
            hidden = hidden * self.W_dec.norm(dim=-1)
        return hidden

    def activate(self, hidden: torch.Tensor) -> torch.Tensor:
        """Feature activations (..., d_sae): the architecture's nonlinearity on pre-activations.

        Args:
            hidden (`torch.Tensor`): Pre-activations, (..., d_sae).
        """
        if self.config.architecture == "topk":
            values, indices = hidden.topk(self.config.k, dim=-1, sorted=False)  # type: ignore[arg-type]
            return torch.zeros_like(hidden).scatter_(-1, indices, values.relu())
        if self.config.architecture == "jumprelu":
            return hidden.relu() * (hidden > self.threshold.relu()).to(hidden.dtype)
        return hidden.relu()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Feature activations (..., d_sae) of residual-stream vectors.

        Args:
            x (`torch.Tensor`): Residual-stream vectors, (..., d_in) (else ValueError).
        """
        self._check_width(x)
        return self.activate(self.pre_activations(self._normalize(x.to(self.W_enc.dtype))[0]))

    def decode(self, features: torch.Tensor) -> torch.Tensor:
        """Reconstruction (..., d_in) from feature activations, in the SAE's (normalised) input space.

        Args:
            features (`torch.Tensor`): Feature activations, (..., d_sae).
        """
        features = features.to(self.W_dec.dtype)
        if self.config.rescale_acts_by_decoder_norm:
            features = features / self.W_dec.norm(dim=-1)
        return features @ self.W_dec + self.b_dec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction (..., d_in) of x in x's own space (input normalisation undone).

        Args:
            x (`torch.Tensor`): Residual-stream vectors, (..., d_in).
        """
        self._check_width(x)
        normalized, undo = self._normalize(x.to(self.W_enc.dtype))
        return undo(self.decode(self.activate(self.pre_activations(normalized))))

    # ------------------------------------------------------------------ loading and saving

    @classmethod
    def from_state(cls, cfg: dict, state: dict[str, torch.Tensor], source: str | None = None) -> SparseAutoencoder:
        """An SAE in the config's dtype from a cfg.json dict and its tensors, checked against each other.

        Args:
            cfg (`dict`): The parsed ``cfg.json``.
            state (`dict[str, torch.Tensor]`): The tensors of ``sae_weights.safetensors``.
            source (`str`, *optional*): Where they came from, for the SAE's name and the error messages.

        Raises:
            ValueError: If a tensor is missing or its shape does not match the config.
        """
        where = source or "SAE"
        config = SAEConfig.from_dict(cfg, source=f"{where} {SAE_CFG_FILENAME}")
        state = dict(state)
        if "log_threshold" in state:  # older JumpReLU checkpoints
            state["threshold"] = state.pop("log_threshold").exp()
        if config.architecture == "jumprelu" and "threshold" not in state and "jump_relu_threshold" in config.extra:
            state["threshold"] = torch.full((config.d_sae,), float(config.extra["jump_relu_threshold"]))
        for name in ("scaling_factor", "finetuning_scaling_factor"):
            if name in state:
                if not torch.allclose(state[name].float(), torch.ones_like(state[name].float())):
                    raise ValueError(f"{where}: tensor {name!r} is not all ones; fine-tuning scaling is not supported")
                del state[name]
        sae = cls(config, source=source)
        expected = {name: tuple(parameter.shape) for name, parameter in sae.named_parameters()}
        for name, shape in expected.items():
            if name not in state:
                raise ValueError(
                    f"{where}: {SAE_WEIGHTS_FILENAME} has no tensor {name!r} (expected shape {shape} for a "
                    f"{config.architecture} SAE with d_in={config.d_in}, d_sae={config.d_sae}); it has {sorted(state)}"
                )
            if tuple(state[name].shape) != shape:
                raise ValueError(
                    f"{where}: tensor {name!r} has shape {tuple(state[name].shape)}, expected {shape} from "
                    f"d_in={config.d_in}, d_sae={config.d_sae} in {SAE_CFG_FILENAME}"
                )
        unused = sorted(set(state) - set(expected))
        if unused:
            logger.warning("%s: ignoring tensors %s that a %s SAE does not use", where, unused, config.architecture)
        dtype = _DTYPES[config.dtype]
        sae.load_state_dict({name: state[name].to(dtype) for name in expected})
        return sae

    @classmethod
    def load_folder(cls, folder: str | Path, source: str | None = None) -> SparseAutoencoder:
        """An SAE from a local folder in the SAELens format.

        Args:
            folder (`str` or `Path`): Holds ``cfg.json`` and ``sae_weights.safetensors`` (else FileNotFoundError).
            source (`str`, *optional*): The SAE's name (default: the folder).

        Raises:
            ValueError: If ``cfg.json`` is not valid JSON or does not match the tensors.
        """
        folder = Path(folder)
        missing = [name for name in (SAE_CFG_FILENAME, SAE_WEIGHTS_FILENAME) if not (folder / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{folder} is not an SAE folder: {', '.join(missing)} missing "
                f"(expected {SAE_CFG_FILENAME} and {SAE_WEIGHTS_FILENAME}, the SAELens format)"
            )
        try:
            cfg = json.loads((folder / SAE_CFG_FILENAME).read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{folder / SAE_CFG_FILENAME} is not valid JSON: {error}") from error
        return cls.from_state(cfg, load_file(folder / SAE_WEIGHTS_FILENAME), source=source or str(folder))

    @classmethod
    def from_pretrained(
        cls, path_or_hub_id: str | Path, revision: str | None = None, subfolder: str | None = None
    ) -> SparseAutoencoder:
        """Load from a local SAE folder, or from a Hub repo (``subfolder`` inside it) via ``snapshot_download``.

        Args:
            path_or_hub_id (`str` or `Path`): A folder, a shipped toy SAE (``toy-target-saes/layer_1``) or a Hub
                repo id (else FileNotFoundError; a failed download is an OSError).
            revision (`str`, *optional*): The Hub revision.
            subfolder (`str`, *optional*): The SAE's folder inside the folder or repo.
        """
        local = Path(path_or_hub_id)
        set_name, _, layer_folder = str(path_or_hub_id).partition("/")  # a shipped SAE: "toy-target-saes/layer_1"
        shipped_set = shipped_path(set_name) if set_name.endswith("-saes") else None
        shipped = shipped_set / layer_folder if shipped_set is not None else None
        if not local.is_dir() and shipped is not None and (shipped / SAE_CFG_FILENAME).is_file():
            return cls.load_folder(shipped, source=str(path_or_hub_id))
        if local.is_dir():
            return cls.load_folder(local / subfolder if subfolder else local)
        repo_id = str(path_or_hub_id)
        if local.exists() or repo_id.count("/") != 1 or repo_id.startswith(("/", ".")):
            raise FileNotFoundError(
                f"no SAE at {repo_id!r}: expected a folder with {SAE_CFG_FILENAME} and {SAE_WEIGHTS_FILENAME} "
                "(SAELens format) or a Hub repo id 'owner/name'"
            )
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError

        prefix = f"{subfolder.strip('/')}/" if subfolder else ""
        try:
            root = snapshot_download(
                repo_id, revision=revision, allow_patterns=[prefix + SAE_CFG_FILENAME, prefix + SAE_WEIGHTS_FILENAME]
            )
        except (OSError, ValueError, HfHubHTTPError) as error:
            raise OSError(
                f"cannot download SAE {repo_id!r} (revision {revision or 'main'}, subfolder {subfolder!r}) "
                f"from the Hub: {error}"
            ) from error
        where = f"{repo_id}/{prefix}" if prefix else repo_id
        return cls.load_folder(Path(root) / prefix, source=where.rstrip("/"))

    def save_pretrained(
        self, folder: str | Path, overwrite: bool = False, extra_files: dict[str, str] | None = None
    ) -> Path:
        """Write cfg.json, sae_weights.safetensors and ``extra_files`` into ``folder`` at once; returns ``folder``.

        A staging folder is renamed into place, so a reader sees the old folder or the new one, never half of one.

        Args:
            folder (`str` or `Path`): The SAE folder to write.
            overwrite (`bool`, *optional*, defaults to `False`): Replace an existing non-empty folder (else
                FileExistsError).
            extra_files (`dict[str, str]`, *optional*): More files to write beside the weights (name → text).
        """
        folder = Path(folder)
        if folder.exists() and any(folder.iterdir()) and not overwrite:
            raise FileExistsError(
                f"SAE folder {folder} already exists and is not empty; choose another --output_dir, or "
                "pass --overwrite (overwrite=True) to replace it"
            )
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            save_file(
                {name: p.detach().contiguous().cpu() for name, p in self.named_parameters()},
                staging / SAE_WEIGHTS_FILENAME,
            )
            (staging / SAE_CFG_FILENAME).write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
            for name, text in (extra_files or {}).items():
                (staging / name).write_text(text)
            give_default_permissions(staging)
            if folder.exists() and any(folder.iterdir()):
                previous = Path(tempfile.mkdtemp(prefix=f".{folder.name}-old-", dir=folder.parent))
                os.replace(folder, previous)
                try:
                    os.replace(staging, folder)
                except OSError:
                    os.replace(previous, folder)  # put the old SAE back
                    raise
                shutil.rmtree(previous)
            else:
                os.replace(staging, folder)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
        return folder


def load_sae_release(release: str, sae_id: str, device: str = "cpu") -> SparseAutoencoder:
    """A published SAE by its SAELens release and id, e.g. ``"gpt2-small-res-jb"``, ``"blocks.8.hook_resid_pre"``.

    Returned on the CPU. Release names are resolved (and non-SAELens formats converted) by the optional ``sae-lens``
    package (else ImportError).

    Args:
        release (`str`): The SAELens release name.
        sae_id (`str`): The SAE's id within the release.
        device (`str`, *optional*, defaults to `"cpu"`): Where sae-lens loads it.
    """
    try:
        from sae_lens import SAE
    except ImportError as error:
        raise ImportError(
            "loading an SAE release by name needs the optional sae-lens package: pip install 'self-explain[sae]' "
            "(a folder or Hub repo in the SAELens format loads without it: SparseAutoencoder.from_pretrained)"
        ) from error
    loaded = SAE.from_pretrained(release, sae_id, device=device)
    if isinstance(loaded, tuple):  # sae-lens < 6 returned (sae, cfg_dict, sparsity)
        loaded = loaded[0]
    state = {name: tensor.detach().cpu() for name, tensor in loaded.state_dict().items()}
    return SparseAutoencoder.from_state(loaded.cfg.to_dict(), state, source=f"{release}/{sae_id}")


# ---------------------------------------------------------------------- SAEs and models


def _hidden_size(model: nn.Module) -> int:
    config = model.config
    return getattr(config, "hidden_size", None) or config.n_embd


def check_sae_fits(sae: SparseAutoencoder, model: LoadedModel | nn.Module, layer: int) -> None:
    """Raise a ValueError unless ``sae`` can read the residual stream of ``model`` at ``layer``."""
    module = model.model if isinstance(model, LoadedModel) else model
    model_name = model.name if isinstance(model, LoadedModel) else getattr(module, "name_or_path", "the model")
    hidden = _hidden_size(module)
    if sae.d_in != hidden:
        raise ValueError(
            f"SAE width does not match the model: SAE {sae.name!r} has d_in={sae.d_in}, but model {model_name!r} "
            f"has hidden size {hidden}"
        )
    num_layers = len(adapter_for(module).layers(module))
    if not 0 <= layer < num_layers:
        raise ValueError(f"layer {layer} is out of range for model {model_name!r} with {num_layers} layers")
    hook = sae.config.hook_name
    if sae.layer is None and hook and _HOOK.match(hook):
        raise ValueError(f"SAE {sae.name!r} reads {hook!r}, not the residual stream (hook_resid_pre/post)")
    if sae.layer is not None and sae.layer != layer:
        raise ValueError(
            f"SAE {sae.name!r} reads the residual stream at layer {sae.layer} ({hook or 'cfg.json layer'}), "
            f"not at layer {layer}"
        )


def sae_for_layer(saes: dict[int, SparseAutoencoder], layer: int) -> SparseAutoencoder:
    """The SAE of a layer.

    Args:
        saes (`dict[int, SparseAutoencoder]`): SAEs by the layer they read.
        layer (`int`): The layer (without an SAE: a ValueError listing the layers that have one).
    """
    if layer not in saes:
        available = ", ".join(str(key) for key in sorted(saes)) or "none"
        raise ValueError(f"no SAE for layer {layer}; SAEs are available for layers: {available}")
    return saes[layer]
