"""onnxruntime sessions: provider choice (CUDA when it really works, else CPU, quietly) and output checks.

Privacy: onnxruntime (1.2x+ Linux wheels, onnxruntime-gpu included) carries Microsoft's 1DS telemetry client. When
the native library loads it opens a device-id/event store in ~/.cache/Microsoft/DeveloperTools/.onnxruntime, and
about 8 s after a session is created its uploader resolves mobile.events.data.microsoft.com (DNS over the network).
`disable_telemetry_events()` does not stop it; only ORT_DISABLE_TELEMETRY=1 in the environment *before* the first
`import onnxruntime` does. Every import of onnxruntime in geocore therefore goes through `import_onnxruntime()`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import sys
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from geotagger.geocore.inference.bundle import ModelBundle
from geotagger.geocore.inference.card import BundleError

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
PROVIDER_CHOICES = ("auto", "cpu", "cuda")
TELEMETRY_ENV_VAR = "ORT_DISABLE_TELEMETRY"
_log = logging.getLogger(__name__)


class ProviderError(RuntimeError):
    """The requested execution provider cannot run here."""


@dataclass
class ModelSession:
    """A ready onnxruntime session for a bundle, with the provider it really runs on."""

    session: Any
    provider: str  # "cpu" or "cuda"
    input_name: str
    output_names: list[str]

    def run(
        self, images: npt.NDArray[np.float32], names: list[str] | None = None
    ) -> dict[str, npt.NDArray[np.float32]]:
        """Run a (N, 3, S, S) batch; returns the outputs `names` (default: all) by name."""
        wanted = names or self.output_names
        values = self.session.run(wanted, {self.input_name: images})
        return dict(zip(wanted, values, strict=True))


def import_onnxruntime() -> ModuleType:
    """onnxruntime with its telemetry off (the switch is read once, when the native library loads)."""
    already_loaded = "onnxruntime" in sys.modules
    if already_loaded and os.environ.get(TELEMETRY_ENV_VAR) != "1":
        _log.warning("onnxruntime was imported before geocore could turn its telemetry off")
    os.environ[TELEMETRY_ENV_VAR] = "1"  # also for child processes (the scan/predict workers)
    import onnxruntime

    if not already_loaded:
        onnxruntime.disable_telemetry_events()  # the Windows ETW events; harmless elsewhere
    return onnxruntime


def _quiet_options(threads: int | None) -> Any:
    ort = import_onnxruntime()

    # Severity 4 (fatal only): probing CUDA without its libraries must not print a page of errors;
    # real failures still raise exceptions, which we turn into messages.
    ort.set_default_logger_severity(4)
    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    # Spinning worker threads would burn the cores the decode threads need between batches.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def create_session(bundle: ModelBundle, provider: str = "auto", threads: int | None = None) -> ModelSession:
    """Session on `provider` ("auto": CUDA if it really initialises, else CPU); raises ProviderError/BundleError."""
    ort = import_onnxruntime()

    if provider not in PROVIDER_CHOICES:
        raise ProviderError(f"unknown provider {provider!r}; choose one of {', '.join(PROVIDER_CHOICES)}")
    wanted = ["cuda", "cpu"] if provider == "auto" else [provider]
    available = set(ort.get_available_providers())
    if provider == "cuda" and PROVIDERS["cuda"] not in available:
        raise ProviderError("CUDA was requested but this onnxruntime build has no CUDA provider")
    names = [PROVIDERS[name] for name in wanted if PROVIDERS[name] in available] + [PROVIDERS["cpu"]]
    if PROVIDERS["cuda"] in names:
        preload_cuda_libraries(ort)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            session = ort.InferenceSession(bundle.model_source, _quiet_options(threads), providers=names)
        except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph types
            raise BundleError(f"{bundle.path}: model.onnx cannot be loaded by onnxruntime ({error})") from None
    active = "cuda" if PROVIDERS["cuda"] in session.get_providers() else "cpu"
    if provider == "cuda" and active != "cuda":
        raise ProviderError("CUDA was requested but no usable GPU/CUDA libraries were found")
    check_outputs(bundle, session)
    outputs = [*bundle.card.heads, bundle.card.embedding_output]
    if bundle.card.feature_map_output is not None:
        outputs.append(bundle.card.feature_map_output)
    return ModelSession(session, active, session.get_inputs()[0].name, outputs)


_preloaded: list[bool] = []


def preload_cuda_libraries(ort: ModuleType) -> bool:
    """Load the pip-installed CUDA/cuDNN libraries (the `gpu` extra) before a CUDA session; quiet, once.

    onnxruntime-gpu's CUDA provider needs libcudart, cuBLAS and cuDNN. With the `gpu` extra they come as the
    nvidia-* wheels, which the dynamic loader does not search: `onnxruntime.preload_dlls()` loads them from
    site-packages. Without them (no extra, no driver) this does nothing and the session falls back to CPU.
    """
    if _preloaded:
        return _preloaded[0]
    loaded = False
    if importlib.util.find_spec("nvidia") is not None and hasattr(ort, "preload_dlls"):
        sink = io.StringIO()  # preload_dlls prints its warnings; the app reports the provider it got instead
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                ort.preload_dlls(directory="")
            loaded = True
        except Exception as error:  # a broken CUDA wheel must not stop a CPU run
            _log.debug("CUDA libraries not preloaded: %s", error)
        if sink.getvalue().strip():
            _log.debug("preload_dlls: %s", sink.getvalue().strip())
    _preloaded.append(loaded)
    return loaded


def check_outputs(bundle: ModelBundle, session: Any) -> None:
    """The graph's outputs must be the card's, with class counts matching heads and partitionings."""
    shapes = {output.name: output.shape for output in session.get_outputs()}
    card = bundle.card
    for name, head in card.heads.items():
        if name not in shapes:
            raise BundleError(f"{bundle.path}: model.onnx has no output {name!r} named by the card")
        last = shapes[name][-1]
        if isinstance(last, int) and last != head.classes:
            raise BundleError(f"{bundle.path}: output {name} has {last} classes, the card says {head.classes}")
    for output in (card.embedding_output, card.feature_map_output):
        if output is not None and output not in shapes:
            raise BundleError(f"{bundle.path}: model.onnx has no output {output!r} named by the card")
    inputs = session.get_inputs()
    if len(inputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[1] != 3:
        shapes_in = [tuple(item.shape) for item in inputs]
        raise BundleError(f"{bundle.path}: model inputs {shapes_in} are not one (N, 3, H, W) image batch")

