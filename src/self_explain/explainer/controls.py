"""Vector controls: an explainer trained or scored on transformed vectors, to tell what its score rests on.

- ``rotated``: each vector times a seeded random orthogonal matrix: the target's own knowledge read in a foreign
  basis (norms and angles kept).
- ``shuffled``: each row gets another row's vector (a seeded derangement): what the question text alone tells.
- ``zero``: zero vectors: nothing is read from the vector.

Training controls (``VECTOR_CONTROLS``) are the privileged-access experiment's: applied to the training subsample and,
through the explainer's metadata, by ``Explainer.generate`` to every set of examples. Scoring controls
(``SCORING_CONTROLS``, ``evaluate --vector_controls``) transform the rows' vectors *before* the explainer's own
training control; an explainer trained under ``shuffled`` is refused (`check_scoring_controls`), since a second
derangement can hand a row its own vector back.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import torch

from ..core.models import short_model_name

if TYPE_CHECKING:
    from ..tasks import ExplainerExamples

ROTATED, SHUFFLED, ZERO = "rotated", "shuffled", "zero"
VECTOR_CONTROLS = (ROTATED, SHUFFLED)  # the experiment's training controls (``train --vector_control``)
SCORING_CONTROLS = (SHUFFLED, ZERO)  # ``evaluate --vector_controls``: scored beside the true vectors, on the same rows
TRANSFORMS = (ROTATED, SHUFFLED, ZERO)  # every transform `apply_vector_control` knows
METADATA_KEY = "vector_control"  # in an explainer's self_explain.json: {"name": ..., "seed": ...}


def check_vector_control(name: str | None) -> None:
    """Refuse an unknown vector control."""
    if name is not None and name not in VECTOR_CONTROLS:
        raise ValueError(f"vector control {name!r} unknown; choose from {', '.join(VECTOR_CONTROLS)}")


def control_explainer_name(base: str, control: str) -> str:
    """The name a control explainer goes by in an experiment's results.

    >>> control_explainer_name("models/toy-target", "shuffled")
    'toy-target+shuffled'
    """
    check_vector_control(control)
    return f"{short_model_name(base)}+{control}"


def random_rotation(size: int, seed: int) -> torch.Tensor:
    """A Haar-random orthogonal ``(size, size)`` float32 matrix, the same for a seed on every machine."""
    generator = torch.Generator().manual_seed(seed)
    gaussian = torch.randn(size, size, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(gaussian)
    # Signs of R's diagonal onto Q: without them QR's output is not Haar-distributed.
    q = q * torch.sign(torch.diagonal(r)).where(torch.diagonal(r) != 0, torch.ones(()))
    return q.float()


def derangement(n: int, seed: int) -> torch.Tensor:
    """A seeded permutation of ``range(n)`` that moves every index (the identity for n < 2)."""
    if n < 2:
        return torch.arange(n)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    permutation = torch.empty(n, dtype=torch.long)
    permutation[order] = order.roll(-1)
    return permutation


def apply_vector_control(examples: ExplainerExamples, control: str | None, seed: int) -> ExplainerExamples:
    """A copy of ``examples`` with its vectors transformed by ``control`` (``examples`` itself when it is None).

    Args:
        examples (`ExplainerExamples`): Examples with vectors.
        control (`str`, *optional*): ``rotated``, ``shuffled`` (whole rows move: vector and layer) or ``zero``.
        seed (`int`): The rotation's or permutation's seed.

    Raises:
        ValueError: For an unknown control, examples without vectors, or (``shuffled``) not one vector per question.
    """
    if control is not None and control not in TRANSFORMS:
        raise ValueError(f"vector control {control!r} unknown; choose from {', '.join(TRANSFORMS)}")
    if control is None:
        return examples
    if examples.vectors is None:
        raise ValueError(
            f"the {control} vector control needs examples with vectors; these have none (a text-only task)"
        )
    if control == ZERO:
        return replace(examples, vectors=torch.zeros_like(examples.vectors))
    if control == ROTATED:
        rotation = random_rotation(examples.vectors.shape[-1], seed)
        return replace(examples, vectors=(examples.vectors.float() @ rotation).to(examples.vectors.dtype))
    if len(examples.vectors) != len(examples.questions):
        raise ValueError(
            f"the shuffled vector control moves whole rows: it needs one vector per question, got "
            f"{len(examples.vectors)} vectors for {len(examples.questions)} questions"
        )
    permutation = derangement(len(examples.questions), seed)
    layers = examples.layers[permutation] if examples.layers is not None else None
    return replace(examples, vectors=examples.vectors[permutation], layers=layers)


def check_scoring_controls(explainer: str, training_control: dict | None) -> None:
    """Refuse the scoring controls on an explainer trained under ``shuffled`` (true and shuffled are then the same)."""
    if not training_control:
        return
    name = training_control.get("name")
    if name == SHUFFLED:
        raise ValueError(
            f"--vector_controls: explainer {explainer!r} was trained under the shuffled vector control (each row "
            "given another row's vector), so its own scoring already has no true vector: true and shuffled would be "
            "the same condition. Evaluate it without --vector_controls, or check the explainer trained on the true "
            "vectors"
        )
    if name not in VECTOR_CONTROLS:
        raise ValueError(
            f"--vector_controls: explainer {explainer!r} records an unknown training vector control "
            f"{name!r} (known: {', '.join(VECTOR_CONTROLS)})"
        )
