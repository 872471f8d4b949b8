"""Incidents: persistence, correlation, clocks, severity, register and audit chain."""
