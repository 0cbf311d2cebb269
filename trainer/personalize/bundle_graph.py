"""The personal bundle: the base bundle's ONNX graph with new linear location heads grafted onto its embedding.

The backbone stays byte-for-byte the base model's (so cached embeddings stay valid and scene output keeps working);
each head is MatMul + Add + Softmax on the "embedding" output. With a similarity bank, one more output,
`library_similarity`, is the cosine similarity of the embedding (less the bank's mean, zero unless centred) to its
nearest library photo (the "looks like no place in your library" test; trainer.personalize.calibration). With a
gallery (gallery.npz) the library photos also vote for the cell (geocore.inference.personal). The written bundle
checks itself:
onnxruntime's outputs must equal the numpy heads and bank applied to the graph's own embedding within 1e-4.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from geotagger.geocore.geo.hierarchy import Hierarchy
from geotagger.geocore.geo.partitioning import Partitioning
from geotagger.geocore.inference.bundle import ModelBundle, file_ref, geography_files, load_bundle, write_bundle
from geotagger.geocore.inference.card import FileRef, HeadSpec, ModelCard, PartitioningRef
from geotagger.geocore.inference.gallery import GALLERY_MEMBER, Gallery
from geotagger.geocore.inference.runtime import create_session
from geotagger.trainer.personalize.calibration import SimilarityBank
from geotagger.trainer.personalize.embeddings import embedding_crop_spec
from geotagger.trainer.personalize.heads import LinearHead
from geotagger.trainer.personalize.retrieval import gallery_npz

TOLERANCE = 1e-4
SIMILARITY_OUTPUT = "library_similarity"


class GraphError(RuntimeError):
    """The grafted graph does not reproduce the trained heads."""


def _is_geo_head(name: str) -> bool:
    return name.startswith("geo_")


def _graft_similarity(graph: Any, embedding_output: str, bank: SimilarityBank) -> None:
    """Output `library_similarity` (batch,) = max over the bank of unit(embedding - mean) . bank row."""
    from onnx import TensorProto, helper, numpy_helper

    graph.initializer.extend([
        numpy_helper.from_array(bank.mean, "library_mean"),
        numpy_helper.from_array(np.ascontiguousarray(bank.vectors.T), "library_bank"),
        numpy_helper.from_array(np.array(1e-12, dtype=np.float32), "library_eps"),
    ])
    graph.node.extend([
        helper.make_node("Sub", [embedding_output, "library_mean"], ["library_centred"], name="library_Sub"),
        helper.make_node("ReduceL2", ["library_centred"], ["library_norm"], name="library_Norm", axes=[1],
                         keepdims=1),
        helper.make_node("Max", ["library_norm", "library_eps"], ["library_safe_norm"], name="library_Max"),
        helper.make_node("Div", ["library_centred", "library_safe_norm"], ["library_unit"], name="library_Div"),
        helper.make_node("MatMul", ["library_unit", "library_bank"], ["library_all"], name="library_MatMul"),
        helper.make_node("ReduceMax", ["library_all"], [SIMILARITY_OUTPUT], name="library_ReduceMax", axes=[1],
                         keepdims=0),
    ])
    graph.output.append(helper.make_tensor_value_info(SIMILARITY_OUTPUT, TensorProto.FLOAT, ["batch"]))


def graft_heads(model_bytes: bytes, embedding_output: str, heads: Sequence[LinearHead],
                bank: SimilarityBank | None = None) -> bytes:
    """ONNX bytes with outputs geo_0.. = softmax(embedding @ W.T + b) (the base's own geo heads are dropped) and,
    with a bank, `library_similarity`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    if embedding_output not in {output.name for output in graph.output}:
        raise GraphError(f"the base model has no output {embedding_output!r} to graft heads onto")
    kept = [output for output in graph.output if not _is_geo_head(output.name) and output.name != SIMILARITY_OUTPUT]
    del graph.output[:]
    graph.output.extend(kept)
    for index, head in enumerate(heads):
        name = f"geo_{index}"
        weight, bias = f"personal_{name}_weight", f"personal_{name}_bias"
        graph.initializer.extend([numpy_helper.from_array(np.ascontiguousarray(head.weight.T), weight),
                                  numpy_helper.from_array(head.bias, bias)])
        graph.node.extend([
            helper.make_node("MatMul", [embedding_output, weight], [f"{name}_matmul"], name=f"{name}_MatMul"),
            helper.make_node("Add", [f"{name}_matmul", bias], [f"{name}_logits"], name=f"{name}_Add"),
            helper.make_node("Softmax", [f"{name}_logits"], [name], name=f"{name}_Softmax", axis=-1),
        ])
        graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", len(head.bias)]))
    if bank is not None:
        _graft_similarity(graph, embedding_output, bank)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _heads_npz(base: ModelBundle, heads: Sequence[LinearHead]) -> bytes:
    arrays: dict[str, Any] = {}
    for name, weights in base.heads.items():
        if not _is_geo_head(name):
            arrays[f"{name}.weight"], arrays[f"{name}.bias"] = weights.weight, weights.bias
    for index, head in enumerate(heads):
        arrays[f"geo_{index}.weight"], arrays[f"geo_{index}.bias"] = head.weight, head.bias
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _base_extras(base: ModelBundle) -> dict[str, bytes]:
    """Files of the base card we keep (the scene mapping)."""
    scene = base.card.scene
    if scene is None or scene.mapping is None:
        return {}
    with zipfile.ZipFile(base.path) as archive:
        return {scene.mapping.file: archive.read(scene.mapping.file)}


def _card(base: ModelBundle, model_id: str, contents: dict[str, bytes], heads: Sequence[LinearHead],
          geography: tuple[list[PartitioningRef], FileRef | None], details: dict[str, Any]) -> ModelCard:
    refs, hierarchy_ref = geography
    head_specs = {name: spec for name, spec in base.card.heads.items() if not _is_geo_head(name)}
    head_specs.update({f"geo_{index}": HeadSpec(len(head.bias)) for index, head in enumerate(heads)})
    return ModelCard(
        model_id=model_id, backbone=base.card.backbone, input=base.card.input, crops=embedding_crop_spec(base),
        files={"model": file_ref("model.onnx", contents["model.onnx"]),
               "heads": file_ref("heads.npz", contents["heads.npz"]),
               **({"gallery": file_ref(GALLERY_MEMBER, contents[GALLERY_MEMBER])} if GALLERY_MEMBER in contents
                  else {})},
        embedding_output=base.card.embedding_output, feature_map_output=base.card.feature_map_output,
        heads=head_specs, partitionings=tuple(refs), hierarchy=hierarchy_ref,
        scene=base.card.scene, training=dict(details.get("training", {})),
        evaluation=dict(details.get("evaluation", {})),
        license=f"Personal model for private use, built on {base.model_id}. Base licence: {base.card.license}",
    )


def write_personal_bundle(
    base: ModelBundle, heads: Sequence[LinearHead], partitionings: Sequence[Partitioning], hierarchy: Hierarchy,
    model_id: str, details: dict[str, Any], out_path: str | Path, bank: SimilarityBank | None = None,
    gallery: Gallery | None = None, gallery_days: np.ndarray | None = None,
) -> Path:
    """Write and self-check the personal bundle; `details` holds the card's "training" and "evaluation".

    With a gallery (the library photos that vote beside the heads and tell unknown places, geocore.inference
    .personal) it is gallery.npz; with their capture days, it holds their reference similarity among other days.
    """
    contents = {"model.onnx": graft_heads(base.model_bytes, base.card.embedding_output, heads, bank),
                "heads.npz": _heads_npz(base, heads), **_base_extras(base)}
    if gallery is not None:
        contents[GALLERY_MEMBER] = gallery_npz(gallery, gallery_days)
    geography = geography_files(partitionings, hierarchy, contents)
    card = _card(base, model_id, contents, heads, geography, details)
    path = write_bundle(out_path, card, contents)
    check_grafted_heads(load_bundle(path), heads, bank)
    return path


def check_grafted_heads(bundle: ModelBundle, heads: Sequence[LinearHead], bank: SimilarityBank | None = None) -> float:
    """Largest difference between the graph's head (and similarity) outputs and numpy on its own embedding."""
    session = create_session(bundle, "cpu")
    size = bundle.card.input.size_px
    images = np.random.default_rng(0).normal(size=(2, 3, size, size)).astype(np.float32)
    names = [*bundle.card.heads, bundle.card.embedding_output] + ([SIMILARITY_OUTPUT] if bank is not None else [])
    outputs = session.run(images, names)
    embedding = outputs[bundle.card.embedding_output]
    worst = max(float(np.abs(outputs[f"geo_{i}"] - head.probabilities(embedding)).max())
                for i, head in enumerate(heads))
    if bank is not None:
        worst = max(worst, float(np.abs(outputs[SIMILARITY_OUTPUT] - bank.similarity(embedding)).max()))
    if worst > TOLERANCE:
        raise GraphError(f"{bundle.path}: grafted heads differ from the trained heads by {worst:.2e}")
    return worst
