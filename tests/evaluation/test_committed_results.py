"""The committed experiment results name the models that made them: the shipped toy models' weights, and for the
real-model experiment the edited SmolLM2 its check record names, as they are now."""

import json
from pathlib import Path

import pytest

from self_explain.core.models import TOY_MODELS, short_model_name, toy_model_path, weights_fingerprint

RESULTS = Path(__file__).resolve().parents[2] / "results"
RUNS = sorted(RESULTS.glob("**/runs/**/result.json"))
SHIPPED = {name: weights_fingerprint(toy_model_path(name)) for name in TOY_MODELS}
# The edited SmolLM2 is merged on this machine from the shipped adapter: its check record holds both revisions.
EDITED_CHECK = json.loads((RESULTS / "smollm2-135m" / "edited-facts-check.json").read_text(encoding="utf-8"))
SHIPPED[EDITED_CHECK["model"]] = EDITED_CHECK["revision"]
SHIPPED["smollm2-135m"] = EDITED_CHECK["base_revision"]


def _experiment_settings(run: Path) -> dict:
    """The experiment.json of the experiment folder holding ``run`` (the parent of its ``runs`` folder)."""
    folder = next(parent for parent in run.parents if parent.name == "runs").parent
    return json.loads((folder / "experiment.json").read_text(encoding="utf-8"))


def test_there_are_committed_runs_to_check():
    assert RUNS, f"no committed runs under {RESULTS}/<task>/runs"


def test_the_edited_model_check_names_the_shipped_adapters_merge():
    facts = Path(__file__).resolve().parents[2] / "src/self_explain/realworld/data/smollm2-135m-edited/facts.json"
    assert json.loads(facts.read_text(encoding="utf-8"))["check"]["revision"] == EDITED_CHECK["revision"]


@pytest.mark.parametrize("path", RUNS, ids=lambda path: str(path.relative_to(RESULTS)))
def test_each_committed_run_names_the_shipped_models_it_ran_on(path):
    result = json.loads(path.read_text(encoding="utf-8"))
    settings = _experiment_settings(path)
    target = short_model_name(settings["target"])
    if target in SHIPPED:
        assert result["target_revision"] == SHIPPED[target], f"{path}: made on another {target} than the shipped one"
    who = result["who"].split("+")[0]  # a control trains the target's own base
    if result["kind"] == "explainer" and who in SHIPPED:
        assert result["explainer_base_revision"] == SHIPPED[who], f"{path}: made on another {who} than the shipped one"
    commit = result["package_commit"]
    assert commit and not commit.endswith("+dirty"), f"{path}: made from {commit!r}, not a committed state"
