"""The one build loop (``self_explain.tasks.build``) under faults: shards written as one unit, a damaged shard
rebuilt, resuming reported, and two builds into one folder at once (two real processes)."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datasets import Features, Value, load_dataset
from filelock import FileLock

from self_explain.hub.datasets import (
    FOLDER_LOCK,
    FolderBusyError,
    folder_lock,
    read_card_configs,
)
from self_explain.tasks.ablation import builder as ablation_builder
from self_explain.tasks.ablation.builder import build_ablation_dataset
from self_explain.tasks.ablation.config import AblationConfig
from self_explain.tasks.shards import (
    SKIPPED_METADATA_KEY,
    BuildInProgressError,
    ShardedBuild,
)

TARGET = "toy-target"


def build(out, **overrides):
    options = {"target": TARGET, "num_examples": 24, "shard_size": 10, "batch_size": 10, **overrides}
    return build_ablation_dataset(AblationConfig(output_dir=str(out), **options))


def provenance(folder, config_name=TARGET):
    return json.loads((Path(folder) / "provenance" / f"{config_name}.json").read_text())


# --- a shard is one file -------------------------------------------------------------------------------------


class OneProcess:
    is_main_process = is_local_main_process = True
    num_processes, process_index = 1, 0

    def wait_for_everyone(self):
        pass


def test_a_shard_and_its_skipped_count_are_one_file(tmp_path):
    features = Features({"x": Value("int64")})
    sharded = ShardedBuild("self-explain-test", "c", tmp_path / "ds", features)
    num_shards = sharded.build_shards(
        list(range(5)),
        2,
        "f" * 16,
        lambda items: ([{"x": i} for i in items if i % 2], sum(1 for i in items if not i % 2)),
        OneProcess(),
    )
    assert num_shards == 3
    assert sorted(p.name for p in sharded.work.iterdir()) == [
        "manifest.json",
        "shard-00000.parquet",
        "shard-00001.parquet",
        "shard-00002.parquet",
    ]
    assert [sharded.shard_skipped(k) for k in range(3)] == [1, 1, 1]
    rows, skipped = sharded.read_shards(num_shards)
    assert rows["x"] == [1, 3] and skipped == 3


def _rows_of(items):
    return [{"x": i} for i in items], 0


@pytest.mark.parametrize("damage", [b'{"fingerprint": "abc', b"\xff\xfe", b"[]", b'{"num_items": 3}'])
def test_a_damaged_manifest_is_named_and_overwrite_clears_it(tmp_path, damage):
    features = Features({"x": Value("int64")})
    sharded = ShardedBuild("self-explain-test", "c", tmp_path / "ds", features)
    sharded.build_shards(list(range(4)), 2, "f" * 16, _rows_of, OneProcess())
    manifest = sharded.work / "manifest.json"
    manifest.write_bytes(damage)
    with pytest.raises(
        ValueError,
        match=rf"the build manifest {manifest} is damaged \(.*\); pass --overwrite to "
        r"start the build again",
    ):
        sharded.build_shards(list(range(4)), 2, "f" * 16, _rows_of, OneProcess())
    again = ShardedBuild("self-explain-test", "c", tmp_path / "ds", features, overwrite=True)
    calls = []
    again.build_shards(list(range(4)), 2, "f" * 16, lambda items: calls.append(items) or _rows_of(items), OneProcess())
    assert len(calls) == 2, "its shards were built again"
    assert json.loads(manifest.read_text()) == {"fingerprint": "f" * 16, "num_items": 4}


def test_the_manifest_is_written_atomically_once_per_build(tmp_path, monkeypatch):
    from self_explain.tasks import shards

    written = []
    real = shards.write_atomically
    monkeypatch.setattr(
        shards, "write_atomically", lambda path, write: written.append(Path(path).name) or real(path, write)
    )
    sharded = ShardedBuild("self-explain-test", "c", tmp_path / "ds", Features({"x": Value("int64")}))
    sharded.build_shards(list(range(4)), 2, "f" * 16, _rows_of, OneProcess())
    sharded.build_shards(list(range(4)), 2, "f" * 16, _rows_of, OneProcess())  # a resume: the manifest stays
    assert written.count("manifest.json") == 1


def test_a_missing_shard_at_read_back_is_named(tmp_path):
    sharded = ShardedBuild("self-explain-test", "c", tmp_path / "ds", Features({"x": Value("int64")}))
    sharded.work.mkdir(parents=True)
    sharded.write_shard(0, [{"x": 1}], 0)
    with pytest.raises(FileNotFoundError, match=r"lacks complete shards shard-00001.parquet; rerun the same command"):
        sharded.read_shards(2)


def test_a_kill_between_shard_files_is_resumed_and_the_damaged_shards_rebuilt(tmp_path, monkeypatch, caplog):
    """The half-written states a kill can leave (a truncated shard, a temporary file, a shard without its skipped
    count as the old two-file format left it) are rebuilt on resume; complete shards are reused and counted."""
    reference = provenance(build(tmp_path / "reference"))
    calls = {"n": 0, "die_at": 2}
    original = ablation_builder.ablation_rows

    def counted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == calls["die_at"]:
            raise KeyboardInterrupt("killed mid-build")
        return original(*args, **kwargs)

    monkeypatch.setattr(ablation_builder, "ablation_rows", counted)
    with pytest.raises(KeyboardInterrupt):
        build(tmp_path / "resumed")
    work = tmp_path / "resumed" / ".build" / TARGET
    first = work / "shard-00000.parquet"
    assert first.is_file()
    # shard 1: killed while writing (a truncated file, and the writer's temporary file)
    (work / "shard-00001.parquet").write_bytes(first.read_bytes()[:100])
    (work / ".shard-00001.parquet.x1y2.tmp").write_bytes(b"PAR1")
    # shard 2: the old format's half state, parquet without its skipped count (and shard 0's rows, to show it is
    # not read back)
    table = pq.read_table(first)
    pq.write_table(
        table.replace_schema_metadata({k: v for k, v in table.schema.metadata.items() if k != SKIPPED_METADATA_KEY}),
        work / "shard-00002.parquet",
    )

    calls.update(n=0, die_at=None)
    with caplog.at_level(logging.INFO, logger="self_explain"):
        folder = build(tmp_path / "resumed")
    assert calls["n"] == 2, "shards 1 and 2 are built again, shard 0 is reused"
    assert "1 of 3 shards reused, 2 to build" in caplog.text
    assert caplog.text.count("is damaged or incomplete: building it again") == 2
    assert provenance(folder)["content_sha256"] == reference["content_sha256"]
    assert not (tmp_path / "resumed" / ".build").exists()


def test_overwrite_after_a_kill_between_shard_files_starts_again(tmp_path, monkeypatch):
    monkeypatch.setattr(ablation_builder, "ablation_rows", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        build(tmp_path / "ds")
    work = tmp_path / "ds" / ".build" / TARGET
    (work / "shard-00000.parquet").write_bytes(b"PAR1 half")
    (work / "shard-00000.skipped").write_text("")  # the old format's half-written count
    monkeypatch.undo()
    folder = build(tmp_path / "ds", seed=3, overwrite=True)
    assert provenance(folder)["content_sha256"] == provenance(build(tmp_path / "fresh", seed=3))["content_sha256"]


# --- locks -----------------------------------------------------------------------------------------------------


def test_a_build_of_a_config_another_build_holds_is_refused_naming_the_folder(tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    other = FileLock(str(out / f".build-{TARGET}.lock"), timeout=0)
    other.acquire()
    try:
        with pytest.raises(
            BuildInProgressError,
            match=rf"another build of config 'toy-target' is writing into "
            rf"output folder {out}",
        ):
            build(out)
    finally:
        other.release()
    assert not (out / ".build").exists()
    folder = build(out, num_examples=6)  # once the other build is gone
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "data", "provenance"], "no lock file is left"


def test_the_card_waits_for_the_folder_lock_and_names_the_folder_when_it_times_out(tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    with folder_lock(out):
        with pytest.raises(FolderBusyError, match=rf"output folder {out} is being written by another process"):
            with folder_lock(out, timeout=0.2):
                pass
    assert not (out / FOLDER_LOCK).exists()


def cli_build(out: Path, *options: str) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "self_explain.cli",
        "build",
        "ablation",
        "--target",
        TARGET,
        "--output_dir",
        str(out),
        "--num-examples",
        "12",
        "--shard-size",
        "4",
        "--batch-size",
        "4",
        "--keep_unparsed",
        *options,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def finish(process: subprocess.Popen) -> tuple[int, str]:
    _, err = process.communicate(timeout=600)
    return process.returncode, err


@pytest.mark.slow
def test_two_processes_building_other_configs_into_one_folder_both_land_in_the_card(tmp_path):
    out = tmp_path / "ds"
    first, second = cli_build(out, "--config-name", "first"), cli_build(out, "--config-name", "second", "--seed", "1")
    results = [finish(first), finish(second)]
    assert [code for code, _ in results] == [0, 0], [err for _, err in results]
    assert sorted(config["config_name"] for config in read_card_configs(out / "README.md")) == ["first", "second"]
    for name in ("first", "second"):
        assert sum(load_dataset(str(out), name).num_rows.values()) == 12
        assert provenance(out, name)["content_sha256"]
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "data", "provenance"]


@pytest.mark.slow
def test_two_processes_building_the_same_config_one_wins_the_other_is_refused_clearly(tmp_path):
    out = tmp_path / "ds"
    results = [finish(process) for process in (cli_build(out), cli_build(out))]
    codes = sorted(code for code, _ in results)
    assert codes in ([0, 0], [0, 2]), [err[-2000:] for _, err in results]
    for code, err in results:
        assert "No such file" not in err and "Traceback" not in err
        if code == 2:  # refused while the other one builds, or after it published the config
            assert str(out) in err
            assert "another build of config 'toy-target'" in err or "already has config 'toy-target'" in err
    assert sum(load_dataset(str(out), TARGET).num_rows.values()) == 12
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "data", "provenance"]
