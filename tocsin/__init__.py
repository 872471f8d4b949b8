"""Tocsin: the shell — settings, CLI, pipeline wiring, console, telemetry."""

__version__ = "0.1.0"
