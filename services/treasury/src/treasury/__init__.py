"""Treasury service: Wema Bank virtual accounts and deposit credits."""
