"""The engine: rule manifests, check types and the one-scan Polars evaluator over connectorx readers."""
