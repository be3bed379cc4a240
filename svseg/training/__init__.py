"""Training: svseg's nnUNetTrainer subclass, driven by the plans' recipe."""
