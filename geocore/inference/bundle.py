"""Model bundles (`*.geomodel`): a zip with model.onnx, model_card.json, heads.npz, partitionings and hierarchy.

Loading is defensive: only files named by the card are read, names are checked against path traversal, every
member is size-limited while it is decompressed (zip bombs), and every file's SHA-256 must match the card.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import tempfile
import weakref
import zipfile
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from geotagger.geocore.geo.hierarchy import Hierarchy
from geotagger.geocore.geo.partitioning import Partitioning, PartitioningError
from geotagger.geocore.inference.card import (
    CARD_NAME,
    MAPPED_SCENE_SOURCES,
    BundleError,
    FileRef,
    ModelCard,
    PartitioningRef,
    card_from_json,
)
from geotagger.geocore.inference.gallery import Gallery, read_gallery
from geotagger.geocore.inference.scene import SceneMappingError, read_scene_mapping

BUNDLE_SUFFIX = ".geomodel"
# 1.5 GiB: a CLIP ViT-L/14 graph is 0.6 GB with float16 weights, 1.2 GB in float32; still small enough to stop a
# zip bomb. A model member above SPILL_MODEL_BYTES is streamed to a private temp file (hashed on the way) and
# onnxruntime reads it from there, so Python never holds a second copy of a large graph.
MAX_MEMBER_BYTES = 3 << 29
SPILL_MODEL_BYTES = 256 << 20
MAX_CARD_BYTES = 4 << 20
MAX_TOTAL_BYTES = 2 << 30
T = TypeVar("T")


@dataclass(frozen=True)
class HeadWeights:
    """Weights of one linear head on the pooled embedding: logits = embedding @ weight.T + bias."""

    weight: npt.NDArray[np.float32]
    bias: npt.NDArray[np.float32]


@dataclass
class ModelBundle:
    """A loaded, validated bundle: everything geocore needs to predict, in memory."""

    path: Path
    card: ModelCard
    model_bytes: bytes
    partitionings: list[Partitioning]
    hierarchy: Hierarchy | None
    heads: dict[str, HeadWeights]
    scene_weights: npt.NDArray[np.float64] | None  # (n_classes, n_scenes) for an ImageNet-mapped scene
    class_names: list[str] | None  # names of the classes behind the scene mapping
    scene_fine_weights: npt.NDArray[np.float64] | None = None  # (n_classes, 16) for a Places365 scene (S16)
    gallery: Gallery | None = None  # reference points in the finest cells (GeoCLIP bundles)
    model_file: Path | None = None  # a large model.onnx spilled to a private temp file; model_bytes is then b""

    @property
    def model_source(self) -> str | bytes:
        """What onnxruntime loads: the spilled file's path, or the graph's bytes."""
        return str(self.model_file) if self.model_file is not None else self.model_bytes

    @property
    def model_id(self) -> str:
        """The card's model id."""
        return self.card.model_id

    @property
    def has_location(self) -> bool:
        """True when the bundle predicts locations (it has partitionings)."""
        return bool(self.partitionings)


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def file_ref(name: str, data: bytes) -> FileRef:
    """A card reference to bundle member `name` holding `data`."""
    return FileRef(name, sha256_hex(data))


def geography_files(
    partitionings: Sequence[Partitioning], hierarchy: Hierarchy | None, contents: MutableMapping[str, bytes]
) -> tuple[list[PartitioningRef], FileRef | None]:
    """Add the partitioning CSVs (coarse -> fine, heads geo_0..) and the hierarchy to `contents`; card references.

    A single partitioning needs no hierarchy file: the reader builds the trivial one.
    """
    refs = []
    for index, partitioning in enumerate(partitionings):
        ref = _add_csv(contents, f"partitionings/{partitioning.name}.csv", partitioning.write_csv)
        refs.append(PartitioningRef(partitioning.name, partitioning.kind, f"geo_{index}", len(partitioning),
                                    ref.file, ref.sha256))
    if hierarchy is None or len(partitionings) < 2:
        return refs, None
    return refs, _add_csv(contents, "hierarchy.csv", hierarchy.write_csv)


def _add_csv(contents: MutableMapping[str, bytes], name: str, writer: Callable[[Path], None]) -> FileRef:
    # The geography classes write to paths only; a scratch folder turns that into bytes.
    with tempfile.TemporaryDirectory(prefix="geomodel-") as folder:
        target = Path(folder) / "file.csv"
        writer(target)
        contents[name] = target.read_bytes()
    return file_ref(name, contents[name])


def load_bundle(path: str | Path) -> ModelBundle:
    """Open and validate a bundle; raises BundleError with the file and the reason."""
    return _with_archive(Path(path), _load_from_archive)


def read_card(path: str | Path) -> ModelCard:
    """Only the validated model card of a bundle (no model read, no checksums): cheap enough to show in a list."""
    return _with_archive(Path(path), lambda path, archive: _open_card(path, archive)[1])


def _with_archive(path: Path, read: Callable[[Path, zipfile.ZipFile], T]) -> T:
    try:
        with zipfile.ZipFile(path) as archive:
            return read(path, archive)
    except FileNotFoundError:
        raise BundleError(f"{path}: no such model bundle") from None
    except zipfile.BadZipFile:
        raise BundleError(f"{path}: not a model bundle (not a zip file)") from None
    except OSError as error:
        raise BundleError(f"{path}: cannot read ({error.strerror or error})") from None


def _open_card(path: Path, archive: zipfile.ZipFile) -> tuple[dict[str, zipfile.ZipInfo], ModelCard]:
    members = {info.filename: info for info in archive.infolist()}
    for name in members:
        if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/") or ":" in name:
            raise BundleError(f"{path}: unsafe member name {name!r}")
    if sum(info.file_size for info in members.values()) > MAX_TOTAL_BYTES:
        raise BundleError(f"{path}: bundle expands to more than {MAX_TOTAL_BYTES >> 20} MiB")
    if CARD_NAME not in members:
        raise BundleError(f"{path}: missing {CARD_NAME}")
    return members, card_from_json(_read_member(path, archive, members, CARD_NAME, MAX_CARD_BYTES), str(path))


def _load_from_archive(path: Path, archive: zipfile.ZipFile) -> ModelBundle:
    members, card = _open_card(path, archive)
    model_ref = card.files["model"]
    spill = model_ref.file in members and members[model_ref.file].file_size > SPILL_MODEL_BYTES
    model_file = _spill_checked(path, archive, members, model_ref) if spill else None
    contents = {ref.file: _read_checked(path, archive, members, ref) for ref in card.bundled_files()
                if not (spill and ref.file == model_ref.file)}
    heads = _read_heads(path, card, contents[card.files["heads"].file])
    partitionings, hierarchy = _read_geography(path, card, contents)
    scene_weights, class_names = _read_scene_mapping(path, card, contents)
    fine_weights = _read_scene_mapping(path, card, contents, fine=True)[0] if card.scene else None
    gallery = _read_gallery(path, card, contents, heads, partitionings)
    bundle = ModelBundle(path, card, contents.get(model_ref.file, b""), partitionings, hierarchy, heads,
                         scene_weights, class_names, fine_weights, gallery, model_file)
    if model_file is not None:
        weakref.finalize(bundle, _unlink_quietly, model_file)
    return bundle


def _spill_checked(path: Path, archive: zipfile.ZipFile, members: Mapping[str, zipfile.ZipInfo], ref: FileRef) -> Path:
    """Stream a large member to a private temp file, size-limited and hashed on the way; its path."""
    info = members[ref.file]
    if info.file_size > MAX_MEMBER_BYTES:
        raise BundleError(f"{path}: {ref.file} is larger than {MAX_MEMBER_BYTES >> 20} MiB")
    digest, written = hashlib.sha256(), 0
    handle, name = tempfile.mkstemp(prefix="geomodel-", suffix=".onnx")
    try:
        with os.fdopen(handle, "wb") as target, archive.open(info) as source:
            while chunk := source.read(16 << 20):
                written += len(chunk)
                if written > MAX_MEMBER_BYTES:
                    raise BundleError(f"{path}: {ref.file} is larger than {MAX_MEMBER_BYTES >> 20} MiB")
                digest.update(chunk)
                target.write(chunk)
        if digest.hexdigest() != ref.sha256:
            raise BundleError(f"{path}: checksum mismatch for {ref.file} (file damaged or altered)")
    except BaseException:
        _unlink_quietly(Path(name))
        raise
    return Path(name)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _read_gallery(
    path: Path, card: ModelCard, contents: Mapping[str, bytes], heads: Mapping[str, HeadWeights],
    partitionings: Sequence[Partitioning],
) -> Gallery | None:
    ref = card.files.get("gallery")
    if ref is None:
        return None
    arrays = _read_npz(path, ref.file, contents[ref.file])
    dims = {head.weight.shape[1] for head in heads.values()}
    return read_gallery(arrays, f"{path}: {ref.file}", len(partitionings[-1]), dims.pop() if dims else None)


def _read_member(
    path: Path, archive: zipfile.ZipFile, members: Mapping[str, zipfile.ZipInfo], name: str, limit: int
) -> bytes:
    info = members.get(name)
    if info is None:
        raise BundleError(f"{path}: missing file {name}")
    if info.file_size > limit:
        raise BundleError(f"{path}: {name} is larger than {limit >> 20} MiB")
    with archive.open(info) as handle:
        data = handle.read(limit + 1)  # the header's size may lie: never decompress past the limit
    if len(data) > limit:
        raise BundleError(f"{path}: {name} is larger than {limit >> 20} MiB")
    return data


def _read_checked(path: Path, archive: zipfile.ZipFile, members: Mapping[str, zipfile.ZipInfo], ref: FileRef) -> bytes:
    data = _read_member(path, archive, members, ref.file, MAX_MEMBER_BYTES)
    if sha256_hex(data) != ref.sha256:
        raise BundleError(f"{path}: checksum mismatch for {ref.file} (file damaged or altered)")
    return data


def _read_heads(path: Path, card: ModelCard, data: bytes) -> dict[str, HeadWeights]:
    loaded = _read_npz(path, card.files["heads"].file, data)
    heads = {}
    for name, spec in card.heads.items():
        weight, bias = loaded.get(f"{name}.weight"), loaded.get(f"{name}.bias")
        if weight is None or bias is None:
            raise BundleError(f"{path}: head weights lack {name}.weight / {name}.bias")
        if weight.ndim != 2 or weight.shape[0] != spec.classes or bias.shape != (spec.classes,):
            raise BundleError(f"{path}: head {name} weights {weight.shape} disagree with {spec.classes} classes")
        if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
            raise BundleError(f"{path}: head {name} weights hold NaN or infinite values")
        heads[name] = HeadWeights(weight, bias)
    if len({head.weight.shape[1] for head in heads.values()}) > 1:
        raise BundleError(f"{path}: heads disagree on the embedding size")
    return heads


def _read_npz(path: Path, member: str, data: bytes) -> dict[str, npt.NDArray[np.float32]]:
    """The float arrays of an .npz, each header checked against its member's size before anything is allocated.

    np.load trusts the header: a declared shape of (1000, 10**9) allocates gigabytes before it finds the data short.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return {info.filename.removesuffix(".npy"): _read_npy(path, member, archive, info)
                    for info in archive.infolist()}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise BundleError(f"{path}: unreadable head weights in {member} ({error})") from None


def _read_npy(path: Path, member: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> npt.NDArray[np.float32]:
    where = f"{path}: {member}: {info.filename}"
    with archive.open(info) as handle:
        version = np.lib.format.read_magic(handle)
        if version not in ((1, 0), (2, 0)):
            raise BundleError(f"{where}: unsupported .npy version {version}")
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = reader(handle)
        if dtype.hasobject or dtype.kind not in "fiu" or dtype.itemsize > 8:
            raise BundleError(f"{where}: unsupported array type {dtype}")
        declared = math.prod(shape) * dtype.itemsize
        stored = info.file_size - handle.tell()
        if declared != stored or declared > MAX_MEMBER_BYTES:
            raise BundleError(f"{where}: header declares shape {shape} ({declared} bytes) but {stored} bytes follow")
        raw = handle.read(declared)
    if len(raw) != declared:
        raise BundleError(f"{where}: truncated ({len(raw)} of {declared} bytes)")
    array = np.frombuffer(raw, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")
    return np.asarray(array, dtype=np.float32).copy()


def _check_centroids(path: Path, partitioning: Partitioning) -> None:
    """Class2GPS centroids become predicted positions: each must be a real place (NaN would reach JSON and files)."""
    lat, lon = partitioning.lat, partitioning.lon
    good = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90.0) & (np.abs(lon) <= 180.0)
    if not good.all():
        index = int(np.flatnonzero(~good)[0])
        raise BundleError(f"{path}: partitioning {partitioning.name}: class {index} centroid "
                          f"({lat[index]}, {lon[index]}) is not a position")
    if (partitioning.counts < 0).any():
        raise BundleError(f"{path}: partitioning {partitioning.name}: negative image counts")


def _read_geography(
    path: Path, card: ModelCard, contents: Mapping[str, bytes]
) -> tuple[list[Partitioning], Hierarchy | None]:
    if not card.partitionings:
        return [], None
    with tempfile.TemporaryDirectory(prefix="geomodel-") as folder:
        try:
            partitionings = []
            for ref in card.partitionings:
                partitioning = Partitioning.read_csv(_spill(folder, ref.file, contents[ref.file]), name=ref.name)
                _check_centroids(path, partitioning)
                if len(partitioning) != ref.classes:
                    raise BundleError(
                        f"{path}: partitioning {ref.name} has {len(partitioning)} classes, head {ref.head} "
                        f"outputs {ref.classes}"
                    )
                partitionings.append(partitioning)
            if card.hierarchy is None:
                return partitionings, Hierarchy(partitionings)
            hierarchy_file = _spill(folder, card.hierarchy.file, contents[card.hierarchy.file])
            return partitionings, Hierarchy.read_csv(hierarchy_file, partitionings)
        except PartitioningError as error:
            raise BundleError(f"{path}: {error}") from None


def _spill(folder: str, name: str, data: bytes) -> Path:
    # Names were validated by the card (no '..', no absolute paths); flatten anyway so nothing leaves `folder`.
    target = Path(folder) / name.replace("/", "__")
    target.write_bytes(data)
    return target


def _read_scene_mapping(
    path: Path, card: ModelCard, contents: Mapping[str, bytes], fine: bool = False
) -> tuple[npt.NDArray[np.float64] | None, list[str] | None]:
    scene = card.scene
    if scene is None or scene.source not in MAPPED_SCENE_SOURCES or scene.mapping is None:
        return None, None
    if fine and not scene.fine_labels:
        return None, None
    labels, column = (scene.fine_labels, "scenes16") if fine else (scene.labels, "scenes")
    try:
        text = contents[scene.mapping.file].decode("utf-8")
        weights, names = read_scene_mapping(text, labels, scene.mapping.file, column)
    except (SceneMappingError, UnicodeDecodeError, ValueError) as error:
        raise BundleError(f"{path}: {error}") from None
    if not np.isfinite(weights).all():
        raise BundleError(f"{path}: scene mapping {scene.mapping.file} holds NaN or infinite weights")
    if weights.shape[0] != card.heads[scene.head].classes:
        raise BundleError(f"{path}: scene mapping has {weights.shape[0]} classes, head {scene.head} has "
                          f"{card.heads[scene.head].classes}")
    return weights, names


def write_bundle(path: str | Path, card: ModelCard, contents: Mapping[str, bytes]) -> Path:
    """Write a bundle atomically (temp file, verified by loading it back, then rename); returns its path.

    `contents` maps every file the card names to its bytes; checksums must already be in the card.
    """
    path = Path(path)
    missing = [ref.file for ref in card.bundled_files() if ref.file not in contents]
    if missing:
        raise BundleError(f"{path}: card names files that were not given: {', '.join(missing)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        with zipfile.ZipFile(temp_name, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(_fixed_info(CARD_NAME), card.to_json())
            for name in sorted(contents):
                archive.writestr(_fixed_info(name), contents[name])
        load_bundle(temp_name)  # verify before it replaces anything
        os.chmod(temp_name, 0o644)  # mkstemp creates 0600; a bundle is a shareable document
        os.replace(temp_name, path)
    finally:
        if os.path.exists(temp_name):
            os.unlink(temp_name)
    return path


def _fixed_info(name: str) -> zipfile.ZipInfo:
    # A fixed timestamp keeps bundles byte-for-byte reproducible.
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info
