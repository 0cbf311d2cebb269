"""geotagger.trainer.models: backbones, head split, strict ImageNet weights, torchvision key names."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from geotagger.trainer.models import build_backbone, build_imagenet_model, build_model, load_backbone_state  # noqa: E402


def test_tiny_model_outputs_one_head_per_partitioning_and_scene() -> None:
    model = build_model("tiny", [3, 7, 11], scene_classes=3).eval()
    images = torch.randn(2, 3, 64, 64)
    outputs = model(images)
    assert {name: tuple(t.shape) for name, t in outputs.items()} == {
        "geo_0": (2, 3),
        "geo_1": (2, 7),
        "geo_2": (2, 11),
        "scene": (2, 3),
    }
    feature_map = model.forward_features(images)
    assert feature_map.shape == (2, model.backbone_out_channels, 8, 8)
    torch.testing.assert_close(model.forward_head(feature_map)["geo_1"], outputs["geo_1"])


def test_imagenet_weights_load_strictly_and_classify_the_cat() -> None:
    from geotagger.trainer.models.check_imagenet import imagenet_sanity_views

    model = build_imagenet_model()
    image, correct = next(iter(imagenet_sanity_views()))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    batch = (torch.from_numpy(image).permute(2, 0, 1)[None] - mean) / std
    with torch.no_grad():
        logits = model(batch)["imagenet"]
    assert int(logits.argmax()) in correct
    assert model.forward_features(batch).shape == (1, 1280, 7, 7)


def test_pretrained_geo_model_keeps_imagenet_backbone() -> None:
    geo = build_model("efficientnet_lite0", [5], pretrained=True)
    reference = build_imagenet_model()
    torch.testing.assert_close(geo.backbone._conv_stem.weight, reference.backbone._conv_stem.weight)


def test_resnet50_loads_torchvision_key_names_strictly() -> None:
    source = build_backbone("resnet50", pretrained=False)
    state = {f"module.{key}": value for key, value in source.state_dict().items()}
    state["fc.weight"] = torch.zeros(1000, 2048)
    state["fc.bias"] = torch.zeros(1000)
    assert "layer1.0.downsample.0.weight" in source.state_dict()
    target = build_backbone("resnet50", pretrained=False)
    load_backbone_state(target, state)
    torch.testing.assert_close(target.layer4[2].conv3.weight, source.layer4[2].conv3.weight)
    with pytest.raises(RuntimeError):
        load_backbone_state(target, {"conv1.weight": state["module.conv1.weight"]})


def test_unknown_backbone_and_unavailable_weights_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown backbone"):
        build_model("vgg", [3])
    with pytest.raises(ValueError, match="resnet50"):
        build_model("resnet50", [3], pretrained=True)
