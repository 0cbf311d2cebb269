"""The `gpu` extra's CUDA path, as far as a machine without a GPU can check it: preloading the pip CUDA libraries
is attempted only for CUDA, never prints, and `auto` falls back to CPU quietly and says so."""

from __future__ import annotations

import pytest

from geotagger.geocore.inference import runtime
from geotagger.geocore.inference.bundle import load_bundle


def test_auto_falls_back_to_cpu_quietly(tiny_bundle, capfd: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "_preloaded", [])
    session = runtime.create_session(load_bundle(tiny_bundle), "auto")
    ort = runtime.import_onnxruntime()
    if "CUDAExecutionProvider" in ort.get_available_providers() and session.provider == "cuda":
        pytest.skip("a usable GPU is present: nothing to fall back from")
    assert session.provider == "cpu"
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""


def test_preload_is_quiet_and_once(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    calls = []

    class FakeOrt:
        def preload_dlls(self, directory: str | None = None) -> None:
            calls.append(directory)
            print("WARNING: libcudnn not found")  # what onnxruntime prints without the libraries

    monkeypatch.setattr(runtime, "_preloaded", [])
    monkeypatch.setattr(runtime.importlib.util, "find_spec", lambda name: object())
    assert runtime.preload_cuda_libraries(FakeOrt()) is True
    assert runtime.preload_cuda_libraries(FakeOrt()) is True
    assert calls == [""] and capfd.readouterr().out == ""


def test_cuda_requested_without_gpu_is_an_error(tiny_bundle) -> None:
    ort = runtime.import_onnxruntime()
    try:
        session = runtime.create_session(load_bundle(tiny_bundle), "cuda")
    except runtime.ProviderError as error:
        assert "CUDA" in str(error)
    else:
        assert session.provider == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers()
