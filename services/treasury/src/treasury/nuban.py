"""NUBAN account numbers: nine serial digits and the CBN check digit for the bank's code.

CBN NUBAN standard: weight the digits of bank code + serial with 3, 7, 3, 3, 7, 3, ...;
check digit = (10 - sum % 10) % 10. The 3-digit bank codes ("035" for Wema) and their 6-digit
form ("000035") give the same digit, because the weights repeat every three places.
"""

from __future__ import annotations

import re
from itertools import cycle

WEMA_BANK_CODE = "035"
_DIGITS = re.compile(r"^[0-9]+$")
_WEIGHTS = (3, 7, 3)


def check_digit(bank_code: str, serial: str) -> int:
    if not _DIGITS.fullmatch(bank_code) or len(bank_code) not in (3, 6):
        raise ValueError("bank code must be 3 or 6 digits")
    if not _DIGITS.fullmatch(serial) or len(serial) != 9:
        raise ValueError("serial must be 9 digits")
    total = sum(int(d) * w for d, w in zip(bank_code + serial, cycle(_WEIGHTS), strict=False))
    return (10 - total % 10) % 10


def is_valid_nuban(account_number: str, bank_code: str = WEMA_BANK_CODE) -> bool:
    if len(account_number) != 10 or not _DIGITS.fullmatch(account_number):
        return False
    return check_digit(bank_code, account_number[:9]) == int(account_number[9])
