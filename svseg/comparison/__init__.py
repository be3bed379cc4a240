"""Side-by-side comparison of architectures trained on one plan and fold (``svseg compare``).

This stage comes after evaluation in the data flow: it calls training, inference and evaluation
through their APIs and reads their outputs, and nothing earlier imports it.
"""
