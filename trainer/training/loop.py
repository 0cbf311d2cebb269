"""The training loop: one process or DDP under torchrun, AMP on GPU, resumable from the latest checkpoint."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, IterableDataset, RandomSampler
from tqdm import tqdm

from geotagger.geocore.geo.hierarchy import Hierarchy
from geotagger.geocore.geo.partitioning import Partitioning
from geotagger.trainer.data.builder import NoUsableDataError, build_dataset
from geotagger.trainer.data.labels import SkipReport
from geotagger.trainer.data.sources import collate_skipping
from geotagger.trainer.data.transforms import ResizeCenterCropTransform, TrainTransform
from geotagger.trainer.training import distributed as dist_utils
from geotagger.trainer.training.config import RunConfig, config_to_dict, load_config, save_config
from geotagger.trainer.training.methods import (
    build_method_model,
    build_optimizer,
    forward,
    location_outputs,
    method_loss,
)
from geotagger.trainer.training.run_folder import (
    BEST,
    LATEST,
    MetricsLog,
    attach_log_file,
    copy_partitionings,
    create_run_dir,
    detach_log_file,
    git_revision,
    load_checkpoint,
    save_checkpoint,
)

LOG = logging.getLogger(__name__)
EpochCallback = Callable[[int, dict[str, Any]], None]


@dataclass
class Session:
    """Everything one training process holds."""

    config: RunConfig
    dist: dist_utils.Distributed
    partitionings: list[Partitioning]
    hierarchy: Hierarchy
    model: nn.Module  # GeoModel, IsnModel or TransLocator (config.model.method)
    wrapped: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    train_loader: DataLoader
    val_loader: DataLoader | None
    run_dir: Path
    metrics: MetricsLog | None = None
    start_epoch: int = 0
    best_metric: float = float("inf")
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def amp(self) -> bool:
        """Mixed precision: asked for and on a GPU."""
        return self.config.optim.amp and self.dist.device.type == "cuda"


def learning_rate(config: RunConfig, epoch: int) -> float:
    """The step schedule: lr x gamma at every milestone reached (epochs counted from 0, as MultiStepLR)."""
    steps = sum(1 for milestone in config.optim.lr_milestones if milestone <= epoch)
    return config.optim.lr * config.optim.lr_gamma**steps


def load_partitionings(paths: list[str]) -> tuple[list[Partitioning], Hierarchy]:
    """Partitionings coarse -> fine and their hierarchy (raises if they are not nested)."""
    partitionings = [Partitioning.read_csv(path) for path in paths]
    return partitionings, Hierarchy(partitionings)


def _loader(dataset: Dataset, config: RunConfig, dist: dist_utils.Distributed, train: bool) -> DataLoader:
    sampler: Any = None
    if not isinstance(dataset, IterableDataset):
        if dist.enabled:
            sampler = DistributedSampler(dataset, dist.world_size, dist.rank, shuffle=train, seed=config.optim.seed,
                                         drop_last=train)
        elif train:
            sampler = RandomSampler(cast(Sized, dataset), generator=torch.Generator())
    workers = config.optim.num_workers
    return DataLoader(dataset, batch_size=config.optim.batch_size, sampler=sampler, num_workers=workers,
                      collate_fn=collate_skipping, drop_last=train, pin_memory=dist.device.type == "cuda",
                      persistent_workers=False)


def build_loaders(config: RunConfig, partitionings: list[Partitioning], dist: dist_utils.Distributed
                  ) -> tuple[DataLoader, DataLoader | None]:
    """Train and validation loaders; every skipped image is counted and logged."""
    size, resize = config.model.input_size, config.model.eval_resize
    train_tf = TrainTransform(size, scale=(config.optim.crop_scale_min, 1.0))
    train_set, report = build_dataset(config.train, partitionings, train_tf, resize, config.optim.seed)
    report.log("training images")
    val_loader = None
    if config.val is not None:
        val_set, val_report = build_dataset(config.val, partitionings, ResizeCenterCropTransform(size, resize), resize,
                                            config.optim.seed)
        val_report.log("validation images")
        val_loader = _loader(val_set, config, dist, train=False)
    return _loader(train_set, config, dist, train=True), val_loader


def _prepare_run_dir(config: RunConfig, dist: dist_utils.Distributed, resume_dir: Path | None) -> Path:
    if resume_dir is not None:
        return resume_dir
    path = ""
    if dist.is_main:
        run_dir = create_run_dir(config.runs_dir, config.name)
        save_config(config, run_dir / "config.yaml")
        (run_dir / "git_revision.txt").write_text(git_revision() + "\n", encoding="utf-8")
        copy_partitionings(config.model.partitionings, run_dir)
        path = str(run_dir)
    return Path(dist_utils.broadcast_string(dist, path))


def build_session(config: RunConfig, dist: dist_utils.Distributed, resume_dir: Path | None) -> Session:
    """Model, optimiser, data and run folder for this process (restored from RUN/checkpoints/latest.pt on resume)."""
    partitionings, hierarchy = load_partitionings(config.model.partitionings)
    torch.manual_seed(config.optim.seed)  # identical initial weights on every rank and on every rerun
    model = build_method_model(config, [len(p) for p in partitionings], config.model.pretrained).to(dist.device)
    wrapped: nn.Module = model
    if dist.enabled:
        wrapped = DistributedDataParallel(model, device_ids=[dist.device.index] if dist.device.type == "cuda" else None)
    optimizer = build_optimizer(config, model)
    scaler = torch.amp.GradScaler("cuda", enabled=config.optim.amp and dist.device.type == "cuda")
    train_loader, val_loader = build_loaders(config, partitionings, dist)
    run_dir = _prepare_run_dir(config, dist, resume_dir)
    session = Session(config, dist, partitionings, hierarchy, model, wrapped, optimizer, scaler, train_loader,
                      val_loader, run_dir)
    if dist.is_main:
        session.extras["log_handler"] = attach_log_file(run_dir)
        hierarchy.write_csv(run_dir / "hierarchy.csv")
        session.metrics = MetricsLog(run_dir / "metrics.csv")
    if resume_dir is not None:
        _restore(session, resume_dir / "checkpoints" / LATEST)
    return session


def _restore(session: Session, path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(f"cannot resume: {path} does not exist")
    state = load_checkpoint(path)
    session.model.load_state_dict(state["model"])
    session.optimizer.load_state_dict(state["optimizer"])
    session.scaler.load_state_dict(state["scaler"])
    session.start_epoch, session.best_metric = int(state["epoch"]), float(state["best_metric"])
    if session.metrics is not None:
        session.metrics.keep_epochs_before(session.start_epoch + 1)
    LOG.info("resumed %s after epoch %d", session.run_dir, session.start_epoch)


def _checkpoint_state(session: Session, epoch: int) -> dict[str, Any]:
    return {
        "model": session.model.state_dict(),
        "optimizer": session.optimizer.state_dict(),
        "scaler": session.scaler.state_dict(),
        "epoch": epoch,
        "best_metric": session.best_metric,
        "config": config_to_dict(session.config),
        "partitionings": [p.name for p in session.partitionings],
        "backbone": session.config.model.backbone,
    }


def _set_epoch(session: Session, epoch: int) -> None:
    lr = learning_rate(session.config, epoch)
    for group in session.optimizer.param_groups:
        group["lr"] = lr
    loader = session.train_loader
    for target in (loader.sampler, loader.dataset):
        if hasattr(target, "set_epoch"):
            target.set_epoch(epoch)
    if isinstance(loader.sampler, RandomSampler) and loader.sampler.generator is not None:
        loader.sampler.generator.manual_seed(session.config.optim.seed + epoch)
    # Augmentation, dropout and worker seeds all come from here: a resumed epoch replays exactly.
    torch.manual_seed(session.config.optim.seed * 1000 + epoch)


def _batch_loss(session: Session, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
    device, method = session.dist.device, session.config.model.method
    with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=session.amp):
        outputs = forward(method, session.wrapped, batch, device)
    return method_loss(session.config, session.model, outputs, batch, device)


def _progress(session: Session, epoch: int) -> tqdm:
    loader = session.train_loader
    total = None if isinstance(loader.dataset, IterableDataset) else len(loader)
    cap = session.config.optim.max_steps_per_epoch
    if cap is not None:
        total = min(total, cap) if total is not None else cap
    return tqdm(total=total, desc=f"epoch {epoch + 1}/{session.config.optim.epochs}", unit="batch",
                disable=not session.dist.is_main, file=sys.stderr, dynamic_ncols=True, mininterval=1.0, leave=False)


def _train_step(session: Session, batch: dict[str, Any]) -> dict[str, float]:
    loss, parts = _batch_loss(session, batch)
    session.optimizer.zero_grad(set_to_none=True)
    session.scaler.scale(loss).backward()
    session.scaler.step(session.optimizer)
    session.scaler.update()
    return {"loss": float(loss.detach()), "geo": parts["geo_loss"], "scene": parts["scene_loss"]}


def train_epoch(session: Session, epoch: int) -> dict[str, float]:
    """One pass over the training data; returns the epoch's figures summed over ranks."""
    _set_epoch(session, epoch)
    session.wrapped.train()
    cap = session.config.optim.max_steps_per_epoch
    totals = {"loss": 0.0, "geo": 0.0, "scene": 0.0, "images": 0.0, "skipped": 0.0}
    started, steps, iterator = time.perf_counter(), 0, iter(session.train_loader)
    skips = SkipReport()
    with _progress(session, epoch) as progress:
        while True:
            batch = next(iterator, None) if cap is None or steps < cap else None
            go_on, step = dist_utils.agree_to_step(session.dist, batch is not None, bool(batch and batch["size"]))
            if not go_on:
                break
            assert batch is not None
            totals["skipped"] += len(batch["skipped"])
            for reason, name in batch["skipped"]:
                skips.skip(reason, name)
            if not step:
                continue
            parts = _train_step(session, batch)
            steps, size = steps + 1, batch["size"]
            for key, value in parts.items():
                totals[key] += value * size
            totals["images"] += size
            rate = totals["images"] * session.dist.world_size / max(time.perf_counter() - started, 1e-9)
            progress.set_postfix(loss=f"{totals['loss'] / totals['images']:.3f}", img_s=f"{rate:.1f}")
            progress.update(1)
    summed = dict(zip(totals, dist_utils.sum_over_ranks(session.dist, list(totals.values())), strict=True))
    if skips.skipped:
        skips.considered = int(totals["images"] + totals["skipped"])
        LOG.warning("epoch %d, rank %d: %s", epoch + 1, session.dist.rank, skips.summary("samples"))
    if summed["images"] == 0:
        raise NoUsableDataError(f"epoch {epoch + 1}: no usable training sample ({int(summed['skipped'])} skipped; "
                                "see the log for reasons)")
    seconds = time.perf_counter() - started
    images = max(summed["images"], 1.0)
    return {"train_loss": summed["loss"] / images, "train_geo_loss": summed["geo"] / images,
            "train_scene_loss": summed["scene"] / images, "train_images": summed["images"],
            "train_skipped": summed["skipped"], "images_per_s": summed["images"] / max(seconds, 1e-9),
            "train_seconds": seconds}


@torch.no_grad()
def validate(session: Session) -> dict[str, float]:
    """Validation loss, top-1 class accuracy per partitioning and of the hierarchical prediction (finest cells)."""
    assert session.val_loader is not None
    session.model.eval()
    n_parts = len(session.partitionings)
    sums = np.zeros(3 + n_parts)  # loss*n, n, hierarchical correct, correct per partitioning
    for batch in session.val_loader:
        if not batch["size"]:
            continue
        device = session.dist.device
        outputs = forward(session.config.model.method, session.model, batch, device)
        loss, _ = method_loss(session.config, session.model, outputs, batch, device)
        outputs = location_outputs(session.config, session.model, outputs)
        probabilities = [torch.softmax(outputs[f"geo_{i}"].float(), dim=1).cpu().numpy() for i in range(n_parts)]
        geo = batch["geo"].numpy()
        sums[0] += float(loss) * batch["size"]
        sums[1] += batch["size"]
        hierarchical = session.hierarchy.hierarchical_probabilities(probabilities).argmax(axis=1)
        sums[2] += float((hierarchical == geo[:, -1]).sum())
        for index, probs in enumerate(probabilities):
            sums[3 + index] += float((probs.argmax(axis=1) == geo[:, index]).sum())
    totals = dist_utils.sum_over_ranks(session.dist, sums.tolist())
    count = max(totals[1], 1.0)
    figures = {"val_loss": totals[0] / count, "val_images": totals[1], "val_top1_hierarchy": totals[2] / count}
    for index, partitioning in enumerate(session.partitionings):
        figures[f"val_top1_{partitioning.name}"] = totals[3 + index] / count
    return figures


def _end_epoch(session: Session, epoch: int, figures: dict[str, Any]) -> None:
    metric = figures.get("val_loss", figures["train_loss"])
    improved = metric < session.best_metric
    session.best_metric = min(metric, session.best_metric)
    if session.dist.is_main:
        state = _checkpoint_state(session, epoch + 1)
        save_checkpoint(state, session.run_dir / "checkpoints" / LATEST)
        if improved:
            save_checkpoint(state, session.run_dir / "checkpoints" / BEST)
        assert session.metrics is not None
        session.metrics.append({"epoch": epoch + 1, "lr": learning_rate(session.config, epoch), **figures})
        _tensorboard(session, epoch, figures)
        LOG.info("epoch %d: %s", epoch + 1, ", ".join(f"{k}={v:.4g}" for k, v in figures.items()))


def _tensorboard(session: Session, epoch: int, figures: dict[str, Any]) -> None:
    """Also log the epoch's figures to TensorBoard when asked and installed (metrics.csv is always written)."""
    if not session.config.tensorboard:
        return
    if "tensorboard" not in session.extras:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            LOG.warning("tensorboard: true, but the tensorboard package is not installed; metrics.csv only")
            session.extras["tensorboard"] = None
        else:
            session.extras["tensorboard"] = SummaryWriter(str(session.run_dir / "tensorboard"))
    writer = session.extras["tensorboard"]
    if writer is not None:
        for key, value in figures.items():
            writer.add_scalar(key, value, epoch + 1)
        writer.flush()


def _finish(session: Session) -> dict[str, Any]:
    """Make ranks agree on BatchNorm statistics and record each rank's weight hash in RUN/summary.json."""
    dist_utils.broadcast_buffers(session.dist, session.model)
    hashes = dist_utils.gather_strings(session.dist, dist_utils.state_sha256(session.model))
    summary = {"world_size": session.dist.world_size, "weights_sha256_per_rank": hashes,
               "ranks_identical": len(set(hashes)) == 1, "best_metric": session.best_metric,
               "epochs": session.config.optim.epochs}
    if session.dist.is_main:
        import json

        (session.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        if not summary["ranks_identical"]:
            LOG.error("ranks ended with different weights: %s", hashes)
    return summary


def fit(config: RunConfig, resume_dir: str | Path | None = None, on_epoch_end: EpochCallback | None = None) -> Path:
    """Train as `config` says (or continue RUN_DIR); returns the run folder.

    `on_epoch_end(epoch, figures)` runs after each epoch's checkpoint is written (progress hooks, tests).
    """
    dist = dist_utils.init_distributed(config.optim.device)
    session: Session | None = None
    finished = False
    try:
        session = build_session(config, dist, Path(resume_dir) if resume_dir else None)
        LOG.info("run folder %s; %d process(es) on %s", session.run_dir, dist.world_size, dist.device)
        for epoch in range(session.start_epoch, config.optim.epochs):
            figures = train_epoch(session, epoch)
            if session.val_loader is not None:
                dist_utils.broadcast_buffers(dist, session.model)  # every rank validates the same BatchNorm stats
                figures.update(validate(session))
            _end_epoch(session, epoch, figures)
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, figures)
        summary = _finish(session)
        if not summary["ranks_identical"]:
            raise RuntimeError(f"distributed ranks diverged: {summary['weights_sha256_per_rank']}")
        finished = True
        return session.run_dir
    finally:
        if session is not None and "log_handler" in session.extras:
            detach_log_file(session.extras["log_handler"])
        dist_utils.shutdown(dist, finished)


def resume(run_dir: str | Path, on_epoch_end: EpochCallback | None = None) -> Path:
    """Continue an interrupted run from RUN/config.yaml and RUN/checkpoints/latest.pt."""
    run_dir = Path(run_dir)
    return fit(load_config(run_dir / "config.yaml"), resume_dir=run_dir, on_epoch_end=on_epoch_end)


def load_run_model(run_dir: str | Path, which: str = "best") -> tuple[Any, list[Partitioning], RunConfig]:
    """The trained model (eval mode, CPU) of a run folder, its partitionings (coarse -> fine) and config.

    A GeoModel, IsnModel or TransLocator, as the run's model.method says."""
    run_dir = Path(run_dir)
    config = load_config(run_dir / "config.yaml")
    paths = [str(run_dir / "partitionings" / Path(p).name) for p in config.model.partitionings]
    partitionings, _ = load_partitionings(paths)
    state = load_checkpoint(run_dir / "checkpoints" / (BEST if which == "best" else LATEST))
    model = build_method_model(config, [len(p) for p in partitionings], pretrained=False)
    model.load_state_dict(state["model"])
    return model.eval(), partitionings, config
