"""What the product tells the tools operators already run: log lines to grep and Prometheus counters."""
