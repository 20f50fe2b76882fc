"""Local development tooling: the stack runner, the path router, tokens. Never shipped."""
