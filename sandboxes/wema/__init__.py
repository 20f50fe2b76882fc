"""Wema Bank sandbox (dev only): virtual accounts with valid NUBANs and signed deposit webhooks.

`python -m sandboxes.wema` serves it on $PORT (9102); `python -m sandboxes.wema deposit ...`
asks a running sandbox to deliver a deposit webhook. See server.py for the endpoints.
"""
