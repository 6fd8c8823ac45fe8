"""Pushdown backends; each module registers itself in engine.pushdown.backend.BACKENDS."""
