"""TransLocator (Pramanick et al. ECCV'22): a dual-branch ViT on the RGB image and on its segmentation map.

Each branch is a ViT in timm's ViT-B/16 layout (`patch_embed.proj`, `cls_token`, `pos_embed`, `blocks.N.norm1`,
`blocks.N.attn.qkv`, `blocks.N.attn.proj`, `blocks.N.norm2`, `blocks.N.mlp.fc1/fc2`, `norm`), so a local ImageNet
ViT-B/16 state dict initialises both (`load_vit_state`). The segmentation branch sees the class map painted with
a fixed colour per class (3 channels, like the RGB branch). After every encoder layer k the CLS tokens are fused
as the slides' equation states (multimodal feature fusion, MFF):

    x_i^(k) = [ g_k( sum_{j in {rgb, seg}} f_k(x_j,cls^(k)) ) || x_i,patch^(k) ]   for both branches i

with f_k, g_k learned linear maps. Heads (geo_0.. per partitioning, "scene") read the concatenation of both
branches' normalised CLS tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from geotagger.trainer.models.geo_model import geo_head_name


@dataclass(frozen=True)
class VitConfig:
    """Layout of one branch: ViT-B/16 by default; `tiny()` for tests."""

    image_px: int = 224
    patch_px: int = 16
    dim: int = 768
    depth: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0

    @classmethod
    def tiny(cls, image_px: int = 32) -> VitConfig:
        """A 2-layer, 32-wide ViT on 8-px patches: seconds to train."""
        return cls(image_px=image_px, patch_px=8, dim=32, depth=2, heads=2, mlp_ratio=2.0)

    @property
    def tokens(self) -> int:
        """Patches plus the CLS token."""
        return (self.image_px // self.patch_px) ** 2 + 1


class PatchEmbed(nn.Module):
    def __init__(self, config: VitConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, config.dim, config.patch_px, stride=config.patch_px)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        query, key, value = qkv[0], qkv[1], qkv[2]
        weights = torch.softmax(query @ key.transpose(-2, -1) * (dim // self.heads) ** -0.5, dim=-1)
        return self.proj((weights @ value).transpose(1, 2).reshape(batch, tokens, dim))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, config: VitConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(config.dim, eps=1e-6)
        self.attn = Attention(config.dim, config.heads)
        self.norm2 = nn.LayerNorm(config.dim, eps=1e-6)
        self.mlp = Mlp(config.dim, int(config.dim * config.mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VitBranch(nn.Module):
    """One ViT without its classifier, in timm's key layout."""

    def __init__(self, config: VitConfig) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(config)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.dim))
        self.pos_embed = nn.Parameter(torch.randn(1, config.tokens, config.dim) * 0.02)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.depth))
        self.norm = nn.LayerNorm(config.dim, eps=1e-6)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) -> (N, 1 + patches, D) with CLS first and position embeddings added."""
        patches = self.patch_embed(x)
        return torch.cat([self.cls_token.expand(patches.shape[0], -1, -1), patches], dim=1) + self.pos_embed


class CLSFusion(nn.Module):
    """MFF of one layer: both branches' CLS become g(f(cls_rgb) + f(cls_seg)); patch tokens are untouched."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.f, self.g = nn.Linear(dim, dim), nn.Linear(dim, dim)

    def forward(self, rgb: torch.Tensor, seg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fused = self.g(self.f(rgb[:, :1]) + self.f(seg[:, :1]))
        return torch.cat([fused, rgb[:, 1:]], dim=1), torch.cat([fused, seg[:, 1:]], dim=1)


def class_palette(n_classes: int, seed: int = 0) -> torch.Tensor:
    """(C, 3) fixed colours in [-1, 1], one per segmentation class (the segmentation branch's 'pixels')."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n_classes, 3, generator=generator) * 2 - 1


class TransLocator(nn.Module):
    """Dual-branch ViT with CLS fusion after every layer and linear heads on both CLS tokens.

    Args:
        config: layout of each branch.
        partition_sizes: classes per partitioning, coarse -> fine (heads geo_0..).
        segmentation_classes: number of classes of the segmentation maps.
        scene_classes: scene head size (3 = S3), or None.
        fusion: False gives the "+ Seg" ablation (no MFF); `rgb_only` drops the segmentation branch.
    """

    backbone_name = "translocator_vit"

    def __init__(self, config: VitConfig, partition_sizes: Sequence[int], segmentation_classes: int,
                 scene_classes: int | None = 3, fusion: bool = True, rgb_only: bool = False) -> None:
        super().__init__()
        self.config, self.rgb_only = config, rgb_only
        self.partition_sizes = [int(size) for size in partition_sizes]
        self.rgb = VitBranch(config)
        self.seg = None if rgb_only else VitBranch(config)
        self.fusions = nn.ModuleList(CLSFusion(config.dim) for _ in range(config.depth)) if fusion and not rgb_only \
            else None
        self.register_buffer("palette", class_palette(segmentation_classes), persistent=False)
        self.embedding_dim = config.dim * (1 if rgb_only else 2)
        sizes = {geo_head_name(i): size for i, size in enumerate(self.partition_sizes)}
        if scene_classes:
            sizes["scene"] = int(scene_classes)
        self.heads = nn.ModuleDict({name: nn.Linear(self.embedding_dim, size) for name, size in sizes.items()})

    @property
    def head_names(self) -> list[str]:
        """geo_0.., then scene."""
        return list(self.heads.keys())

    def paint(self, segmentation: torch.Tensor) -> torch.Tensor:
        """(N, H, W) class indices -> (N, 3, H, W) palette image."""
        return self.palette[segmentation].permute(0, 3, 1, 2)

    def forward_features(self, image: torch.Tensor, segmentation: torch.Tensor) -> torch.Tensor:
        """The embedding (N, D or 2D): normalised CLS of each branch after the last layer (and its fusion)."""
        rgb = self.rgb.tokens(image)
        if self.seg is None:
            for block in self.rgb.blocks:
                rgb = block(rgb)
            return self.rgb.norm(rgb[:, 0])
        seg = self.seg.tokens(self.paint(segmentation))
        for index, (rgb_block, seg_block) in enumerate(zip(self.rgb.blocks, self.seg.blocks, strict=True)):
            rgb, seg = rgb_block(rgb), seg_block(seg)
            if self.fusions is not None:
                rgb, seg = self.fusions[index](rgb, seg)
        return torch.cat([self.rgb.norm(rgb[:, 0]), self.seg.norm(seg[:, 0])], dim=1)

    def forward_head(self, embedding: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits of every head."""
        return {name: head(embedding) for name, head in self.heads.items()}

    def forward(self, image: torch.Tensor, segmentation: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.forward_head(self.forward_features(image, segmentation))


def load_vit_state(model: TransLocator, state: Mapping[str, torch.Tensor]) -> None:
    """Initialise both branches from one timm-layout ViT state dict (its `head.*` classifier dropped), strictly."""
    branch = {key: value for key, value in state.items() if not key.startswith("head.")}
    for target in (model.rgb, model.seg):
        if target is not None:
            target.load_state_dict(branch, strict=True)


def fit_translocator(
    model: TransLocator, images: torch.Tensor, segmentation: torch.Tensor, geo_targets: torch.Tensor,
    scene_targets: torch.Tensor | None = None, epochs: int = 10, batch_size: int = 32, lr: float = 1e-3,
    seed: int = 0,
) -> TransLocator:
    """AdamW on in-memory tensors (cached class maps), multi-task loss; under torch.distributed each rank takes
    its share of every epoch (the same number of steps on every rank). Tests and benchmarks; at scale, `fit` with
    model.method translocator streams photos and cached maps instead."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from geotagger.trainer.training.loss import geo_scene_loss

    distributed = dist.is_available() and dist.is_initialized()
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    wrapped: nn.Module = DistributedDataParallel(model) if distributed else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        usable = len(images) // world * world
        order = torch.randperm(len(images), generator=generator)[:usable][rank::world]
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            scene = scene_targets[batch] if scene_targets is not None else None
            loss, _ = geo_scene_loss(wrapped(images[batch], segmentation[batch]), geo_targets[batch], scene, 1.0)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()
