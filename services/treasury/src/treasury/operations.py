"""Treasury's operations: the cases it opens and the actions that resolve them.

A placeholder for the reconciliation work, which opens `amount_mismatch` cases; the actions
treasury offers are added with the operations API.
"""

from __future__ import annotations

from betfuz_common.ops.domain import Operations

OPERATIONS = Operations("treasury", [])
