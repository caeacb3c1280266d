"""Training: the multi-task GATE objective, pre-training loop, evaluation, distributed set-up."""
