"""Notices: sandboxed drafts, approval, SMTP outbox, CNIL export (docs/architecture.md §10)."""
