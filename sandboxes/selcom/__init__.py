"""Selcom utility-payment sandbox (dev only): `python -m sandboxes.selcom`. See behaviours.py."""
