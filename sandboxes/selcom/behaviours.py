"""What the sandbox does, chosen by the number being topped up (utilityref, national form).

| number       | process answers                  | then                                        |
|--------------|----------------------------------|---------------------------------------------|
| 08030000001  | 000 success                      | nothing (any unlisted number behaves so)    |
| 08030000002  | 051 definitive failure           | nothing                                     |
| 08030000003  | 111 in progress                  | webhook SUCCESS after the webhook delay     |
| 08030000004  | 927 in progress                  | webhook FAILED after the webhook delay      |
| 08030000005  | 999 ambiguous                    | no webhook; the query says SUCCESS          |
| 08030000006  | 999 ambiguous                    | no webhook; the query says FAILED           |
| 08030000007  | sleeps past the client's timeout | no webhook; the query says SUCCESS          |
| 08030000008  | sleeps past the client's timeout | no webhook; the query says FAILED           |
| 08030000009  | first call 503, request lost     | the query says not found (404); a second    |
|              |                                  | process call with the same transid succeeds |
| 08030000010  | 999 ambiguous                    | the query lags: not found (404) three times |
|              |                                  | although Selcom has it, then SUCCESS        |
| 08030000011  | 999 ambiguous                    | the query lags three times, then FAILED     |

A process call with a transid the sandbox already has is refused, as gateways refuse a reused
reference: HTTP 409, result code 409, "duplicate transid". It never repeats the first answer;
the query is what tells the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Final = Literal["SUCCESS", "FAILED"]
FAILURE_CODE = "051"
# What each answer says, as Selcom's `message`: the topup service keeps it as the topup's
# errorMessage, so it has to tell a person what happened.
DELIVERED = "top-up delivered"
REFUSAL_REASON = f"the operator refused the top-up ({FAILURE_CODE})"
REFUSED = f"transaction failed: {REFUSAL_REASON}"
IN_PROGRESS = "request accepted and in progress: the result follows by webhook"
AMBIGUOUS = "result not known yet: query the transaction status"
LATE = ", answered after the client's timeout"


@dataclass(frozen=True)
class Behaviour:
    name: str
    first_code: str  # what process answers first ("" for timeout/lost: no normal answer)
    final: Final
    webhook: bool = False
    timeout: bool = False
    lost_once: bool = False
    message: str = DELIVERED  # what the process answer says
    query_lag: int = 0  # how many queries answer "not found" although the order is known

    @property
    def final_message(self) -> str:
        """What the webhook and the status query say once the outcome is known."""
        return DELIVERED if self.final == "SUCCESS" else REFUSED


SUCCESS = Behaviour("success", "000", "SUCCESS")
BEHAVIOURS: dict[str, Behaviour] = {
    "08030000001": SUCCESS,
    "08030000002": Behaviour("failure", FAILURE_CODE, "FAILED", message=REFUSED),
    "08030000003": Behaviour(
        "progress_then_success", "111", "SUCCESS", webhook=True, message=IN_PROGRESS
    ),
    "08030000004": Behaviour(
        "progress_then_failure", "927", "FAILED", webhook=True, message=IN_PROGRESS
    ),
    "08030000005": Behaviour("ambiguous_success", "999", "SUCCESS", message=AMBIGUOUS),
    "08030000006": Behaviour("ambiguous_failure", "999", "FAILED", message=AMBIGUOUS),
    "08030000007": Behaviour(
        "timeout_success", "000", "SUCCESS", timeout=True, message=DELIVERED + LATE
    ),
    "08030000008": Behaviour(
        "timeout_failure", FAILURE_CODE, "FAILED", timeout=True, message=REFUSED + LATE
    ),
    "08030000009": Behaviour("lost_once", "000", "SUCCESS", lost_once=True),
    "08030000010": Behaviour("lagging_success", "999", "SUCCESS", message=AMBIGUOUS, query_lag=3),
    "08030000011": Behaviour("lagging_failure", "999", "FAILED", message=AMBIGUOUS, query_lag=3),
}


def behaviour_for(utilityref: str) -> Behaviour:
    return BEHAVIOURS.get(utilityref, SUCCESS)
