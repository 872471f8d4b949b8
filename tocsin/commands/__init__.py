"""`tocsin` sub-commands, one module per domain. Each exposes `register(subparsers)`."""
