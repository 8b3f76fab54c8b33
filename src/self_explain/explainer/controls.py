"""Vector controls: an explainer trained or scored on transformed vectors, to tell what its score rests on.

- ``rotated``: every vector times a fixed, seeded random orthogonal matrix. The explainer keeps the target's own
  knowledge (its base is the target) but reads the vectors in a foreign basis: "own knowledge, foreign basis".
  The norm and every angle between vectors are kept, so whatever the vectors tell a fresh reader is still there.
- ``shuffled``: each row gets the vector of another row (a seeded derangement of the rows given). The vector no
  longer belongs to the question, so what is left is what the question text alone tells: the text-only ceiling.
- ``zero``: every vector is zero (through a projection, its bias): nothing is read from the vector at all.

Training controls (``VECTOR_CONTROLS``: rotated, shuffled) are the privileged-access experiment's. The same transform
is applied in training (to the training subsample) and in scoring (to the scored rows): an explainer trained under a
control records it in its metadata, and :meth:`Explainer.generate <self_explain.explainer.modeling.Explainer.generate>`
applies it to every set of examples it is given.

Scoring controls (``SCORING_CONTROLS``: shuffled, zero) are ``self-explain evaluate --vector_controls``: any vector
explainer scored on the same rows with the true vectors, with shuffled ones and with zero ones. They transform the
rows' vectors *before* the explainer's own training control, which ``generate`` then applies as always. For an
explainer trained under ``rotated`` the three conditions are then its rotated true vectors, its rotated shuffled
vectors (rotating and moving whole rows commute) and zero vectors (the rotation keeps 0): the same check in its
basis. An explainer trained under ``shuffled`` is refused (`check_scoring_controls`): its "true" condition already
gives each row another row's vector, and a second derangement on top can hand a row its own vector back.
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
    """Refuse an unknown vector control.

    Args:
        name (`str`, *optional*): A control name, or None for none.

    Raises:
        ValueError: When ``name`` is not None and not one of ``VECTOR_CONTROLS``.
    """
    if name is not None and name not in VECTOR_CONTROLS:
        raise ValueError(f"vector control {name!r} unknown; choose from {', '.join(VECTOR_CONTROLS)}")


def control_explainer_name(base: str, control: str) -> str:
    """The name a control explainer goes by in an experiment's results: ``toy-target+rotated``.

    >>> control_explainer_name("models/toy-target", "shuffled")
    'toy-target+shuffled'

    Args:
        base (`str`): The explainer's base model (toy name, folder or Hub id).
        control (`str`): The control, one of ``VECTOR_CONTROLS``.

    Returns:
        `str`: The base's short name, ``+`` and the control.
    """
    check_vector_control(control)
    return f"{short_model_name(base)}+{control}"


def random_rotation(size: int, seed: int) -> torch.Tensor:
    """A random orthogonal matrix, uniform (Haar) over the orthogonal group, fixed by ``seed``.

    Args:
        size (`int`): The vectors' size.
        seed (`int`): The seed; the same seed gives the same matrix on every machine (CPU generator).

    Returns:
        `torch.Tensor`: (size, size) float32, ``Q @ Q.T == I``.
    """
    generator = torch.Generator().manual_seed(seed)
    gaussian = torch.randn(size, size, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(gaussian)
    # Signs of R's diagonal onto Q: without them QR's output is not Haar-distributed.
    q = q * torch.sign(torch.diagonal(r)).where(torch.diagonal(r) != 0, torch.ones(()))
    return q.float()


def derangement(n: int, seed: int) -> torch.Tensor:
    """A seeded permutation of ``range(n)`` that moves every index (for n ≥ 2): row i gets row ``perm[i]``'s vector.

    A random order is drawn, and each row in it takes the next row's vector (the last the first's), so no row keeps
    its own.

    Args:
        n (`int`): The number of rows.
        seed (`int`): The seed.

    Returns:
        `torch.Tensor`: (n,) long; the identity for n < 2 (there is no other row).
    """
    if n < 2:
        return torch.arange(n)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    permutation = torch.empty(n, dtype=torch.long)
    permutation[order] = order.roll(-1)
    return permutation


def apply_vector_control(examples: ExplainerExamples, control: str | None, seed: int) -> ExplainerExamples:
    """The examples with their vectors transformed by ``control`` (a copy; the examples themselves are not changed).

    Args:
        examples (`ExplainerExamples`): Examples with vectors, one per question.
        control (`str`, *optional*): ``rotated``, ``shuffled`` or ``zero``; None returns ``examples`` as they are.
        seed (`int`): The rotation's or the permutation's seed (unused by ``zero``).

    Returns:
        `ExplainerExamples`: For ``rotated``, each vector times ``random_rotation(size, seed)``; for ``shuffled``, each
        row holding another row's vector (and that vector's layer, which a projection reads it by); for ``zero``,
        zero vectors of the same shape and type (their layers kept).

    Raises:
        ValueError: For an unknown control, examples without vectors, or (``shuffled``) not one vector per question.
    """
    if control is not None and control not in TRANSFORMS:
        raise ValueError(f"vector control {control!r} unknown; choose from {', '.join(TRANSFORMS)}")
    if control is None:
        return examples
    if examples.vectors is None:
        raise ValueError(f"the {control} vector control needs examples with vectors; these have none (a text-only task)")
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
    """Refuse the scoring controls (``evaluate --vector_controls``) on an explainer they cannot be read on.

    An explainer trained under ``rotated`` is scored with the controls applied before its rotation (see the module's
    docstring); one trained under ``shuffled`` is refused: it never saw a row's own vector, so "true" and "shuffled"
    are the same condition for it.

    Args:
        explainer (`str`): The explainer, as given (for the message).
        training_control (`dict`, *optional*): The vector control it was trained under (``{"name", "seed"}``, from its
            metadata), or None.

    Raises:
        ValueError: For an explainer trained under ``shuffled``, or under a control this version does not know.
    """
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
        raise ValueError(f"--vector_controls: explainer {explainer!r} records an unknown training vector control "
                         f"{name!r} (known: {', '.join(VECTOR_CONTROLS)})")
