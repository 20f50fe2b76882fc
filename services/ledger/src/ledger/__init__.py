"""Ledger service: records settled big wins on an EVM chain (Polygon) for compliance."""
