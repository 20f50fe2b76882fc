"""VTpass sandbox (dev only): `python -m sandboxes.vtpass`. See behaviours.py."""
