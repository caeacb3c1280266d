"""Task addition (DESIGN §4), learned transfer ratios (§5), uncertainty and applicability domain (§7)."""
