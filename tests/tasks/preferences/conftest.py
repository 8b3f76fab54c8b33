"""One small preferences build on toy-target, shared by the builder, explainer and end-to-end tests (~3 s)."""

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from tests.conftest import single_thread

TARGET = "toy-target"
# Small and quick: 8 scenarios (5 instilled, 3 native), one epoch of instilling on 10 choices per instilled scenario
# and 5 replayed per native one. So little instilling does not reach the gate: these builds are allowed to fail it.
BUILD_OPTIONS = dict(
    target=TARGET,
    num_scenarios=8,
    instill_choices=10,
    replay_choices=5,
    measure_choices=20,
    num_train_epochs=1,
    per_device_train_batch_size=16,
    seed=0,
    allow_failed_instilling=True,
)


@dataclass(frozen=True)
class PreferencesBuild:
    folder: Path  # the dataset folder
    instilled: Path  # the instilled model folder (the default: beside the dataset folder)
    options: dict  # the PreferencesConfig arguments but ``out``


def build_preferences(out: Path, **overrides) -> Path:
    from self_explain.tasks.preferences import PreferencesConfig
    from self_explain.tasks.preferences.builder import build_preferences_dataset

    with single_thread(), torch.random.fork_rng():
        return build_preferences_dataset(PreferencesConfig(output_dir=str(out), **{**BUILD_OPTIONS, **overrides}))


@pytest.fixture(scope="session")
def preferences_build(tmp_path_factory) -> PreferencesBuild:
    """A toy-target preferences dataset and its instilled model. Read-only: copy to edit."""
    out = tmp_path_factory.mktemp("preferences") / "ds"
    folder = build_preferences(out)
    return PreferencesBuild(
        folder=folder, instilled=out.parent / f"{TARGET}-preferences-instilled", options=dict(BUILD_OPTIONS)
    )
