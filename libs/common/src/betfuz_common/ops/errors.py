"""What the operations rules refuse; OPS_ERRORS joins every service's error map."""

from __future__ import annotations

from betfuz_common.errors import ErrorMap, ProblemType
from betfuz_common.ops.domain import ActionRefused


class CaseNotFound(Exception):
    pass


class ActionNotFound(Exception):
    pass


class ActionNotOffered(Exception):
    """The service offers no such action for this kind of case."""


class CaseAlreadyResolved(Exception):
    pass


class ProposalPending(Exception):
    """Another action waits for approval on this case: decide that one first."""


class AlreadyDecided(Exception):
    pass


class OwnProposal(Exception):
    """Four eyes: the proposer may not approve or reject their own proposal."""


OPS_ERRORS: ErrorMap = {
    CaseNotFound: ProblemType(404, "case_not_found", "Not found", "no such case"),
    ActionNotFound: ProblemType(404, "action_not_found", "Not found", "no such action"),
    ActionNotOffered: ProblemType(422, "action_not_offered", "Action not offered"),
    ActionRefused: ProblemType(422, "action_refused", "Action refused"),
    CaseAlreadyResolved: ProblemType(
        409, "case_resolved", "Case resolved", "this case is already resolved"
    ),
    ProposalPending: ProblemType(
        409, "proposal_pending", "Proposal pending", "another action on this case awaits a decision"
    ),
    AlreadyDecided: ProblemType(
        409, "action_decided", "Already decided", "this action was already approved or rejected"
    ),
    OwnProposal: ProblemType(
        403, "four_eyes", "Forbidden", "an action is decided by an ops user other than its proposer"
    ),
}
