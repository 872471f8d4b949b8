"""The RSSI console: FastAPI pages and the JSON API under `/api/v1` (DESIGN §7)."""
