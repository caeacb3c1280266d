"""The GATE model and its checkpoint format."""
