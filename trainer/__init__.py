"""Trains the MLP head ("gato ou cachorro?") on features of the pretrained backbone and exports it to ONNX."""
