"""Exporting a run to the WD14 ONNX layout, ONNX, LiteRT and SavedModel; the top layer."""
