"""Topup service: airtime and data purchases through Selcom."""
