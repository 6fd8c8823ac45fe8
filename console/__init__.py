"""Streamlit-side helpers shared by the pages (identity, caching); never imported by engine/ or store/."""
