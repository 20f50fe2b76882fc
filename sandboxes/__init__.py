"""Provider sandboxes for local runs and end-to-end tests (dev only, never shipped)."""
