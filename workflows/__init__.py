"""Deterministic workflow classes; each module imports contracts and queues only."""
