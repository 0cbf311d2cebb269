"""`geotag-train import geoclip`: GeoCLIP (Vivanco Cepeda et al., NeurIPS 2023, MIT) as a hierarchical bundle.

What GeoCLIP is: an image encoder (CLIP ViT-L/14 -> its 768-d projection -> GeoCLIP's MLP 768->768->512) and a
location encoder (random Fourier features of the Equal Earth projection at three scales -> MLPs -> 512), trained
contrastively; p(g | x) = softmax_g(s * cos(f(x), l(g))) over a gallery of 100,000 MP-16 locations, s = exp(logit
scale) ~ 39.7.

What the bundle holds (no location encoder at prediction time):
- model.onnx: the image encoder + MLP + L2 normalisation -> "embedding" (N, 512), and one softmax head per
  partitioning level, geo_k = softmax(s * embedding @ c_k.T), weights stored float16.
- three S2 partitionings built by our own partitioner from the gallery points, tau scaled to the gallery size
  (METHOD.md: tau_min 50, tau_max 5000/2000/1000 on 4,723,695 images; 100,000 points -> 1, 106/42/21), nested,
  with Class2GPS centroids, and the hierarchy.
- class vector of a cell: c = normalise(sum of l(g) over the cell's gallery points), i.e. the mean direction of
  the cell's location embeddings. Derivation: GeoCLIP's probability of a cell is sum_{g in cell} exp(s cos(x, l_g))
  / Z; for a cell whose points have similar embeddings, log of that sum ~ s cos(x, mean l_g) + log |cell|, so the
  mean direction is the cell's first-order representative; the log |cell| prior is left out (as our trained heads
  have no such term either, the softmax learns it; here every cell starts equal). Per level softmax with s,
  then our hierarchical product, then the winning fine cell refined to its best gallery point
  (geocore.inference.gallery). What that changes against GeoCLIP's own top-1 is measured at import time on the
  check photos and written into the card (evaluation.hierarchy_vs_geoclip).
- gallery.npz: the gallery points, their unit location embeddings (float16) and their fine cell.

The CLIP weights come from `--clip DIR` (a local copy in the Hugging Face hub's snapshot layout: config.json,
preprocessor_config.json, model.safetensors) or, only when no DIR is given, are fetched once by this command after
it says so. The app never downloads anything.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from geotagger.geocore.geo.hierarchy import Hierarchy
from geotagger.geocore.geo.partitioning import Partitioning, build_s2_partitionings
from geotagger.geocore.inference.bundle import file_ref, geography_files, write_bundle
from geotagger.geocore.inference.card import CropSpec, HeadSpec, InputSpec, ModelCard
from geotagger.geocore.inference.gallery import GALLERY_MEMBER
from geotagger.trainer.export import (
    EMBEDDING_OUTPUT,
    INPUT_NAME,
    OPSET,
    ExportError,
    _pin_ir_version,
    store_weights_fp16,
)

CLIP_REPO = "openai/clip-vit-large-patch14"
CLIP_FILES = ("config.json", "preprocessor_config.json")
CLIP_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
CLIP_FETCH_PATTERNS = ["*.json", "merges.txt", "model.safetensors"]
MP16_IMAGES, PAPER_TAU_MIN, PAPER_TAU_MAX = 4_723_695, 50, (5000, 2000, 1000)
LOCATION_BATCH = 8192
GEOCLIP_LICENSE = (
    "GeoCLIP weights and gallery: MIT (c) Vivanco Cepeda, Nayak, Shah, NeurIPS 2023, PyPI geoclip 1.3.0. "
    "Image encoder: OpenAI CLIP ViT-L/14 (MIT). Partitionings, hierarchy and conversion: Apache-2.0 (geotagger)."
)
Say = Callable[[str], None]


class GeoclipImportError(ExportError):
    """The conversion could not be made or failed its self-check; nothing was written."""


@dataclass(frozen=True)
class GeoclipSource:
    """The loaded GeoCLIP model (its own classes), the CLIP folder it was built from and its preprocessing."""

    model: Any  # geoclip.GeoCLIP
    clip_dir: Path
    input: InputSpec
    resize_short_px: int


def resolve_clip_dir(path: Path) -> Path:
    """A snapshot folder (config.json + weights), or a hub cache holding exactly one snapshot of CLIP ViT-L/14."""
    path = Path(path).expanduser()
    candidates = [path, *sorted(path.glob("snapshots/*")),
                  *sorted(path.glob(f"models--{CLIP_REPO.replace('/', '--')}/snapshots/*"))]
    for candidate in candidates:
        if all((candidate / name).is_file() for name in CLIP_FILES) and any(
                (candidate / name).is_file() for name in CLIP_WEIGHTS):
            return candidate
    raise GeoclipImportError(f"{path}: not a CLIP snapshot (needs {', '.join(CLIP_FILES)} and "
                             f"{' or '.join(CLIP_WEIGHTS)})")


def fetch_clip(say: Say) -> Path:
    """Download CLIP ViT-L/14 from the Hugging Face hub (about 1.7 GB), saying so first; its snapshot folder."""
    say(f"fetching {CLIP_REPO} (about 1.7 GB) from the Hugging Face hub; pass --clip DIR to use a local copy")
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id=CLIP_REPO, allow_patterns=CLIP_FETCH_PATTERNS))


def load_geoclip(clip_dir: Path, gallery: tuple[np.ndarray, np.ndarray] | None = None) -> GeoclipSource:
    """geoclip.GeoCLIP with its published MLP, location encoder and logit scale on the CLIP weights in `clip_dir`.

    `gallery` (lat, lon) replaces GeoCLIP's 100,000 points (as its own from_pretrained does with a release's).
    """
    from geoclip import GeoCLIP
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GeoCLIP(clip_path=str(clip_dir)).eval()
    if gallery is not None:
        model.gps_gallery = torch.tensor(np.stack(gallery, axis=1), dtype=torch.float32)
    spec, resize = clip_preprocessing(clip_dir)
    return GeoclipSource(model, clip_dir, spec, resize)


def clip_preprocessing(clip_dir: Path) -> tuple[InputSpec, int]:
    """Input size, mean/std and the short side from the snapshot's preprocessor_config.json (weights carry theirs)."""
    config = json.loads((clip_dir / "preprocessor_config.json").read_text(encoding="utf-8"))
    crop = config.get("crop_size", 224)
    size_px = int(crop["height"] if isinstance(crop, dict) else crop)
    short = config.get("size", size_px)
    short_px = int(short.get("shortest_edge", size_px) if isinstance(short, dict) else short)
    mean = tuple(float(v) for v in config.get("image_mean", (0.48145466, 0.4578275, 0.40821073)))
    std = tuple(float(v) for v in config.get("image_std", (0.26862954, 0.26130258, 0.27577711)))
    return InputSpec(size_px, mean, std), max(short_px, size_px)  # type: ignore[arg-type]


def scaled_thresholds(points: int) -> tuple[int, list[int]]:
    """METHOD.md's tau_min and tau_max values scaled from MP-16's size to `points` (at least 1 and ordered)."""
    scale = points / MP16_IMAGES
    tau_min = max(1, round(PAPER_TAU_MIN * scale))
    return tau_min, [max(tau_min + 1, round(tau * scale)) for tau in PAPER_TAU_MAX]


def gallery_points(source: GeoclipSource) -> tuple[np.ndarray, np.ndarray]:
    """(lat, lon) of GeoCLIP's gallery, in its order."""
    gallery = source.model.gps_gallery.detach().cpu().numpy().astype(np.float64)
    return gallery[:, 0], gallery[:, 1]


def location_embeddings(source: GeoclipSource, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Unit GeoCLIP location embeddings (G, 512) of the points, by its own location encoder."""
    points = torch.tensor(np.stack([lat, lon], axis=1), dtype=torch.float32)
    with torch.no_grad():
        parts = [torch.nn.functional.normalize(source.model.location_encoder(chunk), dim=1)
                 for chunk in points.split(LOCATION_BATCH)]
    return torch.cat(parts).numpy().astype(np.float32)


def class_vectors(partitioning: Partitioning, lat: np.ndarray, lon: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
    """Per cell: the normalised sum of its gallery points' unit embeddings (module docstring: the derivation)."""
    index = partitioning.assign(lat, lon)
    inside = index >= 0
    sums = np.zeros((len(partitioning), embeddings.shape[1]), dtype=np.float64)
    np.add.at(sums, index[inside], embeddings[inside].astype(np.float64))
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    if (norms <= 1e-9).any():
        raise GeoclipImportError("a cell without gallery points (partitioning and gallery disagree)")
    return (sums / norms).astype(np.float32)


class GeoclipGraph(nn.Module):
    """GeoCLIP's own image encoder, L2-normalised, and one softmax head of scaled class vectors per level."""

    def __init__(self, image_encoder: nn.Module, head_weights: Sequence[np.ndarray]) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        for level, weight in enumerate(head_weights):
            self.register_buffer(f"geo_{level}", torch.from_numpy(np.ascontiguousarray(weight)))
        self.levels = len(head_weights)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        embedding = torch.nn.functional.normalize(self.image_encoder(image), dim=1)
        weights = [getattr(self, f"geo_{level}") for level in range(self.levels)]
        return tuple(torch.softmax(embedding @ weight.T, dim=-1) for weight in weights) + (embedding,)


def graph_output_names(levels: int) -> list[str]:
    """geo_0.. then the embedding."""
    return [*(f"geo_{level}" for level in range(levels)), EMBEDDING_OUTPUT]


def export_graph(graph: GeoclipGraph, size_px: int) -> bytes:
    """The graph as ONNX (dynamic batch), float16-stored weights."""
    names = graph_output_names(graph.levels)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph.eval(), (torch.zeros(2, 3, size_px, size_px),), buffer, input_names=[INPUT_NAME],
                          output_names=names, dynamic_axes={name: {0: "batch"} for name in [INPUT_NAME, *names]},
                          opset_version=OPSET, dynamo=False)
    return store_weights_fp16(_pin_ir_version(buffer.getvalue()))


def heads_npz(head_weights: Sequence[np.ndarray]) -> bytes:
    """heads.npz: the scaled class vectors as linear heads on the embedding (bias 0)."""
    arrays: dict[str, np.ndarray] = {}
    for level, weight in enumerate(head_weights):
        arrays[f"geo_{level}.weight"] = weight.astype(np.float16)
        arrays[f"geo_{level}.bias"] = np.zeros(len(weight), dtype=np.float32)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def gallery_npz(lat: np.ndarray, lon: np.ndarray, embeddings: np.ndarray, finest: Partitioning) -> bytes:
    """gallery.npz (geocore.inference.gallery): points, unit embeddings (float16), fine cell per point."""
    buffer = io.BytesIO()
    np.savez(buffer, lat=lat.astype(np.float32), lon=lon.astype(np.float32), embedding=embeddings.astype(np.float16),
             fine_index=finest.assign(lat, lon).astype(np.int32))
    return buffer.getvalue()


@dataclass
class Conversion:
    """Everything the bundle is made of, before it is checked and written."""

    source: GeoclipSource
    partitionings: list[Partitioning]
    head_weights: list[np.ndarray]
    contents: dict[str, bytes]
    logit_scale: float


def convert(source: GeoclipSource, tau_min: int | None = None, tau_max: Sequence[int] | None = None,
            say: Say = print) -> Conversion:
    """Partitionings, class vectors, the ONNX graph and the gallery, in memory."""
    lat, lon = gallery_points(source)
    default_min, default_max = scaled_thresholds(len(lat))
    tau_min, tau_max = tau_min or default_min, list(tau_max or default_max)
    partitionings = build_s2_partitionings(lat, lon, tau_min, tau_max)
    say(f"partitionings from {len(lat)} gallery points (tau_min {tau_min}, tau_max {tau_max}): "
        + ", ".join(f"{p.name} {len(p)} cells" for p in partitionings))
    say(f"embedding {len(lat)} gallery points with GeoCLIP's location encoder ...")
    embeddings = location_embeddings(source, lat, lon)
    scale = float(source.model.logit_scale.detach().exp())
    head_weights = [scale * class_vectors(p, lat, lon, embeddings) for p in partitionings]
    say("exporting the image encoder to ONNX ...")
    graph = GeoclipGraph(source.model.image_encoder, head_weights)
    contents = {"model.onnx": export_graph(graph, source.input.size_px), "heads.npz": heads_npz(head_weights),
                GALLERY_MEMBER: gallery_npz(lat, lon, embeddings, partitionings[-1])}
    return Conversion(source, partitionings, head_weights, contents, scale)


def build_card(conversion: Conversion, model_id: str, evaluation: dict[str, Any]) -> tuple[ModelCard, dict[str, bytes]]:
    """The card and the full contents (geography files added)."""
    contents = dict(conversion.contents)
    hierarchy = Hierarchy(conversion.partitionings)
    partition_refs, hierarchy_ref = geography_files(conversion.partitionings, hierarchy, contents)
    source = conversion.source
    card = ModelCard(
        model_id=model_id, backbone="clip_vit_l14+geoclip_mlp", input=source.input,
        crops=CropSpec(1, "mean", source.resize_short_px),
        files={role: file_ref(name, contents[name]) for role, name in
               (("model", "model.onnx"), ("heads", "heads.npz"), ("gallery", GALLERY_MEMBER))},
        embedding_output=EMBEDDING_OUTPUT, feature_map_output=None,
        heads={f"geo_{level}": HeadSpec(len(p)) for level, p in enumerate(conversion.partitionings)},
        partitionings=tuple(partition_refs), hierarchy=hierarchy_ref,
        training={"kind": "geoclip_import", "source": "PyPI geoclip 1.3.0", "clip": CLIP_REPO,
                  "gallery_points": int(len(source.model.gps_gallery)), "logit_scale": conversion.logit_scale,
                  "class_vectors": "normalised sum of the cell's GeoCLIP location embeddings, times exp(logit scale)",
                  "refinement": "best gallery point inside the winning finest cell"},
        evaluation=evaluation, license=GEOCLIP_LICENSE,
    )
    return card, contents


def import_geoclip(out: Path, clip_dir: Path | None = None, gallery: tuple[np.ndarray, np.ndarray] | None = None,
                   tau_min: int | None = None, tau_max: Sequence[int] | None = None,
                   model_id: str = "geoclip-vitl14-s2-hierarchy", check_photos: Sequence[Path] | None = None,
                   say: Say = print) -> tuple[Path, dict[str, Any]]:
    """Convert, check against GeoCLIP's own torch forward, and write `out`; raises GeoclipImportError."""
    from geotagger.trainer.importers.geoclip_check import check_conversion, default_check_photos

    clip = resolve_clip_dir(clip_dir) if clip_dir is not None else resolve_clip_dir(fetch_clip(say))
    source = load_geoclip(clip, gallery)
    conversion = convert(source, tau_min, tau_max, say)
    card, contents = build_card(conversion, model_id, {})
    say("checking the bundle against GeoCLIP's own forward ...")
    report = check_conversion(card, contents, source, list(check_photos or default_check_photos()))
    card, contents = build_card(conversion, model_id, report)
    return write_bundle(out, card, contents), report
