"""Phase 1 of section 3.2 ("obj-general"): objectness patches, the objective, the pool5 cache."""
