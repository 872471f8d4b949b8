"""The RSSI console: FastAPI pages and the JSON API under `/api/v1` (docs/architecture.md §11)."""
