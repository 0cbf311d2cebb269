"""`geotag-train isn` and `translocator`: a run of `fit` (streamed data, DDP, checkpoints) then the checked bundle.

Both commands write the run configuration `fit` would read (model.method isn / translocator) into a run folder,
train through the same loop and data path as the base model (CSV + image folder, or MP-16 shards with the meta CSV
for locations and scene probabilities) and export the run. At MP-16 scale use `fit --config` under torchrun with
the same keys (trainer/training/example_isn.yaml), then `geotag-train export --run RUN`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geotagger.trainer.data.labels import SkipReport
from geotagger.trainer.export import ExportCheck


@dataclass
class MethodRun:
    """Where a method's photos come from and how long it trains (the arguments the two commands share)."""

    csv_path: Path
    partitioning_paths: Sequence[str]
    images: Path | None = None
    shards: Sequence[str] = ()
    epochs: int = 10
    lr: float = 0.05
    batch_size: int = 32
    num_workers: int = 0
    device: str = "auto"
    runs_dir: Path | None = None
    optim: dict[str, Any] = field(default_factory=dict)


def data_section(run: MethodRun, segmentation_cache: Path | None = None) -> dict[str, Any]:
    """The run config's `train` section: shards with the CSV's locations, or the CSV with its image root."""
    if run.shards:
        data: dict[str, Any] = {"source": "shards", "shards": [str(s) for s in run.shards], "csv": str(run.csv_path)}
    elif run.images is not None:
        data = {"source": "csv", "csv": str(run.csv_path), "images": str(run.images)}
    else:
        raise ValueError("give --images (the folder the CSV's IMG_IDs are relative to) or --shards")
    data["scene_probabilities"] = True
    if segmentation_cache is not None:
        data["segmentation_cache"] = str(segmentation_cache)
    return data


def run_config(run: MethodRun, model: dict[str, Any], data: dict[str, Any], out: Path) -> Any:
    """A validated RunConfig for `fit` (runs under RUNS_DIR, default beside the bundle)."""
    from geotagger.trainer.training.config import config_from_dict

    input_size = int(model["input_size"])
    return config_from_dict({
        "name": out.stem, "runs_dir": str(run.runs_dir or out.parent / "runs"), "train": data,
        "model": {"partitionings": [str(p) for p in run.partitioning_paths],
                  "eval_resize": max(input_size, round(input_size * 8 / 7)), **model},
        "optim": {"epochs": run.epochs, "lr": run.lr, "batch_size": run.batch_size, "num_workers": run.num_workers,
                  "device": run.device, "lr_milestones": [], **run.optim},
    })


def fit_and_export(config: Any, out: Path, model_id: str) -> tuple[Path, ExportCheck, SkipReport]:
    """Train `config`, export its best checkpoint; the skip report counts what the last epoch left out."""
    from geotagger.trainer.method_export import export_run_bundle
    from geotagger.trainer.training.loop import fit

    run_dir = fit(config)
    path, check, evaluation = export_run_bundle(run_dir, out, model_id, crops=1)
    last = evaluation.get("last_epoch", {})
    used, skipped = int(float(last.get("train_images", 0))), int(float(last.get("train_skipped", 0)))
    report = SkipReport(considered=used + skipped)
    if skipped:
        report.counts[f"skipped while training (reasons in {run_dir / 'train.log'})"] = skipped
    return path, check, report


def train_isn_bundle(
    run: MethodRun, out: Path, model_id: str, backbone: str = "tiny", input_size_px: int = 224, pretrained: bool = True,
) -> tuple[Path, ExportCheck, SkipReport]:
    """Train ISNs(S3) on the run's photos (Prob_* > 0.3 per network) and write the checked routing bundle."""
    model = {"method": "isn", "backbone": backbone, "pretrained": pretrained, "input_size": input_size_px}
    return fit_and_export(run_config(run, model, data_section(run), out), out, model_id)
