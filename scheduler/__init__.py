"""The scheduler process: runs due suites and run requests under leases, housekeeping, and health."""
