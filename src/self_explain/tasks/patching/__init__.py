"""Activation patching: would writing a counterfactual activation here change the model's output?"""

from .. import TaskSpec, register_task
from .builder import DATASET_NAME, build_patching_dataset
from .config import PatchingConfig
from .prompts import all_templates

register_task(
    TaskSpec(
        name="patching",
        config_class=PatchingConfig,
        build=build_patching_dataset,
        dataset_name=DATASET_NAME,
        templates=all_templates,
    )
)
