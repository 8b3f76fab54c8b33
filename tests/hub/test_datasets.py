import json
import logging
import os
import re
import tempfile
from pathlib import Path
from unittest import mock

import pytest
from datasets import Dataset, DatasetDict, load_dataset
from huggingface_hub import DatasetCard, DatasetCardData
from huggingface_hub.errors import EntryNotFoundError

from self_explain.hub import datasets as hub
from self_explain.hub.datasets import (
    DATASET_MARKER_KEY,
    push_dataset,
    read_card_configs,
    write_dataset_repo,
)

DATASET = "self-explain-test"
TEMPLATE = (
    "---\n{{ card_data }}\n---\n# {{ pretty_name }}\n{{ intro }}\n"
    "{% for c in configs %}| {{ c.name }} | {{ c.provenance.rows }} |\n{% endfor %}"
)


@pytest.fixture
def template(tmp_path):
    path = tmp_path / "template.md"
    path.write_text(TEMPLATE)
    return path


def rows(n: int, offset: int = 0) -> Dataset:
    return Dataset.from_dict({"text": [f"row {i}" for i in range(offset, offset + n)], "label": list(range(n))})


def write(folder, template, config_name, n_train=4, n_test=2, overwrite=False):
    return write_dataset_repo(
        folder,
        dataset_name=DATASET,
        config_name=config_name,
        splits={"train": rows(n_train), "test": rows(n_test, offset=100)},
        card_template=template,
        card_kwargs={"pretty_name": "Test set", "intro": "Made in a test."},
        provenance={"rows": n_train + n_test, "target": config_name},
        overwrite=overwrite,
    )


def load(folder, name) -> DatasetDict:
    # A fresh cache for every load, so an overwritten config can never come back from the cache.
    return load_dataset(str(folder), name, cache_dir=tempfile.mkdtemp(dir=Path(folder).parent))


def config_names(readme) -> list[str]:
    return [c["config_name"] for c in read_card_configs(readme)]


def test_two_configs_load_and_share_one_card(tmp_path, template):
    folder = tmp_path / "out"
    assert write(folder, template, "toy-target") == folder
    write(folder, template, "toy-other", n_train=3, n_test=1)

    target, other = load(folder, "toy-target"), load(folder, "toy-other")
    assert isinstance(target, DatasetDict) and set(target) == {"train", "test"}
    assert (target.num_rows, other.num_rows) == ({"train": 4, "test": 2}, {"train": 3, "test": 1})
    assert target["test"]["text"][0] == "row 100"

    assert sorted(unhashed(p.relative_to(folder).as_posix()) for p in folder.rglob("*") if p.is_file()) == [
        "README.md",
        "data/toy-other/test-00000-of-00001-HASH.parquet",
        "data/toy-other/train-00000-of-00001-HASH.parquet",
        "data/toy-target/test-00000-of-00001-HASH.parquet",
        "data/toy-target/train-00000-of-00001-HASH.parquet",
        "provenance/toy-other.json",
        "provenance/toy-target.json",
    ]
    assert json.loads((folder / "provenance/toy-other.json").read_text()) == {"rows": 4, "target": "toy-other"}

    card = DatasetCard.load(folder / "README.md")
    meta = card.data.to_dict()
    assert meta[DATASET_MARKER_KEY] == DATASET
    assert meta["license"] == "apache-2.0" and meta["tags"] == ["self-explain", "interpretability"]
    assert meta["pretty_name"] == "Test set"
    entry = meta["configs"][0]
    assert entry["config_name"] == "toy-target"
    assert [(f["split"], unhashed(f["path"])) for f in entry["data_files"]] == [
        ("train", "data/toy-target/train-00000-of-00001-HASH.parquet"),
        ("test", "data/toy-target/test-00000-of-00001-HASH.parquet"),
    ]
    for data_file in entry["data_files"]:  # the card names the exact files, not a glob
        assert (folder / data_file["path"]).is_file()
    assert config_names(folder / "README.md") == ["toy-target", "toy-other"]
    assert "# Test set" in card.text and "Made in a test." in card.text
    assert "| toy-other | 4 |\n| toy-target | 6 |" in card.text  # sorted by name


def test_rewrite_needs_overwrite_and_keeps_other_config(tmp_path, template):
    folder = tmp_path / "out"
    write(folder, template, "toy-target")
    write(folder, template, "toy-other", n_train=3, n_test=1)

    with pytest.raises(FileExistsError, match=r"out.*toy-target"):
        write(folder, template, "toy-target", n_train=7)
    assert load(folder, "toy-target").num_rows == {"train": 4, "test": 2}

    write(folder, template, "toy-target", n_train=7, n_test=5, overwrite=True)
    assert load(folder, "toy-target").num_rows == {"train": 7, "test": 5}
    assert load(folder, "toy-other").num_rows == {"train": 3, "test": 1}
    assert config_names(folder / "README.md") == ["toy-target", "toy-other"]
    card = DatasetCard.load(folder / "README.md")
    assert "| toy-other | 4 |\n| toy-target | 12 |" in card.text
    assert not [p for p in folder.iterdir() if p.name.startswith(".tmp-")]


def test_overwrite_with_fewer_splits_removes_old_shards(tmp_path, template):
    folder = tmp_path / "out"
    write(folder, template, "toy-target")
    write_dataset_repo(
        folder,
        dataset_name=DATASET,
        config_name="toy-target",
        splits={"train": rows(2)},
        card_template=template,
        card_kwargs={},
        provenance={"rows": 2},
        overwrite=True,
    )
    assert [unhashed(p.name) for p in (folder / "data/toy-target").iterdir()] == ["train-00000-of-00001-HASH.parquet"]
    assert load(folder, "toy-target").num_rows == {"train": 2}


def test_refuses_folder_with_other_content(tmp_path, template):
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"stray.*another dataset"):
        write(stray, template, "toy-target")
    assert [p.name for p in stray.iterdir()] == ["notes.txt"]

    other = tmp_path / "other"
    other.mkdir()
    DatasetCard.from_template(
        DatasetCardData(**{DATASET_MARKER_KEY: "self-explain-ablation"}), template_str="---\n{{ card_data }}\n---\n"
    ).save(other / "README.md")
    with pytest.raises(ValueError, match=r"other.*another dataset.*self-explain-ablation"):
        write(other, template, "toy-target")

    unmarked = tmp_path / "unmarked"
    unmarked.mkdir()
    (unmarked / "README.md").write_text("# my notes\n")
    with pytest.raises(ValueError, match="unmarked"):
        write(unmarked, template, "toy-target")


def test_hidden_entries_do_not_count(tmp_path, template):
    folder = tmp_path / "out"
    (folder / ".build" / "toy-target").mkdir(parents=True)
    (folder / ".build" / "toy-target" / "shard.json").write_text("{}")
    write(folder, template, "toy-target")
    assert load(folder, "toy-target").num_rows == {"train": 4, "test": 2}
    assert (folder / ".build" / "toy-target" / "shard.json").exists()


@pytest.mark.parametrize("failing", ["to_parquet", "os.replace"])
def test_interrupted_write_leaves_previous_state(tmp_path, template, monkeypatch, failing):
    folder = tmp_path / "out"
    write(folder, template, "toy-target")
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}

    if failing == "to_parquet":
        real, calls = Dataset.to_parquet, []

        def flaky(self, *args, **kwargs):
            calls.append(1)
            if len(calls) % 2 == 0:  # the second split of each write
                raise OSError("disk full")
            return real(self, *args, **kwargs)

        monkeypatch.setattr(Dataset, "to_parquet", flaky)
    else:
        monkeypatch.setattr(hub.os, "replace", mock.Mock(side_effect=OSError("disk full")))

    with pytest.raises(OSError, match="disk full"):
        write(folder, template, "toy-target", n_train=9, overwrite=True)
    with pytest.raises(OSError, match="disk full"):
        write(folder, template, "toy-other", n_train=9)
    monkeypatch.undo()

    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []
    assert load(folder, "toy-target").num_rows == {"train": 4, "test": 2}
    assert config_names(folder / "README.md") == ["toy-target"]


def test_write_interrupted_before_the_card_can_be_retried(tmp_path, template, monkeypatch):
    folder = tmp_path / "out"
    write(folder, template, "toy-target")
    real = os.replace

    def fail_on_card(source, target):
        if Path(target).name == "README.md":
            raise OSError("killed")
        return real(source, target)

    monkeypatch.setattr(hub.os, "replace", fail_on_card)
    with pytest.raises(OSError, match="killed"):
        write(folder, template, "toy-other")
    monkeypatch.undo()

    # The new shards are on disk, but no card names them: the folder still reads as before.
    assert config_names(folder / "README.md") == ["toy-target"]
    with pytest.raises(ValueError, match="toy-other"):
        load(folder, "toy-other")
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []
    write(folder, template, "toy-other", n_train=3)  # a rerun needs no overwrite
    assert load(folder, "toy-other").num_rows == {"train": 3, "test": 2}


def _crash_on(monkeypatch, name: str, killed: bool) -> None:
    """``os.replace`` fails when it moves ``name`` into the dataset folder; ``killed``: nothing runs after it (no
    clean-up), as when the process is killed there."""
    real = os.replace

    def replace(source, target):
        if Path(target).name == name and ".tmp-" not in str(target):
            raise OSError("killed")
        return real(source, target)

    monkeypatch.setattr(hub.os, "replace", replace)
    if killed:
        monkeypatch.setattr(hub, "_settle_staging", lambda staging, folder: None)


def test_a_publish_that_succeeds_settles_nothing(tmp_path, template, caplog):
    folder = tmp_path / "out"
    with caplog.at_level(logging.INFO, logger="self_explain"):
        write(folder, template, "toy-target")
        write(folder, template, "toy-target", n_train=5, overwrite=True)
    assert "earlier run" not in caplog.text and "settling" not in caplog.text
    assert [p.name for p in folder.iterdir() if p.name.startswith(".tmp-")] == []


def _provenance(folder, name):
    return json.loads((folder / "provenance" / f"{name}.json").read_text())


@pytest.mark.parametrize("killed", [False, True])
def test_an_overwrite_that_dies_before_the_card_leaves_the_old_config_whole(tmp_path, template, monkeypatch, killed):
    folder = tmp_path / "out"
    write(folder, template, "toy-target")
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    _crash_on(monkeypatch, "README.md", killed)
    with pytest.raises(OSError, match="killed"):
        write(folder, template, "toy-target", n_train=7, overwrite=True)
    monkeypatch.undo()
    assert load(folder, "toy-target").num_rows == {"train": 4, "test": 2}  # the old config, not a broken one
    assert _provenance(folder, "toy-target")["rows"] == 6
    if not killed:  # a failure cleans up after itself: the folder is as it was
        assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    write(folder, template, "toy-other")  # the next writer settles what a killed one left
    assert {
        p: p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and "toy-other" not in str(p) and p.name != "README.md"
    } == {p: b for p, b in before.items() if p.name != "README.md"}
    assert [p.name for p in folder.iterdir() if p.name.startswith(".tmp-")] == []


@pytest.mark.parametrize("killed", [False, True])
def test_an_overwrite_that_dies_after_the_card_gives_the_new_config(tmp_path, template, monkeypatch, killed):
    folder = tmp_path / "out"
    write(folder, template, "toy-target")
    _crash_on(monkeypatch, "toy-target.json", killed)  # the provenance, moved after the card
    with pytest.raises(OSError, match="killed"):
        write(folder, template, "toy-target", n_train=7, overwrite=True)
    monkeypatch.undo()
    assert load(folder, "toy-target").num_rows == {"train": 7, "test": 2}  # the card names the new shards
    # The provenance could not be moved (nor again while cleaning up): its staging folder waits for the next writer.
    assert _provenance(folder, "toy-target")["rows"] == 6 and any(folder.glob(".tmp-*"))
    write(folder, template, "toy-other")  # the next writer finishes the publish
    assert _provenance(folder, "toy-target")["rows"] == 9
    shards = sorted(unhashed(p.name) for p in (folder / "data/toy-target").iterdir())
    assert len(shards) == 2, "the old shards are gone"
    assert load(folder, "toy-target").num_rows == {"train": 7, "test": 2}
    assert [p.name for p in folder.iterdir() if p.name.startswith(".tmp-")] == []


# ----------------------------------------------------------------------------------------------
# push_dataset, against a mocked HfApi
# ----------------------------------------------------------------------------------------------

TOKEN = "hf_SECRETtokenVALUE123"


def remote_card(tmp_path, config_names: list[str]) -> Path:
    configs = [
        {"config_name": name, "data_files": [{"split": "train", "path": f"data/{name}/train-*.parquet"}]}
        for name in config_names
    ]
    card = DatasetCard.from_template(
        DatasetCardData(configs=configs, **{DATASET_MARKER_KEY: DATASET}), template_str="---\n{{ card_data }}\n---\n"
    )
    path = tmp_path / "remote" / "README.md"
    path.parent.mkdir(exist_ok=True)
    card.save(path)
    return path


@pytest.fixture
def fake_hub(tmp_path):
    """A patched HfApi; ``staged`` records what the upload saw: its arguments, README text and files."""
    staged = {}

    def capture(**kwargs):
        folder = Path(kwargs["folder_path"])
        staged.update(kwargs)
        staged["readme"] = folder / "README.md"
        staged["readme_text"] = (folder / "README.md").read_text()
        staged["configs"] = read_card_configs(folder / "README.md")
        staged["files"] = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        return "https://huggingface.co/datasets/org/ds/commit/abc123"

    with mock.patch("self_explain.hub.api.HfApi") as api_class:
        api = api_class.return_value
        api.upload_folder.side_effect = capture
        api.hf_hub_download.return_value = str(remote_card(tmp_path, ["remote-model"]))
        yield api_class, api, staged


@pytest.fixture
def local_folder(tmp_path, template):
    folder = tmp_path / "out"
    write(folder, template, "toy-target")
    write(folder, template, "local-only")
    return folder


def test_push_adds_config_and_keeps_remote_ones(local_folder, fake_hub):
    api_class, api, staged = fake_hub
    readme_before = (local_folder / "README.md").read_text()

    url = push_dataset(local_folder, "org/ds", "toy-target", token=TOKEN, private=True)

    assert url == "https://huggingface.co/datasets/org/ds/commit/abc123"
    api_class.assert_called_once_with(token=TOKEN)
    api.create_repo.assert_called_once_with("org/ds", repo_type="dataset", exist_ok=True, private=True)
    api.upload_folder.assert_called_once()
    assert staged["repo_id"] == "org/ds" and staged["repo_type"] == "dataset"
    assert staged["allow_patterns"] == ["README.md", "data/toy-target/*", "provenance/toy-target.json"]
    assert staged["delete_patterns"] is None
    assert [c["config_name"] for c in staged["configs"]] == ["remote-model", "toy-target"]
    test_file = staged["configs"][1]["data_files"][1]
    assert (test_file["split"], unhashed(test_file["path"])) == (
        "test",
        "data/toy-target/test-00000-of-00001-HASH.parquet",
    )
    assert f"{DATASET_MARKER_KEY}: {DATASET}" in staged["readme_text"]
    assert [unhashed(f) for f in staged["files"]] == [
        "README.md",
        "data/toy-target/test-00000-of-00001-HASH.parquet",
        "data/toy-target/train-00000-of-00001-HASH.parquet",
        "provenance/toy-target.json",
    ]
    assert not staged["readme"].exists(), "the staging folder is removed after the upload"
    assert (local_folder / "README.md").read_text() == readme_before, "the user's folder is left as it was"


def test_push_refuses_existing_remote_config_unless_overwrite(local_folder, fake_hub, tmp_path):
    _, api, staged = fake_hub
    api.hf_hub_download.return_value = str(remote_card(tmp_path, ["toy-target", "remote-model"]))

    with pytest.raises(FileExistsError, match=r"org/ds.*toy-target.*--overwrite"):
        push_dataset(local_folder, "org/ds", "toy-target")
    api.upload_folder.assert_not_called()

    push_dataset(local_folder, "org/ds", "toy-target", overwrite=True)
    assert staged["delete_patterns"] == ["data/toy-target/*"]
    assert [c["config_name"] for c in staged["configs"]] == ["toy-target", "remote-model"]
    assert len(staged["configs"][0]["data_files"]) == 2  # the local entry replaced the remote one


def test_push_to_repo_without_card(local_folder, fake_hub):
    _, api, staged = fake_hub
    api.hf_hub_download.side_effect = EntryNotFoundError("no README.md")
    push_dataset(local_folder, "org/new", "toy-target")
    assert [c["config_name"] for c in staged["configs"]] == ["toy-target"]


def test_push_unknown_config_is_refused_before_any_call(local_folder, fake_hub):
    api_class, _, _ = fake_hub
    with pytest.raises(ValueError, match="missing"):
        push_dataset(local_folder, "org/ds", "missing")
    api_class.assert_not_called()


def test_token_is_never_logged(local_folder, fake_hub, caplog):
    with caplog.at_level(logging.DEBUG):
        push_dataset(local_folder, "org/ds", "toy-target", token=TOKEN)
    assert "org/ds" in caplog.text, "the push logs something, so the check below means something"
    assert TOKEN not in caplog.text


def unhashed(name: str) -> str:
    return re.sub(r"-[0-9a-f]{12}\.parquet$", "-HASH.parquet", name)


def test_a_rebuilt_folder_of_the_same_layout_is_not_served_from_the_cache(tmp_path, template):
    first, second = tmp_path / "a" / "out", tmp_path / "b" / "out"
    write(first, template, "toy-target")
    assert load(first, "toy-target").num_rows == {"train": 4, "test": 2}
    write_dataset_repo(
        second,
        dataset_name=DATASET,
        config_name="toy-target",
        splits={"train": rows(7), "test": rows(1)},
        card_template=template,
        card_kwargs={},
        provenance={"rows": 7},
    )
    assert load(second, "toy-target").num_rows == {"train": 7, "test": 1}
