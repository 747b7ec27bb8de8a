"""Command-line entry points (thin Hydra mains delegating to the package)."""
