"""Neural building blocks: the D-MPNN encoder, per-task modules and the GATE losses."""
