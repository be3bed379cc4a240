"""svseg: a self-configuring segmentation pipeline for small medical objects, on nnU-Net."""

__version__ = "0.1.0"
