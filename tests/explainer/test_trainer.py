"""train_explainer: what it writes, refusing to overwrite, resuming, determinism, widths, the reference layout."""

import json
import shutil
from pathlib import Path
from unittest import mock

import pytest
import torch
from datasets import load_dataset
from safetensors.torch import load_file

from self_explain.core.injection import PROJECTION_FILE
from self_explain.explainer.config import CHECKPOINTS
from self_explain.explainer.modeling import EXPLAINER_METADATA, load_explainer
from self_explain.explainer.trainer import save_explainer, train_explainer

# Columns our builder writes that the Transluce reference (act_patch_*) does not have.
NOT_IN_REFERENCE = ["question", "answer", "original_text", "prompt_id", "relation", "layers"]


def adapter_weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(Path(folder) / "adapter_model.safetensors"))


def assert_same_weights(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        assert torch.equal(a[name], b[name]), name


def copy_explainer(source: Path, folder: Path, with_checkpoints: bool = False) -> Path:
    ignore = None if with_checkpoints else shutil.ignore_patterns(CHECKPOINTS)
    shutil.copytree(source, folder, ignore=ignore)
    return folder


def test_train_writes_a_complete_explainer_and_nothing_half_written(
    trained_explainer_dir, random_toy_model_dir, patching_dataset_dir
):
    out = trained_explainer_dir
    for name in (
        "adapter_config.json",
        "adapter_model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        EXPLAINER_METADATA,
        "README.md",
    ):
        assert (out / name).is_file(), name
    assert not (out / PROJECTION_FILE).exists(), "same width: no projection"
    assert not list(out.glob(".tmp-*")) and not list(out.glob(".*"))

    metadata = json.loads((out / EXPLAINER_METADATA).read_text())
    assert metadata["task"] == "patching"
    assert metadata["target"] == metadata["explainer_base"] == str(random_toy_model_dir)
    assert metadata["target_revision"].startswith("sha256:")
    assert metadata["explainer_base_revision"] == metadata["target_revision"]
    assert metadata["dataset"] == str(patching_dataset_dir)
    assert metadata["dataset_config"] == random_toy_model_dir.name
    assert metadata["projection"] is None
    assert metadata["training_args"]["max_steps"] == 5 and metadata["training_args"]["seed"] == 0
    assert (
        metadata["train_rows"]
        == load_dataset(str(patching_dataset_dir), random_toy_model_dir.name, split="train").num_rows
    )
    assert metadata["train_loss"] > 0

    adapter_config = json.loads((out / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == str(random_toy_model_dir)
    card = (out / "README.md").read_text()
    assert "patching" in card and random_toy_model_dir.name in card
    assert sorted(p.name for p in (out / CHECKPOINTS).glob("checkpoint-*")) == ["checkpoint-3", "checkpoint-5"]

    explainer = load_explainer(str(out))
    assert explainer.task == "patching" and explainer.shares_base and explainer.projection is None


def test_the_trainer_sees_the_prompts_generate_will_see_with_each_rows_vector(
    tiny_train_config, random_toy_model_dir, patching_dataset_dir, tmp_path
):
    """Loss on the answer only; the prompt part of each training row is exactly Explainer.generate's prompt."""
    from transformers import AutoTokenizer

    from self_explain.core.generation import prompt_ids
    from self_explain.core.models import load_model
    from self_explain.explainer import trainer as training
    from self_explain.tasks.patching.explainer import patching_examples

    batches = []
    collate = training.VectorCollator.__call__

    def spy(self, examples):
        batch = collate(self, examples)
        batches.append(([e["vector_index"] for e in examples], batch))
        return batch

    with mock.patch.object(training.VectorCollator, "__call__", spy):
        out = train_explainer(tiny_train_config(tmp_path / "out", max_steps=1, per_device_train_batch_size=4))

    rows = load_dataset(str(patching_dataset_dir), random_toy_model_dir.name, split="train")
    examples = patching_examples(rows, load_model(str(random_toy_model_dir)), seed=0)
    tokenizer = AutoTokenizer.from_pretrained(out)
    indices, batch = batches[0]
    assert torch.equal(batch["vectors"], examples.vectors[indices])
    assert torch.equal(batch["vector_layers"], examples.layers[indices])
    for index, ids, labels in zip(indices, batch["input_ids"], batch["labels"]):
        answer_start = int((labels != -100).nonzero()[0])
        assert ids[:answer_start].tolist() == prompt_ids(tokenizer, examples.questions[index])
        answer = tokenizer.decode(ids[labels != -100], skip_special_tokens=True)
        assert answer == examples.answers[index]


def test_the_adapter_moved_away_from_its_base(trained_explainer_dir):
    lora_b = [w for name, w in adapter_weights(trained_explainer_dir).items() if "lora_B" in name]
    assert lora_b and all(w.abs().sum() > 0 for w in lora_b), "LoRA B starts at zero; five steps must move it"


def test_out_holding_an_explainer_is_refused_without_overwrite(trained_explainer_dir, tiny_train_config, tmp_path):
    out = copy_explainer(trained_explainer_dir, tmp_path / "explainer")
    before = adapter_weights(out)
    with pytest.raises(FileExistsError, match="already holds a trained explainer; pass --overwrite"):
        train_explainer(tiny_train_config(out))
    assert_same_weights(adapter_weights(out), before)


def test_out_that_is_a_file_is_refused(tiny_train_config, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        train_explainer(tiny_train_config(tmp_path / "file"))


def test_the_target_defaults_to_the_datasets_provenance(tiny_train_config, random_toy_model_dir, tmp_path):
    from self_explain.explainer.trainer import resolve_target

    assert resolve_target(tiny_train_config(tmp_path, target=None)) == str(random_toy_model_dir)
    with pytest.raises(ValueError, match="--target is required: the dataset .* does not say which model it explains"):
        resolve_target(tiny_train_config(tmp_path, target=None, dataset_config="elsewhere"))


def test_a_target_the_dataset_was_not_built_on_is_refused_before_loading(
    tiny_train_config, patching_dataset_dir, random_toy_model_dir, other_toy_model_dir, tmp_path, monkeypatch
):
    from self_explain.explainer import trainer

    class Loaded(Exception):
        pass

    def load_model(*args, **kwargs):
        raise Loaded

    monkeypatch.setattr(trainer, "load_model", load_model)
    out = tmp_path / "out"
    with pytest.raises(
        ValueError,
        match=rf"--target '{other_toy_model_dir}': dataset {patching_dataset_dir} config "
        rf"'{random_toy_model_dir.name}' holds the ground truth of "
        rf"'{random_toy_model_dir}'.*or pass --allow_other_target to train on it",
    ):
        train_explainer(tiny_train_config(out, target=str(other_toy_model_dir)))
    with pytest.raises(ValueError, match="holds the ground truth of"):  # the dataset's only config, when not named
        train_explainer(tiny_train_config(out, target=str(other_toy_model_dir), dataset_config=None))
    with pytest.raises(Loaded):  # allowed: the check is passed and the target loaded
        train_explainer(tiny_train_config(out, target=str(other_toy_model_dir), allow_other_target=True))
    with pytest.raises(Loaded):  # the model it was built on
        train_explainer(tiny_train_config(out))
    assert not out.exists()


def test_a_target_of_another_revision_is_refused(tiny_train_config, patching_dataset_dir, random_toy_model_dir):
    from self_explain.explainer.trainer import check_dataset_target

    config = tiny_train_config("unused")
    recorded = __import__("json").loads(
        (patching_dataset_dir / "provenance" / f"{random_toy_model_dir.name}.json").read_text()
    )["target_revision"]
    check_dataset_target(config, str(random_toy_model_dir), recorded)
    with pytest.raises(ValueError, match=r"\(revision sha256:other\): .* \(revision sha256:"):
        check_dataset_target(config, str(random_toy_model_dir), "sha256:other")


def test_a_missing_split_is_named(tiny_train_config, tmp_path):
    with pytest.raises(ValueError, match="cannot read split 'validation' of dataset"):
        train_explainer(tiny_train_config(tmp_path / "out", split="validation"))
    assert not (tmp_path / "out" / EXPLAINER_METADATA).exists()


def test_resume_latest_without_checkpoint_says_so(tiny_train_config, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint under"):
        train_explainer(tiny_train_config(tmp_path / "empty", resume_from_checkpoint="latest"))


def test_same_seed_gives_identical_adapter_weights(trained_explainer_dir, tiny_train_config, tmp_path):
    again = train_explainer(tiny_train_config(tmp_path / "again"))
    assert_same_weights(adapter_weights(again), adapter_weights(trained_explainer_dir))


def test_resume_from_latest_checkpoint_finishes_like_an_uninterrupted_run(
    trained_explainer_dir, tiny_train_config, tmp_path
):
    """Interrupted after step 3 (checkpoint-3 is the latest), resumed to step 5: the very same adapter."""
    out = tmp_path / "interrupted"
    (out / CHECKPOINTS).mkdir(parents=True)
    shutil.copytree(trained_explainer_dir / CHECKPOINTS / "checkpoint-3", out / CHECKPOINTS / "checkpoint-3")

    folder = train_explainer(tiny_train_config(out, resume_from_checkpoint="latest"))

    assert folder == out
    assert_same_weights(adapter_weights(out), adapter_weights(trained_explainer_dir))
    metadata = json.loads((out / EXPLAINER_METADATA).read_text())
    assert metadata["training_args"]["resume_from_checkpoint"] == "latest"
    assert (out / CHECKPOINTS / "checkpoint-5").is_dir()


def _interrupted_at_step(tiny_train_config, out, step: int, monkeypatch, **overrides) -> None:
    """Train into ``out`` and stop with Ctrl-C at optimizer step ``step`` (the checkpoints before it stay)."""
    from self_explain.explainer import trainer

    real, calls = trainer.ExplainerSFTTrainer.compute_loss, []

    def compute_loss(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == step:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(trainer.ExplainerSFTTrainer, "compute_loss", compute_loss)
        with pytest.raises(KeyboardInterrupt):
            train_explainer(tiny_train_config(out, **overrides))


def test_a_plain_rerun_after_a_crash_resumes_and_removes_the_checkpoints_only_then(
    trained_explainer_dir, tiny_train_config, tmp_path, monkeypatch, caplog
):
    out = tmp_path / "crashed"
    _interrupted_at_step(tiny_train_config, out, 5, monkeypatch, keep_checkpoints=False)  # after checkpoint-3
    assert (out / CHECKPOINTS / "checkpoint-3" / "trainer_state.json").is_file(), "a crash keeps the checkpoints"
    with caplog.at_level("INFO", logger="self_explain"):
        train_explainer(tiny_train_config(out, keep_checkpoints=False))
    assert "resuming from step 3" in caplog.text
    assert_same_weights(adapter_weights(out), adapter_weights(trained_explainer_dir))  # as if never interrupted
    assert not (out / CHECKPOINTS).exists(), "removed after the successful run"


def test_a_rerun_with_other_settings_is_refused_and_no_resume_starts_again(
    tiny_train_config, tmp_path, monkeypatch, caplog
):
    out = tmp_path / "crashed"
    _interrupted_at_step(tiny_train_config, out, 5, monkeypatch)
    with pytest.raises(
        ValueError,
        match=r"holds checkpoints of an unfinished run with other settings \(learning_rate"
        r"\); rerun with those settings to resume it, or pass --no_resume",
    ):
        train_explainer(tiny_train_config(out, learning_rate=1e-3))
    _interrupted_at_step(tiny_train_config, out, 2, monkeypatch, learning_rate=1e-3, no_resume=True)
    assert not list((out / CHECKPOINTS).glob("checkpoint-*")), "the earlier run's checkpoints are gone"
    # A checkpoint cut short (no trainer state) is not resumed from: the run starts again.
    _interrupted_at_step(tiny_train_config, out, 5, monkeypatch)
    (out / CHECKPOINTS / "checkpoint-3" / "trainer_state.json").unlink()
    with caplog.at_level("INFO", logger="self_explain"):
        train_explainer(tiny_train_config(out, max_steps=2, save_steps=5))
    assert "resuming" not in caplog.text


def test_save_explainer_leaves_nothing_when_a_step_fails(trained_explainer_dir, tmp_path, monkeypatch, caplog):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from self_explain.explainer import card as explainer_card

    metadata = json.loads((trained_explainer_dir / EXPLAINER_METADATA).read_text())
    base = AutoModelForCausalLM.from_pretrained(metadata["explainer_base"])
    model = PeftModel.from_pretrained(base, trained_explainer_dir)
    tokenizer = AutoTokenizer.from_pretrained(trained_explainer_dir)

    def broken_card(folder, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(explainer_card, "write_explainer_card", broken_card)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="disk full"):
        save_explainer(model, tokenizer, None, metadata, out)
    assert list(out.iterdir()) == []

    monkeypatch.undo()
    (out / ".tmp-killed").mkdir()  # what a save killed part-way leaves
    (out / ".tmp-killed" / "adapter_model.safetensors").write_bytes(b"half")
    with caplog.at_level("INFO", logger="self_explain"):
        save_explainer(model, tokenizer, None, metadata, out)
    assert_same_weights(adapter_weights(out), adapter_weights(trained_explainer_dir))
    assert not list(out.glob(".tmp-*"))
    assert [m for m in caplog.messages if ".tmp-" in m] == [
        f"removed {out / '.tmp-killed'}, left by an earlier save that did not finish"
    ], "no log names a staging folder"
    assert f"(card: {out / 'README.md'})" in caplog.text


# ----------------------------------------------------------------------------------------------
# An explainer of another width than its target: the projection
# ----------------------------------------------------------------------------------------------


def test_cross_width_explainer_saves_a_trained_projection_and_loads_back(
    wide_explainer_dir, wide_toy_model_dir, random_toy_model_dir, patching_dataset_dir
):
    tensors = load_file(str(wide_explainer_dir / PROJECTION_FILE))
    assert tensors["weight"].shape == (3, 48, 32) and tensors["bias"].shape == (3, 48)
    assert not torch.equal(tensors["weight"], torch.eye(48, 32).repeat(3, 1, 1)), "trained jointly with the adapter"
    assert (wide_explainer_dir / CHECKPOINTS / "checkpoint-1" / PROJECTION_FILE).is_file()
    metadata = json.loads((wide_explainer_dir / EXPLAINER_METADATA).read_text())
    assert metadata["projection"] == {"num_layers": 3, "target_hidden": 32, "explainer_hidden": 48}
    assert metadata["explainer_base"] == str(wide_toy_model_dir)

    explainer = load_explainer(str(wide_explainer_dir))
    assert not explainer.shares_base
    assert explainer.target.name == str(random_toy_model_dir)
    assert torch.equal(explainer.projection.weight.detach(), tensors["weight"])
    assert explainer.injector.projection is explainer.projection

    from self_explain.tasks.patching.explainer import patching_examples

    rows = load_dataset(str(patching_dataset_dir), random_toy_model_dir.name, split="test").select(range(3))
    with explainer.target_runs() as target:
        examples = patching_examples(rows, target, 0)
    assert examples.vectors.shape == (3, 32)
    assert len(explainer.generate(examples, max_new_tokens=2)) == 3


def test_resume_restores_the_projection(wide_explainer_dir, wide_toy_model_dir, tiny_train_config, tmp_path):
    out = tmp_path / "interrupted"
    (out / CHECKPOINTS).mkdir(parents=True)
    shutil.copytree(wide_explainer_dir / CHECKPOINTS / "checkpoint-1", out / CHECKPOINTS / "checkpoint-1")

    train_explainer(
        tiny_train_config(
            out, explainer_base=str(wide_toy_model_dir), max_steps=2, save_steps=1, resume_from_checkpoint="latest"
        )
    )

    assert_same_weights(load_file(str(out / PROJECTION_FILE)), load_file(str(wide_explainer_dir / PROJECTION_FILE)))
    assert_same_weights(adapter_weights(out), adapter_weights(wide_explainer_dir))


def test_projection_that_does_not_fit_the_explainer_is_refused_at_load(
    trained_explainer_dir, wide_explainer_dir, tmp_path
):
    folder = copy_explainer(trained_explainer_dir, tmp_path / "explainer")
    shutil.copy(wide_explainer_dir / PROJECTION_FILE, folder / PROJECTION_FILE)  # maps 32 -> 48; explainer is 32
    with pytest.raises(ValueError, match="48"):
        load_explainer(str(folder))


def test_projection_none_with_different_widths_is_refused(tiny_train_config, wide_toy_model_dir, tmp_path):
    config = tiny_train_config(tmp_path / "out", explainer_base=str(wide_toy_model_dir), projection="none")
    with pytest.raises(ValueError, match="--projection none: the explainer base has hidden size 48, the target 32"):
        train_explainer(config)
    assert not (tmp_path / "out" / EXPLAINER_METADATA).exists()


def test_unknown_projection_choice_is_refused(tiny_train_config, tmp_path):
    with pytest.raises(ValueError, match="--projection must be one of"):
        tiny_train_config(tmp_path, projection="cubic")


def test_overwrite_removes_the_projection_of_the_previous_explainer(wide_explainer_dir, tiny_train_config, tmp_path):
    out = copy_explainer(wide_explainer_dir, tmp_path / "explainer")
    train_explainer(tiny_train_config(out, overwrite=True, max_steps=1))
    assert json.loads((out / EXPLAINER_METADATA).read_text())["projection"] is None
    assert not (out / PROJECTION_FILE).exists(), "the old 32->48 projection would be applied to a 32-wide explainer"


# ----------------------------------------------------------------------------------------------
# A base whose tokenizer lacks the placeholder tokens (and a pad token), as Llama-3.1's does
# ----------------------------------------------------------------------------------------------


def bare_toy_tokenizer(pad: bool):
    """The toy tokenizer without the vector placeholder tokens (and optionally without a pad token)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    from self_explain.core.placeholders import PLACEHOLDER_TOKENS
    from self_explain.toyworld.tokenizer import CHAT_TEMPLATE
    from self_explain.toyworld.vocabulary import CHAT_TOKENS, build_vocabulary
    from self_explain.toyworld.world import ToyWorld

    vocab = {
        t: i for i, t in enumerate(t for t in build_vocabulary(ToyWorld.generate(0)) if t not in PLACEHOLDER_TOKENS)
    }
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation("isolated"), pre_tokenizers.Digits(True)]
    )
    backend.post_processor = processors.TemplateProcessing(
        single="<bos> $A", special_tokens=[("<bos>", vocab["<bos>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<bos>",
        eos_token="<eos>",
        unk_token="<unk>",
        pad_token="<pad>" if pad else None,
        extra_special_tokens=CHAT_TOKENS,
        chat_template=CHAT_TEMPLATE,
    )


@pytest.fixture(scope="module")
def bare_base_dirs(tmp_path_factory):
    from tests.conftest import save_random_toy_model

    return {
        pad: save_random_toy_model(
            tmp_path_factory.mktemp(f"bare-{pad}"),
            hidden_size=32,
            num_layers=2,
            seed=6,
            tokenizer=bare_toy_tokenizer(pad),
        )
        for pad in (True, False)
    }


def test_explainer_on_a_base_without_placeholder_tokens_loads_back(bare_base_dirs, tiny_train_config, tmp_path):
    out = train_explainer(tiny_train_config(tmp_path / "out", explainer_base=str(bare_base_dirs[True]), max_steps=1))
    explainer = load_explainer(str(out))
    assert (
        explainer.tokenizer.convert_tokens_to_ids("<|vec|>") < explainer.model.get_input_embeddings().weight.shape[0]
    )


def test_train_on_a_base_without_pad_token(bare_base_dirs, tiny_train_config, tmp_path):
    out = train_explainer(tiny_train_config(tmp_path / "out", explainer_base=str(bare_base_dirs[False]), max_steps=1))
    assert (out / EXPLAINER_METADATA).is_file()


# ----------------------------------------------------------------------------------------------
# The reference layout (Transluce act_patch_*: no question / answer / original_text columns)
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference_layout_dir(patching_dataset_dir, random_toy_model_dir, tmp_path_factory):
    """A few rows of our dataset in the reference's columns, as parquet in a Hub-layout folder (no config)."""
    dataset = load_dataset(str(patching_dataset_dir), random_toy_model_dir.name)
    folder = tmp_path_factory.mktemp("reference-layout")
    (folder / "data").mkdir()
    for split, rows in (("train", 24), ("test", 6)):
        part = dataset[split].select(range(rows)).remove_columns(NOT_IN_REFERENCE)
        part.to_parquet(str(folder / "data" / f"{split}-00000-of-00001.parquet"))
    return folder


def test_reference_rows_get_the_same_questions_and_answers_as_ours(
    reference_layout_dir, patching_dataset_dir, random_toy_model_dir
):
    from self_explain.core.models import load_model
    from self_explain.tasks.patching.explainer import patching_examples

    ours = load_dataset(str(patching_dataset_dir), random_toy_model_dir.name, split="train").select(range(24))
    reference = load_dataset(str(reference_layout_dir), split="train")
    assert "question" not in reference.column_names and "original_text" not in reference.column_names
    target = load_model(str(random_toy_model_dir))
    from_reference = patching_examples(reference, target, seed=0)
    from_ours = patching_examples(ours, target, seed=0)

    assert from_reference.answers == ours["answer"]
    for question, row in zip(from_reference.questions, ours):
        assert f"<<<{row['original_text']}>>>" in question, "the text is rebuilt from input_tokens"
        assert f"<<<{row['patch_position']['orig_text_token']}>>>" in question
    assert torch.equal(from_reference.vectors, from_ours.vectors)
    assert torch.equal(from_reference.layers, from_ours.layers)


def test_train_and_evaluate_on_the_reference_layout(reference_layout_dir, random_toy_model_dir, tmp_path):
    import pandas as pd

    from self_explain.evaluation.evaluator import EvaluateConfig, run_evaluation
    from self_explain.explainer.trainer import ExplainerConfig

    # A folder without a self-explain card: the task cannot be read from it, so it is named.
    with pytest.raises(ValueError, match="pass --task"):
        train_explainer(
            ExplainerConfig(
                dataset_name=str(reference_layout_dir),
                target=str(random_toy_model_dir),
                output_dir=str(tmp_path / "unnamed"),
                max_steps=2,
            )
        )
    out = train_explainer(
        ExplainerConfig(
            dataset_name=str(reference_layout_dir),
            target=str(random_toy_model_dir),
            task="patching",
            output_dir=str(tmp_path / "explainer"),
            max_steps=2,
            per_device_train_batch_size=8,
            warmup_steps=0,
            logging_steps=1,
        )
    )
    metadata = json.loads((out / EXPLAINER_METADATA).read_text())
    assert metadata["train_rows"] == 24 and metadata["dataset_config"] is None

    report = run_evaluation(
        EvaluateConfig(
            explainer=str(out),
            dataset_name=str(reference_layout_dir),
            output_dir=str(tmp_path / "eval"),
            max_new_tokens=4,
        )
    )
    (result,) = report["results"]
    assert result["split"] == "test" and result["rows"] == 6
    assert set(result["metrics"]) >= {"exact_match", "content_match", "has_changed_f1"}
    predictions = pd.read_parquet(tmp_path / "eval" / "predictions-test.parquet")
    assert len(predictions) == 6
    assert all(
        r.startswith(("The output would remain unchanged", "The most likely output")) for r in predictions["reference"]
    )


def test_predictions_of_the_reference_layout_keep_the_questions_asked(
    reference_layout_dir, trained_explainer_dir, tmp_path
):
    import pandas as pd

    from self_explain.evaluation.evaluator import EvaluateConfig, run_evaluation

    run_evaluation(
        EvaluateConfig(
            explainer=str(trained_explainer_dir),
            dataset_name=str(reference_layout_dir),
            dataset_config="default",
            output_dir=str(tmp_path),
            max_new_tokens=2,
        )
    )
    questions = pd.read_parquet(tmp_path / "predictions-test.parquet")["question"]
    assert all("<|vec|>" in q for q in questions)


def test_checkpoints_are_removed_after_success_unless_kept(tiny_train_config, tmp_path):
    removed = train_explainer(tiny_train_config(tmp_path / "default", keep_checkpoints=False, max_steps=3))
    assert (removed / "adapter_model.safetensors").is_file() and not (removed / CHECKPOINTS).exists()
    kept = train_explainer(tiny_train_config(tmp_path / "kept", keep_checkpoints=True, max_steps=3))
    assert (kept / "adapter_model.safetensors").is_file() and list((kept / CHECKPOINTS).glob("checkpoint-*"))


def test_adapter_saves_trained_token_rows_not_whole_embedding_matrices(trained_explainer_dir):
    from safetensors import safe_open

    from self_explain.core.placeholders import PLACEHOLDER_TOKENS

    with safe_open(str(trained_explainer_dir / "adapter_model.safetensors"), "pt") as weights:
        shapes = {key: weights.get_slice(key).get_shape() for key in weights.keys()}
    # (the random toy model's vocabulary is small, so all its rows are trainable tokens: one delta of vocab rows)
    assert not [key for key in shapes if key.endswith(("embed_tokens.weight", "lm_head.weight"))], shapes
    assert [key for key in shapes if "trainable_tokens" in key] and [key for key in shapes if "lora_" in key]
    # The placeholder rows are new (randomly initialised when the base is resized on load): the adapter restores them.
    first = load_explainer(str(trained_explainer_dir))
    ids = first.tokenizer.convert_tokens_to_ids(list(PLACEHOLDER_TOKENS))
    rows = first.model.get_input_embeddings()(torch.tensor(ids)).detach()
    second = load_explainer(str(trained_explainer_dir))
    assert torch.equal(rows, second.model.get_input_embeddings()(torch.tensor(ids)).detach())
