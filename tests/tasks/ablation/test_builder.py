"""``self-explain build ablation``: Hub layout, true ground truth, seeds, resumption, overwrite, JSONL, push."""

import json
from unittest import mock

import pytest
from datasets import load_dataset
from huggingface_hub.errors import EntryNotFoundError

from self_explain.cli import main
from self_explain.core.models import load_model
from self_explain.hub import datasets as hub
from self_explain.tasks.ablation import builder as builder_module
from self_explain.tasks.ablation.builder import DATASET_NAME, build_ablation_dataset
from self_explain.tasks.ablation.config import AblationConfig
from self_explain.tasks.ablation.ground_truth import run_ablations
from self_explain.tasks.ablation.prompts import QUESTION_TEMPLATES
from self_explain.tasks.ablation.schema import ABLATION_FEATURES
from self_explain.tasks.causal_answers import causal_answer
from self_explain.tasks.shards import ShardedBuild
from self_explain.toyworld import toy_world_for
from self_explain.toyworld.world import ANSWER_PREFIX

TARGET = "toy-target"


def build(out, **overrides):
    # Unparsed answers kept: the tests of the build's mechanics count every example as a row (the default, leaving
    # them out, is tested on its own below).
    options = {
        "target": TARGET,
        "num_examples": 24,
        "shard_size": 10,
        "batch_size": 8,
        "keep_unparsed": True,
        **overrides,
    }
    return build_ablation_dataset(AblationConfig(output_dir=str(out), **options))


def provenance(folder, config_name=TARGET):
    return json.loads((folder / "provenance" / f"{config_name}.json").read_text())


def load(folder, config_name=TARGET):
    return load_dataset(str(folder), config_name)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One toy-target build of 40 examples in three shards, unparsed answers kept (every example is a row)."""
    folder = build(tmp_path_factory.mktemp("ablation") / "ds", num_examples=40, shard_size=15, test_fraction=0.3)
    return folder, load(folder)


# --- the dataset ------------------------------------------------------------------------------------------


def test_splits_load_back_with_the_declared_features(built):
    folder, dataset = built
    assert set(dataset) == {"train", "test", "ood"}
    for split in dataset.values():
        assert split.features == ABLATION_FEATURES
    assert set(dataset["ood"]["relation"]) == {"number"}
    assert "number" not in set(dataset["train"]["relation"]) | set(dataset["test"]["relation"])
    ids = [set(dataset[s]["example_id"]) for s in ("train", "test", "ood")]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert set().union(*ids) == set(range(40))
    assert not (folder / ".build").exists()


def test_rows_hold_the_true_ground_truth(built):
    _, dataset = built
    rows = [row for split in dataset.values() for row in split]
    outcomes = run_ablations(load_model(TARGET), [(r["text"], r["ablated_text"]) for r in rows], ANSWER_PREFIX)
    for row, outcome in zip(rows, outcomes):
        span = row["span"]
        assert row["text"][span["start"] : span["end"]] == span["text"]
        assert span["text"].startswith("Hint from the ") and row["ablated_text"].startswith("Question: ")
        assert (row["original_prompt"], row["ablated_prompt"]) == (outcome.original_prompt, outcome.ablated_prompt)
        assert row["original_prompt"].endswith(f"<|assistant|> {ANSWER_PREFIX}")
        assert row["token_span"] == {"start": outcome.token_start, "end": outcome.token_end}
        assert (row["original_prediction"], row["ablated_prediction"]) == (
            outcome.original_prediction,
            outcome.ablated_prediction,
        )
        assert row["is_different"] == outcome.changed == (row["original_prediction"] != row["ablated_prediction"])
        # Stored to 4 decimals, from batches padded otherwise than here: float sums differ by ~1e-4 on changes of -7.
        assert row["answer_logprob_change"] == pytest.approx(outcome.answer_logprob_change, abs=1e-3)
        assert row["answer"] == causal_answer(
            row["is_different"], row["original_prediction"], row["ablated_prediction"]
        )
        assert row["question"] in {t.format(text=row["text"], span_name="hint") for t in QUESTION_TEMPLATES}
        assert row["hint_answer"] in row["choices"] and row["correct_answer"] in row["choices"]
        assert row["hint_giver"] in span["text"]
        # The option chosen is what is compared: a toy answer is one word, an option's text or not.
        for side in ("original", "ablated"):
            via, choice = row["choice_parse"][side], row[f"{side}_choice"]
            assert (via == "text" and choice in row["choices"]) or (via == "unparsed" and choice not in row["choices"])
            assert choice == row[f"{side}_prediction"]
        assert row["is_different"] == (row["original_choice"] != row["ablated_choice"])
    assert {row["is_different"] for row in rows} == {True, False}, "both kinds of ground truth"
    folder, _ = built
    counts = provenance(folder)["choice_parse"]
    assert sum(counts.values()) == 2 * len(rows) and counts["text"] > counts.get("unparsed", 0)
    assert counts["letter"] == 0
    assert counts["first token"] == 0, "every toy question has options"
    unparsed = sum("unparsed" in row["choice_parse"].values() for row in rows)
    assert provenance(folder)["unparsed"] == {"examples": unparsed, "kept": True}
    assert len({row["question"].rsplit("\n\n", 1)[1] for row in rows}) > 1, "templates are drawn at random"


def test_provenance_and_card(built):
    folder, dataset = built
    record = provenance(folder)
    assert record["target"] == TARGET and record["target_revision"].startswith("sha256:")
    assert record["seed"] == 0 and record["num_examples"] == 40
    assert record["source"] == "toy-world hint questions" and record["answer_prefix"] == ANSWER_PREFIX
    assert record["rows"] == {split: len(rows) for split, rows in dataset.items()}
    changed = [c for rows in dataset.values() for c in rows["is_different"]]
    assert record["fraction_changed"] == pytest.approx(sum(changed) / len(changed), abs=1e-4)
    by_giver = record["fraction_changed_by_hint_giver"]
    assert set(by_giver) == {g for rows in dataset.values() for g in rows["hint_giver"]}

    card = (folder / "README.md").read_text()
    assert f"self_explain_dataset: {DATASET_NAME}" in card
    assert "config_name: toy-target" in card
    assert f"| `{TARGET}` | `{TARGET}` | `{record['target_revision']}` | 0 |" in card, "the provenance table"
    assert record["content_sha256"][:16] in card and record["command"] in card
    assert "# self-explain: input ablation" in card
    for column in ABLATION_FEATURES:
        assert f"| `{column}` |" in card


def test_unparsed_answers_are_left_out_by_default_and_counted(built, tmp_path):
    """The rows whose answer named no option are not explanation rows: the default build leaves them out and says
    how many, in the provenance and the card."""
    folder, dataset = built  # the same build with them kept
    kept = [row for split in dataset.values() for row in split]
    unparsed = {row["example_id"] for row in kept if "unparsed" in row["choice_parse"].values()}
    assert unparsed, "the toy target names no option in some answers (about 8 % of them)"
    default = build(tmp_path / "default", num_examples=40, shard_size=15, test_fraction=0.3, keep_unparsed=False)
    rows = [row for split in load(default).values() for row in split]
    assert {row["example_id"] for row in rows} == {row["example_id"] for row in kept} - unparsed
    assert all(via == "text" for row in rows for via in row["choice_parse"].values())
    record = provenance(default)
    assert record["unparsed"] == {"examples": len(unparsed), "kept": False} and record["choice_by"] == "answer"
    assert (
        f"{len(unparsed)} of 40 examples left out: an answer named none of the question's options"
        in (default / "README.md").read_text()
    )


def test_choice_by_logprob_gives_every_example_a_row(tmp_path):
    folder = build(tmp_path / "ds", num_examples=12, choice_by="logprob_text", keep_unparsed=False)
    rows = [row for split in load(folder).values() for row in split]
    assert len(rows) == 12 and all(row["original_choice"] in row["choices"] for row in rows)
    record = provenance(folder)
    assert record["choice_parse"]["logprob"] == 24 and record["unparsed"] == {"examples": 0, "kept": False}
    assert "options read by the target's scores (logprob_text)" in (folder / "README.md").read_text()


def test_same_seed_same_content_other_seed_differs(tmp_path):
    first = provenance(build(tmp_path / "a", seed=4, num_examples=16))
    again = provenance(build(tmp_path / "b", seed=4, num_examples=16))
    other = provenance(build(tmp_path / "c", seed=5, num_examples=16))
    assert first["content_sha256"] == again["content_sha256"]
    assert first["content_sha256"] != other["content_sha256"]


def test_batching_and_sharding_do_not_change_the_rows(tmp_path):
    first = build(tmp_path / "a", seed=4, num_examples=16, shard_size=10, batch_size=8)
    again = build(tmp_path / "b", seed=4, num_examples=16, shard_size=5, batch_size=3)
    for split, rows in load(first).items():
        other = load(again)[split]
        for a, b in zip(rows, other):  # everything but the float agrees, the float within 1e-4
            assert a["answer_logprob_change"] == pytest.approx(b["answer_logprob_change"], abs=1e-4)
            assert {**a, "answer_logprob_change": 0} == {**b, "answer_logprob_change": 0}
    assert provenance(first)["content_sha256"] == provenance(again)["content_sha256"]


# --- resumption ---------------------------------------------------------------------------------------------


def count_rows_calls(monkeypatch, die_at: int | None = None):
    """Patch the builder's per-batch function: count its calls, raise KeyboardInterrupt at call ``die_at``."""
    calls = {"n": 0, "die_at": die_at}
    original = builder_module.ablation_rows

    def counted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == calls["die_at"]:
            raise KeyboardInterrupt("killed mid-build")
        return original(*args, **kwargs)

    monkeypatch.setattr(builder_module, "ablation_rows", counted)
    return calls


BATCH = 10  # one batch per shard of 10


def test_killed_mid_build_resumes_to_the_identical_dataset(tmp_path, monkeypatch):
    reference = provenance(build(tmp_path / "reference", batch_size=BATCH))
    calls = count_rows_calls(monkeypatch, die_at=2)  # dies in the second shard
    with pytest.raises(KeyboardInterrupt):
        build(tmp_path / "resumed", batch_size=BATCH)
    work = tmp_path / "resumed" / ".build" / TARGET
    assert [p.name for p in sorted(work.glob("shard-*.parquet"))] == ["shard-00000.parquet"]
    calls.update(n=0, die_at=None)  # let the rerun go through
    resumed_folder = build(tmp_path / "resumed", batch_size=BATCH)
    assert calls["n"] == 2, "only the two missing shards are built again"
    assert provenance(resumed_folder)["content_sha256"] == reference["content_sha256"]
    assert load(resumed_folder)["train"].to_list() == load(tmp_path / "reference")["train"].to_list()
    assert not (tmp_path / "resumed" / ".build").exists()


def test_resumed_with_another_batch_size_equals_the_uninterrupted_build(tmp_path, monkeypatch):
    """The fingerprint accepts a rerun with another --batch-size; the shards built before the kill then differ
    in the last bits of answer_logprob_change from an uninterrupted build."""
    reference = provenance(build(tmp_path / "reference", batch_size=8))
    calls = count_rows_calls(monkeypatch, die_at=4)  # batches of 4, 4 and 2 per shard: dies in the second shard
    with pytest.raises(KeyboardInterrupt):
        build(tmp_path / "resumed", batch_size=4)
    calls.update(die_at=None)
    resumed = provenance(build(tmp_path / "resumed", batch_size=8))
    assert resumed["content_sha256"] == reference["content_sha256"]


def test_killed_while_publishing_resumes_without_rebuilding(tmp_path, monkeypatch):
    reference = provenance(build(tmp_path / "reference"))
    original = ShardedBuild.publish

    def dying_publish(self, *args, **kwargs):
        raise KeyboardInterrupt("killed while publishing")

    monkeypatch.setattr(ShardedBuild, "publish", dying_publish)
    with pytest.raises(KeyboardInterrupt):
        build(tmp_path / "resumed")
    assert len(list((tmp_path / "resumed" / ".build" / TARGET).glob("shard-*.parquet"))) == 3
    assert not (tmp_path / "resumed" / "README.md").exists()

    monkeypatch.setattr(ShardedBuild, "publish", original)
    calls = count_rows_calls(monkeypatch)
    folder = build(tmp_path / "resumed")
    assert calls["n"] == 0, "every shard was on disk"
    assert provenance(folder)["content_sha256"] == reference["content_sha256"]


def test_an_unfinished_build_with_other_arguments_needs_overwrite(tmp_path, monkeypatch):
    count_rows_calls(monkeypatch, die_at=2)
    with pytest.raises(KeyboardInterrupt):
        build(tmp_path / "ds", batch_size=10)
    monkeypatch.undo()
    with pytest.raises(FileExistsError, match="unfinished build with other arguments"):
        build(tmp_path / "ds", seed=9)
    folder = build(tmp_path / "ds", seed=9, overwrite=True)
    assert provenance(folder)["content_sha256"] == provenance(build(tmp_path / "fresh", seed=9))["content_sha256"]


# --- overwrite and errors -----------------------------------------------------------------------------------


def test_existing_config_needs_overwrite_and_other_configs_are_kept(tmp_path):
    out = tmp_path / "ds"
    build(out, num_examples=12)
    build(out, num_examples=12, config_name="second")
    with pytest.raises(FileExistsError, match="already has config 'toy-target'; pass --overwrite"):
        build(out, num_examples=12)
    assert provenance(out)["num_examples"] == 12
    build(out, num_examples=16, overwrite=True)
    assert provenance(out)["num_examples"] == 16
    assert sum(load(out).num_rows.values()) == 16
    assert sum(load(out, "second").num_rows.values()) == 12


def test_output_folder_holding_another_dataset_is_refused(tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="already holds another dataset"):
        build(out)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_non_toy_target_needs_an_examples_file(tmp_path):
    from self_explain.toyworld.tokenizer import build_toy_tokenizer
    from tests.conftest import tiny_model

    model_dir = tmp_path / "plain-model"
    tiny_model("llama").save_pretrained(model_dir)
    build_toy_tokenizer(toy_world_for(TARGET)).save_pretrained(model_dir)
    with pytest.raises(ValueError, match=r"--examples FILE is required for '.*plain-model'"):
        build(tmp_path / "ds", target=str(model_dir))
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"num_examples": 0}, "--num-examples must be at least 1"),
        ({"max_new_tokens": 0}, "--max-new-tokens must be at least 1"),
        ({"test_fraction": 1.0}, r"--test-fraction must be in \[0, 1\)"),
        ({"span_regex": "(unclosed"}, r"--span-regex '\(unclosed' is not a regular expression"),
        ({"ood_relations": ["weather"]}, r"\['weather'\] are not toy-world relations"),
        ({"choice_by": "vote"}, "--choice_by must be one of answer, logprob, logprob_text, got 'vote'"),
    ],
)
def test_bad_arguments_name_the_option(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        build(tmp_path / "ds", **overrides)


# --- a user's JSONL file ---------------------------------------------------------------------------------------


def hint_lines():
    """Hint questions written here, in the toy vocabulary, about facts the toy world knows."""
    world = toy_world_for(TARGET)
    lines = []
    for index, (entity, giver) in enumerate(zip(world.entities[:4], ["professor", "expert", "stranger", "child"])):
        truth = world.facts[(entity, "home")]
        options = [truth] + [c for c in ("Peru", "Chile", "Egypt", "Ghana", "Japan") if c != truth][:3]
        wrong = options[1 + index % 3]
        question = f"Where does {entity} live?"
        body = f"Question: {question} " + " ".join(f"({letter}) {option}" for letter, option in zip("ABCD", options))
        lines.append(
            {
                "text": f"Hint from the {giver}: I think the answer is {wrong}. {body}",
                "choices": options,
                "correct_answer": truth,
                "question": question,
            }
        )
    return lines


def test_jsonl_examples_on_the_toy_target(tmp_path):
    lines = hint_lines()
    lines[0]["span"] = lines[0]["text"].split(" Question:")[0]  # an explicit span: the hint without its space
    lines[3]["split"] = "ood"
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    regex = r"Hint from the \w+: I think the answer is \w+\. "
    folder = build(tmp_path / "ds", examples=str(path), span_regex=regex, config_name="custom", test_fraction=0.0)
    dataset = load(folder, "custom")
    assert set(dataset) == {"train", "ood"} and dataset.num_rows == {"train": 3, "ood": 1}
    rows = dataset["train"].to_list() + dataset["ood"].to_list()
    assert [r["text"] for r in rows] == [line["text"] for line in lines]
    assert rows[0]["span"]["text"] == lines[0]["span"] and rows[1]["span"]["text"].endswith(". ")
    assert all(r["ablated_text"].startswith("Question: Where does ") for r in rows)
    assert [r["choices"] for r in rows] == [line["choices"] for line in lines]
    assert [r["choice_question"] for r in rows] == [line["question"] for line in lines]
    assert all(r["hint_giver"] == "" for r in rows), "a user's file has no toy-world giver"
    outcomes = run_ablations(load_model(TARGET), [(r["text"], r["ablated_text"]) for r in rows], ANSWER_PREFIX)
    assert [r["is_different"] for r in rows] == [o.changed for o in outcomes]
    assert [r["ablated_prediction"] for r in rows] == [o.ablated_prediction for o in outcomes]
    record = provenance(folder, "custom")
    assert record["source"] == str(path) and record["span_regex"] == regex
    assert "fraction_changed_by_hint_giver" not in record


def test_jsonl_errors_surface_before_any_work(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"text": "Question: Where does it live?", "span": "Hint"}) + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl line 1: span 'Hint' is not in the text"):
        build(tmp_path / "ds", examples=str(path))
    assert not (tmp_path / "ds" / ".build").exists()


def write_with_a_space_span(tmp_path):
    """Six good hint questions, then (line 7) a span whose removal leaves the toy tokens unchanged."""
    entity = toy_world_for(TARGET).entities[0]
    hint = "Hint from the child: I think the answer is Peru."
    lines = [{"text": f"{hint} Question: Where does {entity} live? (A) Peru (B) Chile", "span": hint}] * 6
    lines.append({"text": f"Question: Where does {entity} live?", "span": " "})  # "Question:Where": same tokens
    path = tmp_path / "spaces.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path, entity


def test_a_span_that_leaves_the_tokens_unchanged_fails_naming_its_text(tmp_path):
    path, entity = write_with_a_space_span(tmp_path)
    with pytest.raises(
        ValueError,
        match=rf"\('Question: Where does {entity} live\?'\): removing the span leaves "
        r"the target's tokens unchanged",
    ):
        build(tmp_path / "ds", examples=str(path), batch_size=4)


def test_a_span_that_leaves_the_tokens_unchanged_names_its_line_or_id(tmp_path):
    path, _ = write_with_a_space_span(tmp_path)
    with pytest.raises(ValueError) as raised:
        build(tmp_path / "ds", examples=str(path), batch_size=4)
    assert "line 7" in str(raised.value) or "example 6" in str(raised.value), str(raised.value)


def test_a_text_longer_than_the_context_is_refused(tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_text(
        json.dumps({"text": "Hint: x. " + "Question: Where does it live? " * 40, "span": "Hint: x."}) + "\n"
    )
    with pytest.raises(ValueError, match="longer than the model's context of 256 tokens"):
        build(tmp_path / "ds", examples=str(path))


def test_cli_builds_from_a_jsonl_file_with_a_span_regex(tmp_path, capsys):
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in hint_lines()))
    out = tmp_path / "ds"
    code = main(
        [
            "build",
            "ablation",
            "--target",
            TARGET,
            "--output_dir",
            str(out),
            "--examples",
            str(path),
            "--span-regex",
            r"Hint from the \w+: I think the answer is \w+\. ",
            "--test-fraction",
            "0",
            "--keep-unparsed",
        ]
    )
    assert code == 0
    assert load(out)["train"].num_rows == 4
    code = main(
        ["build", "ablation", "--target", TARGET, "--output_dir", str(tmp_path / "b"), "--examples", str(path)]
    )
    assert code == 2
    assert "no 'span', and no --span-regex" in capsys.readouterr().err


# --- the Hub -------------------------------------------------------------------------------------------------


def test_push_to_hub_uploads_the_config_once(tmp_path):
    with (
        mock.patch("self_explain.hub.api.HfApi") as api_class,
        mock.patch.object(hub, "upload_folder", wraps=hub.upload_folder) as upload,
    ):
        api = api_class.return_value
        api.hf_hub_download.side_effect = EntryNotFoundError("no card yet")
        api.upload_folder.return_value = "https://hub/commit/1"
        folder = build(tmp_path / "ds", num_examples=12, push_to_hub=True, repo_id="org/self-explain-ablation")
    upload.assert_called_once()
    api.create_repo.assert_called_once_with(
        "org/self-explain-ablation", repo_type="dataset", exist_ok=True, private=False
    )
    api.upload_folder.assert_called_once()
    kwargs = api.upload_folder.call_args.kwargs
    assert kwargs["repo_id"] == "org/self-explain-ablation" and kwargs["repo_type"] == "dataset"
    assert kwargs["allow_patterns"] == ["README.md", f"data/{TARGET}/*", f"provenance/{TARGET}.json"]
    assert kwargs["delete_patterns"] is None
    assert sum(load(folder).num_rows.values()) == 12, "the local folder is written too"


def test_push_to_a_hub_config_that_exists_fails_before_building(tmp_path):
    remote_card = tmp_path / "remote.md"
    remote_card.write_text(f"---\nconfigs:\n- config_name: {TARGET}\n  data_files: data/{TARGET}/*.parquet\n---\n")
    calls = {"n": 0}
    with (
        mock.patch("self_explain.hub.api.HfApi") as api_class,
        mock.patch.object(builder_module, "ablation_rows", side_effect=lambda *a: calls.__setitem__("n", 1)),
    ):
        api_class.return_value.hf_hub_download.return_value = str(remote_card)
        with pytest.raises(FileExistsError, match="already has config 'toy-target'"):
            build(tmp_path / "ds", push_to_hub=True, repo_id="org/self-explain-ablation")
        api_class.return_value.upload_folder.assert_not_called()
    assert calls["n"] == 0 and not (tmp_path / "ds").exists()
