"""GATE Studio model package: featurisation → data → nn → models → training → task addition.

Data flows one way; a module imports only from layers below it (see README, "Layout").
"""

__version__ = "0.1.0"
