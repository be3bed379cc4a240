"""The demo: embedded data and the whole job (import -> plan -> train -> predict -> evaluate) in one call.

``synthetic3d`` generates a seeded CT-like 3D dataset; ``api`` runs the demo on it or on the
embedded nuclei images (``svseg/demo_data/nuclei``). Nothing here is imported by the pipeline's
stages: the demo sits after evaluation in the data flow and only calls the stages' APIs.
"""
