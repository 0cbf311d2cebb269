"""Saliency explains the displayed prediction: same cell, same crops; its maps are the exact gradient x input of
log p_hier (product over levels of aggregated softmax outputs) and of the log scene probability (a sum of softmax
outputs, renormalised), checked against torch autograd."""

from __future__ import annotations

import numpy as np
import pytest

from geotagger.geocore.inference.bundle import load_bundle
from geotagger.geocore.inference.card import AGGREGATIONS, CROP_COUNTS
from geotagger.geocore.inference.predictor import Predictor
from geotagger.geocore.inference.saliency import (
    crop_logits,
    gradient_maps,
    hierarchy_saliency,
    log_mixture_gradient,
    scene_saliency,
    softmax,
)
from tests.photo_factory import make_jpeg

torch = pytest.importorskip("torch")


def _torch_log_mixture(logits: torch.Tensor, mix: torch.Tensor, aggregation: str) -> torch.Tensor:
    probabilities = torch.softmax(logits, dim=1)
    if aggregation == "mean":
        aggregated = probabilities.mean(dim=0)
    else:
        maxima = probabilities.max(dim=0).values
        aggregated = maxima / maxima.sum()
    return torch.log(mix @ aggregated)


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
@pytest.mark.parametrize("crops", [1, 3, 5])
def test_log_mixture_gradient_equals_autograd(aggregation: str, crops: int) -> None:
    rng = np.random.default_rng(crops)
    logits = rng.normal(0, 2, (crops, 7))
    for mix in (np.eye(7)[2], rng.uniform(0, 1, 7) * (rng.uniform(size=7) > 0.4)):
        z = torch.tensor(logits, requires_grad=True)
        _torch_log_mixture(z, torch.tensor(mix), aggregation).backward()
        ours = log_mixture_gradient(softmax(logits), mix, aggregation)
        np.testing.assert_allclose(ours, z.grad.numpy(), atol=1e-10)


def _torch_log_hierarchy(bundle, feature_maps: torch.Tensor, finest_index: int, aggregation: str) -> torch.Tensor:
    total = torch.zeros((), dtype=torch.float64)
    for level, ref in enumerate(bundle.card.partitionings):
        weights = bundle.heads[ref.head]
        logits = feature_maps.mean(dim=(2, 3)) @ torch.tensor(weights.weight, dtype=torch.float64).T
        logits = logits + torch.tensor(weights.bias, dtype=torch.float64)
        target = torch.zeros(logits.shape[1], dtype=torch.float64)
        target[int(bundle.hierarchy.parent_index[finest_index, level])] = 1.0
        total = total + _torch_log_mixture(logits, target, aggregation)
    return total


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_hierarchy_map_is_gradient_times_input_of_log_p_hier(tiny_bundle, aggregation: str) -> None:
    bundle = load_bundle(tiny_bundle)
    channels = bundle.heads[bundle.card.partitionings[0].head].weight.shape[1]
    features = np.random.default_rng(1).uniform(0, 3, (3, channels, 4, 5))
    for finest_index in (0, len(bundle.hierarchy.finest) - 1):
        tensor = torch.tensor(features, requires_grad=True)
        _torch_log_hierarchy(bundle, tensor, finest_index, aggregation).backward()
        gradient_x_input = (tensor.grad * tensor).sum(dim=1).detach().numpy() * 20  # d/dF is W^T g / HW, HW = 20
        maps = hierarchy_saliency(bundle, features, finest_index, aggregation)
        bias_terms = [cam - gxi for cam, gxi in zip(maps, gradient_x_input, strict=True)]
        for term in bias_terms:  # the maps differ from gradient x input only by each crop's constant g . b
            np.testing.assert_allclose(term, term.flat[0], atol=1e-4)


def test_map_mean_is_the_first_order_change_of_the_explained_value() -> None:
    rng = np.random.default_rng(3)
    weight, bias = rng.normal(size=(6, 4)), rng.normal(size=6)
    features = rng.uniform(0, 2, (3, 4, 2, 2))
    logits = crop_logits(features, weight, bias)
    target = np.eye(6)[4]
    gradient = log_mixture_gradient(softmax(logits), target, "mean")
    maps = gradient_maps(features, [(weight, bias)], [gradient])

    def explained(scale: float) -> float:
        return float(np.log(target @ softmax(scale * logits).mean(axis=0)))

    derivative = (explained(1 + 1e-6) - explained(1 - 1e-6)) / 2e-6
    assert sum(float(m.mean()) for m in maps) == pytest.approx(derivative, rel=1e-4)


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_scene_map_explains_the_renormalised_scene_probability(base_bundle, aggregation: str) -> None:
    bundle = load_bundle(base_bundle)
    head = bundle.heads[bundle.card.scene.head]
    features = np.random.default_rng(2).uniform(0, 6, (3, head.weight.shape[1], 3, 3))
    mix = torch.tensor(np.asarray(bundle.scene_weights, dtype=np.float64))
    tensor = torch.tensor(features, requires_grad=True)
    logits = tensor.mean(dim=(2, 3)) @ torch.tensor(head.weight, dtype=torch.float64).T + torch.tensor(
        head.bias, dtype=torch.float64)
    for scene_index in range(mix.shape[1]):
        tensor.grad = None
        value = (_torch_log_mixture(logits, mix[:, scene_index], aggregation)
                 - _torch_log_mixture(logits, mix.sum(dim=1), aggregation))
        value.backward(retain_graph=True)
        gradient_x_input = (tensor.grad * tensor).sum(dim=1).detach().numpy() * 9
        for cam, gxi in zip(scene_saliency(bundle, features, scene_index, aggregation), gradient_x_input,
                            strict=True):
            np.testing.assert_allclose(cam - gxi, (cam - gxi).flat[0], atol=1e-3)


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
@pytest.mark.parametrize("crops", CROP_COUNTS)
def test_saliency_target_is_the_displayed_cell_for_every_crop_setting(tiny_bundle, tmp_path, crops: int,
                                                                      aggregation: str) -> None:
    predictor = Predictor(tiny_bundle, provider="cpu", crops=crops, aggregation=aggregation)
    finest = predictor.bundle.hierarchy.finest
    for seed, size in ((1, (640, 300)), (4, (300, 500)), (7, (400, 400))):
        path = make_jpeg(tmp_path / f"p{seed}.jpg", size=size, color_seed=seed)
        shown = predictor.predict_path(path)
        saliency = predictor.saliency(path, preview_long_px=128)
        assert saliency.target == f"{finest.name}:{shown.hierarchy_top[0].key}"
        assert saliency.prediction is not None
        assert [c.key for c in saliency.prediction.hierarchy_top] == [c.key for c in shown.hierarchy_top]
        assert saliency.prediction.hierarchy_top[0].probability == pytest.approx(
            shown.hierarchy_top[0].probability, abs=1e-6)
        assert saliency.explains == f'what made the model think "{shown.hierarchy_top[0].label}"'
