"""Relational prediction (DESIGN §6): MetaLink's data–task graph on the frozen GATE common chart.

Layers: ``graph`` (the per-batch bipartite graph of known labels) → ``head`` (the model) →
``train`` (training on the backbone's own table) / ``io`` (safetensors + JSON) → ``predict``
(known measurements, added tasks, the zero-training preview of a new task).
"""
