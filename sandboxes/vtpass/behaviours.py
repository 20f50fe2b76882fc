"""What the sandbox does, chosen by the number being topped up (`phone`, national form). VTpass's
own sandbox keys its behaviours on magic numbers that are not valid Nigerian mobiles, which our
API refuses; these are valid MTN numbers of our own.

| number       | pay answers                              | requery answers                   |
|--------------|------------------------------------------|-----------------------------------|
| 08060000001  | 000, delivered (any unlisted number)     | 000 delivered                     |
| 08060000002  | 099 processing                           | 000 delivered                     |
| 08060000003  | 000, failed                              | 000 failed                        |
| 08060000004  | an unexpected answer (code "X01")        | 000 initiated, for ever           |
| 08060000005  | no answer: the connection is closed      | 000 delivered                     |
|              | half-way through the body                |                                   |
| 08060000006  | sleeps past the client's timeout         | 000 delivered                     |
| 08060000007  | 000, delivered                           | 000 reversed (after delivered)    |
| 08060000008  | 091 transaction not processed            | 015 invalid request id            |
| 08060000009  | 099 processing; an UNSIGNED notification | 000 pending until the             |
|              | (delivered) follows after the delay      | notification goes out, then       |
|              |                                          | delivered                         |

A pay with a request_id the sandbox already has is answered 014 "request id already exists"
(HTTP 200), whatever the first answer was: nothing is done again. A request_id whose first 12
characters are not a Lagos date and time within a day of now is answered 085. A requery for a
request_id it never saw is answered 015. Wrong Basic credentials: HTTP 401, code 087.

Data (`serviceID` ending in `-data`) takes a `variation_code` from GET /api/service-variations
(VARIATIONS below, VTpass-shaped plans per network); an unknown one is answered 010. The price
charged is the plan's, as VTpass does.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Behaviour:
    name: str
    pay_code: str  # "" for no normal answer (hang-up, timeout)
    pay_status: str | None  # the transaction's status under a 000 pay answer
    requery_status: str | None  # None: the requery answers 015 (never seen)
    hang_up: bool = False
    timeout: bool = False
    notify: bool = False
    unexpected: bool = False

    @property
    def reverses_later(self) -> bool:
        """Delivered at pay time, reversed by the time of the requery."""
        return self.pay_status == "delivered" and self.requery_status == "reversed"


SUCCESS = Behaviour("success", "000", "delivered", "delivered")
BEHAVIOURS: dict[str, Behaviour] = {
    "08060000001": SUCCESS,
    "08060000002": Behaviour("processing_then_delivered", "099", None, "delivered"),
    "08060000003": Behaviour("failure", "000", "failed", "failed"),
    "08060000004": Behaviour("unexpected", "X01", None, "initiated", unexpected=True),
    "08060000005": Behaviour("no_answer", "", None, "delivered", hang_up=True),
    "08060000006": Behaviour("timeout", "", None, "delivered", timeout=True),
    "08060000007": Behaviour("reversed_after_delivered", "000", "delivered", "reversed"),
    "08060000008": Behaviour("not_processed", "091", None, None),
    "08060000009": Behaviour("notified", "099", None, "delivered", notify=True),
}


def behaviour_for(phone: str) -> Behaviour:
    return BEHAVIOURS.get(phone, SUCCESS)


# (variation_code, name, price): shaped like VTpass's lists (`variation_amount` a string).
_PLANS: dict[str, list[tuple[str, str, str]]] = {
    "mtn-data": [
        ("mtn-10mb-100", "N100 100MB - 24 hrs", "100.00"),
        ("mtn-50mb-200", "N200 200MB - 2 days", "200.00"),
        ("mtn-100mb-1000", "N1000 1.5GB - 30 days", "1000.00"),
        ("mtn-500mb-2000", "N2000 4.5GB - 30 days", "2000.00"),
        ("mtn-20hrs-1500", "N1500 6GB - 7 days", "1500.00"),
        ("mtn-3gb-3500", "N3500 10GB - 30 days", "3500.00"),
    ],
    "airtel-data": [
        ("airt-100", "Airtel 75MB - 1 day", "100.00"),
        ("airt-500", "Airtel 750MB - 14 days", "500.00"),
        ("airt-1000", "Airtel 1.5GB - 30 days", "1000.00"),
        ("airt-2000", "Airtel 4.5GB - 30 days", "2000.00"),
    ],
    "glo-data": [
        ("glo100", "Glo 105MB - 2 days", "100.00"),
        ("glo500", "Glo 1.05GB - 14 days", "500.00"),
        ("glo1000", "Glo 2.5GB - 30 days", "1000.00"),
    ],
    "etisalat-data": [
        ("eti-100", "9mobile 100MB - 1 day", "100.00"),
        ("eti-500", "9mobile 500MB - 30 days", "500.00"),
        ("eti-1000", "9mobile 1.5GB - 30 days", "1000.00"),
    ],
}
VARIATIONS: dict[str, list[dict[str, str]]] = {
    service: [
        {"variation_code": code, "name": name, "variation_amount": price, "fixedPrice": "Yes"}
        for code, name, price in plans
    ]
    for service, plans in _PLANS.items()
}
