"""Prediction: any supported file in, a mask in the same format and geometry out.

Entry point: :func:`svseg.inference.api.predict`. Modules by job: ``model_loading`` (find and
load a trained model folder), ``inputs`` (list, check and convert inputs), ``predictor``
(nnU-Net's predictor with batched sliding windows), ``chunked`` (one case, in chunks of slices),
``writing`` (atomic masks and probabilities), ``api`` (the whole run).
"""
