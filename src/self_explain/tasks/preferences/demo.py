"""The preferences task in ``self-explain demo``: its build options, summary and experiment sizes."""

from __future__ import annotations

from pathlib import Path

from datasets import load_dataset

from ..base import DemoSpec
from ..build import read_provenance


def _interval(correlations: dict) -> str:
    interval = correlations.get("pooled_r_ci")  # absent from datasets built before it was recorded
    return "" if interval is None else f" [{interval[0]:.3f}, {interval[1]:.3f}]"


def preferences_summary(folder: Path, config_name: str) -> list[str]:
    """The demo's lines about the preferences dataset built in ``folder`` (config ``config_name``)."""
    dataset = load_dataset(str(folder), config_name)
    provenance = read_provenance(folder, config_name)
    quality = provenance["instilling_correlation"]
    lines = [
        "split   rows  scenarios",
        *(f"{split:<7} {len(rows):>4}  {len(set(rows['scenario_id'])):>4}" for split, rows in dataset.items()),
    ]
    lines += [
        "",
        f"instilled model (the target explained): {provenance['target']}",
        "instilling: r of measured vs. intended weights, pooled {:.3f}{}, mean per scenario {:.3f}".format(
            quality["instilled"]["pooled_r"], _interval(quality["instilled"]), quality["instilled"]["mean_scenario_r"]
        ),
        "control, the base model before instilling: pooled {:.3f}{}, mean per scenario {:.3f}".format(
            quality["base_before_instilling"]["pooled_r"],
            _interval(quality["base_before_instilling"]),
            quality["base_before_instilling"]["mean_scenario_r"],
        ),
        f"measured choices the intended weights agree with: {provenance['mean_intended_agreement']:.1%}; "
        f"that the logistic fit reproduces: {provenance['mean_fit_agreement']:.1%}",
    ]
    gate = provenance.get("instilling_gate")
    if gate is not None:
        verdict = "passed" if gate["passed"] else "FAILED, the dataset written anyway (--allow-failed-instilling)"
        lines.append(f"instilling gate (pooled r ≥ {gate['min_pooled_r']}): {verdict}")
    kept = provenance.get("native_preferences_kept")
    if kept:
        lines.append(
            "native scenarios: r of the instilled model's weights vs. the base model's (kept when high): "
            "pooled {:.3f}{}".format(kept["pooled_r"], _interval(kept))
        )
    fits = provenance.get("not_significant_fits")
    if fits:
        lines.append(
            "weight fits not significant (p ≥ 0.05): "
            + ", ".join(f"{kind} {count['not_significant']} of {count['scenarios']}" for kind, count in fits.items())
        )
    return lines


DEMO = DemoSpec(
    summary=preferences_summary,
    # Half the recipe's scenarios and measured choices, to fit the demo's time: 20 native and 40 instilled
    # scenarios; the build must pass the instilling gate (docs/tasks/preferences.md, "What the toy world gives").
    build_options={"num_scenarios": 60, "measure_choices": 50, "batch_size": 64},
    order=3,
)
