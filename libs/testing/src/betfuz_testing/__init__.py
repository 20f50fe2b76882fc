"""Test support for the Betfuz services (dev only): databases, tokens, service processes."""
