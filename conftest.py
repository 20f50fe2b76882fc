"""Fixtures every suite shares live in betfuz_testing; this file only loads them."""

pytest_plugins = ["betfuz_testing.fixtures"]
