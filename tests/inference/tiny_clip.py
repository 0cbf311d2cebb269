"""A tiny random CLIP of CLIP ViT-L/14's structure (projection 768, patch 14, 224 px), saved in the hub's
snapshot layout, and a small deterministic sample of the real GeoCLIP gallery (tests/data)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

GALLERY_FILE = Path(__file__).resolve().parents[1] / "data" / "mp16_coordinates_100k.csv.gz"


def save_tiny_clip(folder: Path, seed: int = 0) -> Path:
    """config.json, model.safetensors and preprocessor_config.json of a 2-layer, 32-wide CLIP."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    torch.manual_seed(seed)
    config = CLIPConfig(
        projection_dim=768,
        text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                         vocab_size=64, max_position_embeddings=16, bos_token_id=0, eos_token_id=2),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           patch_size=14, image_size=224),
    )
    folder.mkdir(parents=True, exist_ok=True)
    CLIPModel(config).eval().save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}).save_pretrained(folder)
    return folder


def gallery_sample(points: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`points` rows of the real 100,000-point gallery, in file order (a seeded choice)."""
    with gzip.open(GALLERY_FILE, "rt", encoding="utf-8") as handle:
        rows = np.loadtxt(handle, delimiter=",", skiprows=1)
    chosen = np.sort(np.random.default_rng(seed).choice(len(rows), points, replace=False))
    return rows[chosen, 0], rows[chosen, 1]
