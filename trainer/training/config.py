"""Run configuration: YAML -> typed dataclasses, validated (unknown keys, wrong types and bad values are errors)."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DATA_SOURCES = ("csv", "folders", "shards")
BACKBONES = ("efficientnet_lite0", "resnet50", "tiny")
METHODS = ("multitask", "isn", "translocator")  # ECCV'18 multi-task net, its individual scene networks, ECCV'22
VIT_LAYOUTS = ("vit_b16", "tiny")
OPTIMIZERS = ("sgd", "adamw")


class ConfigError(ValueError):
    """A run configuration that cannot be used; the message names the key and the reason."""


@dataclass
class DataConfig:
    """Where images and their locations come from (one of three sources)."""

    source: str = "csv"
    csv: str | None = None  # meta CSV (IMG_ID/id, LAT, LON, optional scene columns); also the shards' locations
    images: str | None = None  # image root the CSV ids are relative to
    folders: list[str] = field(default_factory=list)  # photo folders whose EXIF GPS gives the locations
    shards: list[str] = field(default_factory=list)  # msgpack/tar shard files, folders or glob patterns
    scene_column: str | None = None  # e.g. S3_Label; needs model.scene_classes
    shuffle_buffer: int = 1000  # samples held for shuffling streamed shards
    scene_probabilities: bool = False  # read the CSV's Prob_indoor/natural/urban (ISNs train on p > threshold)
    segmentation_cache: str | None = None  # folder from `geotag-train segment` (TransLocator's class maps)


@dataclass
class ModelConfig:
    """Backbone, heads and input geometry."""

    backbone: str = "efficientnet_lite0"
    pretrained: bool = True
    partitionings: list[str] = field(default_factory=list)  # cells CSV files, coarse -> fine
    scene_classes: int | None = None
    input_size: int = 224
    eval_resize: int = 256
    head_dropout: float = 0.0
    method: str = "multitask"  # multitask | isn (one set of heads per scene) | translocator (dual-branch ViT)
    isn_threshold: float = 0.3  # isn: an image trains the networks of the scenes it has more probability of
    vit_layout: str = "vit_b16"  # translocator: vit_b16 (ImageNet ViT weights fit) | tiny (tests)
    vit_weights: str | None = None  # translocator: timm-layout ViT-B/16 state dict initialising both branches
    segmentation: str | None = None  # translocator: the .geoseg file whose class maps the cache holds


@dataclass
class OptimConfig:
    """The reference SGD recipe (METHOD.md 2) by default."""

    epochs: int = 15
    batch_size: int = 128  # per process
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_milestones: list[int] = field(default_factory=lambda: [4, 8, 12, 13, 14, 15])
    lr_gamma: float = 0.5
    scene_weight: float = 1.0
    amp: bool = True  # mixed precision, used on GPU only
    num_workers: int = 4
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    max_steps_per_epoch: int | None = None  # cap for quick trials and streamed data of unknown length
    crop_scale_min: float = 0.66
    optimizer: str = "sgd"  # sgd (the reference recipe) | adamw (TransLocator's; momentum unused)


@dataclass
class RunConfig:
    """A whole training run."""

    train: DataConfig
    model: ModelConfig
    val: DataConfig | None = None
    optim: OptimConfig = field(default_factory=OptimConfig)
    name: str = "run"
    runs_dir: str = "runs"
    tensorboard: bool = False


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", str(hint))


def _convert(value: Any, hint: Any, key: str, base: Path) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _convert(value, next(a for a in args if a is not type(None)), key, base)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key, base)  # type: ignore[arg-type]
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_convert(item, args[0], f"{key}[{n}]", base) for n, item in enumerate(value)]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and (type(value) is not hint):
        raise ConfigError(f"{key}: expected {_type_name(hint)}, got {value!r}")
    return value


def _build(cls: type, data: Any, prefix: str, base: Path) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{prefix or 'config'}: unknown key(s) {', '.join(map(str, unknown))}; "
                          f"allowed: {', '.join(fields)}")
    values = {name: _convert(value, hints[name], f"{prefix}.{name}".lstrip("."), base) for name, value in data.items()}
    missing = [name for name, f in fields.items() if name not in values and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{prefix or 'config'}: missing key(s) {', '.join(missing)}")
    return cls(**values)


def _absolute(path: str | None, base: Path) -> str | None:
    if path is None:
        return None
    expanded = Path(path).expanduser()
    return str(expanded if expanded.is_absolute() else (base / expanded).resolve())


def _resolve_data_paths(data: DataConfig, base: Path) -> None:
    data.csv, data.images = _absolute(data.csv, base), _absolute(data.images, base)
    data.folders = [str(_absolute(p, base)) for p in data.folders]
    data.shards = [str(_absolute(p, base)) for p in data.shards]
    data.segmentation_cache = _absolute(data.segmentation_cache, base)


def _check_data(data: DataConfig, key: str, scene_classes: int | None) -> None:
    if data.source not in DATA_SOURCES:
        raise ConfigError(f"{key}.source: {data.source!r} is not one of {', '.join(DATA_SOURCES)}")
    needs = {"csv": ("csv", "images"), "folders": ("folders",), "shards": ("shards",)}[data.source]
    for name in needs:
        if not getattr(data, name):
            raise ConfigError(f"{key}.{name}: required for source {data.source!r}")
    if data.scene_column and not scene_classes:
        raise ConfigError(f"{key}.scene_column: set model.scene_classes to train a scene head")
    if data.shuffle_buffer < 1:
        raise ConfigError(f"{key}.shuffle_buffer: must be at least 1")
    if data.scene_probabilities and not data.csv:
        raise ConfigError(f"{key}.scene_probabilities: needs a meta CSV with Prob_indoor/natural/urban ({key}.csv)")


def _check_method(config: RunConfig) -> None:
    model = config.model
    if model.method not in METHODS:
        raise ConfigError(f"model.method: {model.method!r} is not one of {', '.join(METHODS)}")
    if model.method == "isn":
        if not config.train.scene_probabilities:
            raise ConfigError("train.scene_probabilities: isn trains each scene's network on its images; set it "
                              "true (meta CSV with Prob_indoor/natural/urban)")
        if config.val is not None and not config.val.scene_probabilities:
            raise ConfigError("val.scene_probabilities: the ISN loss needs them on the validation data too")
        if not 0 <= model.isn_threshold < 1:
            raise ConfigError("model.isn_threshold: must be in [0, 1)")
    if model.method == "translocator":
        if model.vit_layout not in VIT_LAYOUTS:
            raise ConfigError(f"model.vit_layout: {model.vit_layout!r} is not one of {', '.join(VIT_LAYOUTS)}")
        if not model.segmentation:
            raise ConfigError("model.segmentation: translocator needs the .geoseg file of its class maps")
        for name, data in (("train", config.train), ("val", config.val)):
            if data is not None and not data.segmentation_cache:
                raise ConfigError(f"{name}.segmentation_cache: translocator reads class maps from a cache "
                                  "(`geotag-train segment`)")


def validate(config: RunConfig) -> None:
    """Raise ConfigError for values that would train a wrong or useless model."""
    model, optim = config.model, config.optim
    if model.backbone not in BACKBONES:
        raise ConfigError(f"model.backbone: {model.backbone!r} is not one of {', '.join(BACKBONES)}")
    if not model.partitionings:
        raise ConfigError("model.partitionings: list at least one cells CSV (coarse -> fine)")
    if model.scene_classes is not None and model.scene_classes < 2:
        raise ConfigError("model.scene_classes: need at least 2 classes (or leave it out)")
    if model.input_size < 16 or model.eval_resize < model.input_size:
        raise ConfigError("model.input_size must be >= 16 and model.eval_resize >= model.input_size")
    _check_data(config.train, "train", model.scene_classes)
    _check_method(config)
    if config.val is not None:
        _check_data(config.val, "val", model.scene_classes)
    positive = {"optim.epochs": optim.epochs, "optim.batch_size": optim.batch_size, "optim.lr": optim.lr}
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key}: must be positive, got {value}")
    if optim.num_workers < 0 or optim.weight_decay < 0 or not 0 <= optim.momentum < 1:
        raise ConfigError("optim: num_workers and weight_decay must be >= 0, momentum in [0, 1)")
    if not 0 < optim.crop_scale_min <= 1:
        raise ConfigError("optim.crop_scale_min: must be in (0, 1]")
    if optim.optimizer not in OPTIMIZERS:
        raise ConfigError(f"optim.optimizer: {optim.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
    if optim.device != "auto" and optim.device != "cpu" and not optim.device.startswith("cuda"):
        raise ConfigError(f"optim.device: {optim.device!r} is not auto, cpu or cuda[:N]")


def config_from_dict(data: Any, base_dir: str | Path = ".") -> RunConfig:
    """Build and validate a RunConfig; relative paths are resolved against `base_dir`."""
    config: RunConfig = _build(RunConfig, data, "", Path(base_dir))
    base = Path(base_dir).resolve()
    for name in ("train", "val"):
        data_config = getattr(config, name)
        if data_config is not None:
            _resolve_data_paths(data_config, base)
    config.model.partitionings = [str(_absolute(p, base)) for p in config.model.partitionings]
    config.model.vit_weights = _absolute(config.model.vit_weights, base)
    config.model.segmentation = _absolute(config.model.segmentation, base)
    config.runs_dir = str(_absolute(config.runs_dir, base))
    validate(config)
    return config


def load_config(path: str | Path) -> RunConfig:
    """Read a YAML run configuration (paths relative to the file's folder)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror or error})") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from None
    try:
        return config_from_dict(data, path.parent)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    """Plain dict of the (resolved) configuration, for YAML and checkpoints."""
    return dataclasses.asdict(config)


def save_config(config: RunConfig, path: str | Path) -> None:
    """Write the resolved configuration as YAML."""
    Path(path).write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False), encoding="utf-8")
