"""Distributed training: 2 processes under torchrun with gloo on CPU end with identical weights."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.trainer.synthetic import training_setup, write_tar_shards

ROOT = Path(__file__).resolve().parents[2]


def _torchrun(config_path: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "geotagger.trainer.cli.main", "fit", "--config", str(config_path)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("source", ["csv", "shards"])
def test_two_gloo_processes_end_with_identical_weights(tmp_path: Path, source: str) -> None:
    setup = training_setup(tmp_path, n_spots=6, per_spot=20, epochs=2, batch_size=8)
    if source == "shards":
        write_tar_shards(tmp_path, n_shards=3)
        setup["train"] = {"source": "shards", "shards": [str(tmp_path / "shards")], "csv": str(tmp_path / "train.csv"),
                          "shuffle_buffer": 16}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(setup))
    result = _torchrun(tmp_path / "run.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["ranks_identical"] is True
    hashes = summary["weights_sha256_per_rank"]
    assert len(hashes) == 2 and hashes[0] == hashes[1]
    rows = list(csv.DictReader((run_dir / "metrics.csv").read_text().splitlines()))
    images = [float(row["train_images"]) for row in rows]
    # Both ranks together see (nearly) the whole set each epoch: 120 photos, whole batches of 8 per rank.
    assert len(rows) == 2 and all(96 <= n <= 120 for n in images)
