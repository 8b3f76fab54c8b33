"""What a person reads from the command line in a log file: no nested-bar junk, no library noise."""

import os
import subprocess
import sys
from pathlib import Path


def test_a_build_logged_to_a_file_has_no_cursor_moves_and_no_library_noise(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src"), "OMP_NUM_THREADS": "1"}
    with open(tmp_path / "stderr.log", "w") as stderr:  # not a terminal
        subprocess.run(
            [
                sys.executable,
                "-m",
                "self_explain.cli",
                "build",
                "features",
                "--target",
                "toy-target",
                "--output_dir",
                str(tmp_path / "ds"),
                "--num_texts",
                "100",
                "--features_per_layer",
                "6",
                "--shard_size",
                "1",
            ],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            timeout=600,
        )
    log = (tmp_path / "stderr.log").read_text()
    assert "\x1b[A" not in log  # tqdm's cursor-up for nested bars
    assert "INFO self_explain.tasks.shards: wrote" in log  # our own lines stay
    assert "self-explain-features toy-target" in log  # the stage's bar
    for noise in ("Creating parquet", "Generating train split", "Loading weights", "FutureWarning"):
        assert noise not in log
