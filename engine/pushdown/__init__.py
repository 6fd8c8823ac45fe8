"""The pushdown executor: the plan's aggregates run as SQL inside the source (engine/pushdown/executor.py)."""
