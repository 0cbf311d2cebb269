"""Linear location heads trained on cached embeddings, on the CPU, in seconds.

Embeddings are standardised for the optimiser; the standardisation is folded back into the weights afterwards, so
the heads apply to the raw embedding exactly as the ONNX graph and geocore's CAM code expect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional

from geotagger.trainer.data.labels import IGNORE_INDEX


@dataclass
class HeadOptions:
    """Optimiser settings of head training."""

    epochs: int = 60
    batch_size: int = 256
    lr: float = 1e-2  # 3e-3 measured 89.8% / 95.2%, 1e-2 91.4% / 96.2% within 1 / 25 km on held-out days
    weight_decay: float = 1e-3
    seed: int = 0
    balance: float = 0.0  # class weight = count ** -balance (0.5 and 1 measured no better on the benchmark library)


@dataclass
class LinearHead:
    """logits = embedding @ weight.T + bias, on the raw (unstandardised) embedding."""

    weight: np.ndarray  # (classes, C) float32
    bias: np.ndarray  # (classes,) float32

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """Softmax probabilities (N, classes)."""
        logits = embeddings.astype(np.float64) @ self.weight.T.astype(np.float64) + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)


def _epoch(layers: torch.nn.ModuleList, optimizer: torch.optim.Optimizer, inputs: torch.Tensor, targets: torch.Tensor,
           batch_size: int, generator: torch.Generator, class_weights: Sequence[torch.Tensor]) -> None:
    order = torch.randperm(len(inputs), generator=generator)
    for start in range(0, len(inputs), batch_size):
        rows = order[start:start + batch_size]
        losses = []
        for index, layer in enumerate(layers):
            target = targets[rows, index]
            valid = target != IGNORE_INDEX
            if bool(valid.any()):
                losses.append(functional.cross_entropy(layer(inputs[rows][valid]), target[valid],
                                                       weight=class_weights[index]))
        if losses:
            optimizer.zero_grad(set_to_none=True)
            torch.stack(losses).mean().backward()  # the multi-partitioning loss: mean of the heads' CE
            optimizer.step()


def _class_weights(labels: np.ndarray, size: int, balance: float) -> torch.Tensor:
    """count ** -balance per class (mean 1 over the photos); classes without photos get weight 1."""
    counts = np.bincount(labels[labels >= 0], minlength=size).astype(np.float64)
    weights = np.where(counts > 0, np.maximum(counts, 1) ** -balance, 1.0)
    weights /= max(float((weights * counts).sum() / max(counts.sum(), 1)), 1e-12)
    return torch.from_numpy(weights.astype(np.float32))


def train_heads(
    embeddings: np.ndarray, classes: np.ndarray, sizes: Sequence[int], options: HeadOptions
) -> list[LinearHead]:
    """One linear head per partitioning (classes (N, P), -1 = outside that partitioning, ignored).

    One torch thread: these matrices are small, and a second thread only fights the decoders and onnxruntime
    for the cores (10x slower on a busy 2-core laptop, measured).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(embeddings, classes, sizes, options)
    finally:
        torch.set_num_threads(threads)


def _train(embeddings: np.ndarray, classes: np.ndarray, sizes: Sequence[int], options: HeadOptions) -> list[LinearHead]:
    torch.manual_seed(options.seed)
    mean = embeddings.mean(axis=0)
    std = np.maximum(embeddings.std(axis=0), 1e-6)
    inputs = torch.from_numpy(((embeddings - mean) / std).astype(np.float32))
    targets = torch.from_numpy(classes.astype(np.int64))
    linears = [torch.nn.Linear(inputs.shape[1], size) for size in sizes]
    layers = torch.nn.ModuleList(linears)
    optimizer = torch.optim.AdamW(layers.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, options.epochs))
    generator = torch.Generator().manual_seed(options.seed)
    class_weights = [_class_weights(classes[:, index], size, options.balance) for index, size in enumerate(sizes)]
    for _ in range(options.epochs):
        _epoch(layers, optimizer, inputs, targets, options.batch_size, generator, class_weights)
        scheduler.step()
    heads = []
    for layer in linears:
        weight = layer.weight.detach().numpy().astype(np.float64) / std
        bias = layer.bias.detach().numpy().astype(np.float64) - weight @ mean
        heads.append(LinearHead(weight.astype(np.float32), bias.astype(np.float32)))
    return heads
