"""What the Betfuz payment services share. Framework-free core; Starlette adapters live in `web`."""
