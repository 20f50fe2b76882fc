"""`make bench`: the numbers behind docs/PERFORMANCE.md."""
