"""ONNX inference: model bundles, preprocessing, hierarchical prediction, scene type and saliency. No torch here."""
