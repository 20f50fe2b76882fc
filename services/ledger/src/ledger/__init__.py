"""Ledger service: big wins recorded on Polygon."""
