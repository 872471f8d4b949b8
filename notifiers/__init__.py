"""Notices: drafting (Jinja2, sandboxed), RSSI approval, SMTP outbox, CNIL export (DESIGN §6)."""
