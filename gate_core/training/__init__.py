"""Training: one engine (``engine.fit``), the GATE objective, pre-training, evaluation, DDP."""
