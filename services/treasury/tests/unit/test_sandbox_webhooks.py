from sandboxes.wema.webhooks import build_deposits, dechunk, delivery_order


def test_a_chunked_body_is_reassembled() -> None:
    assert dechunk(b'4\r\n{"a"\r\n3\r\n:1}\r\n0\r\n\r\n') == b'{"a":1}'


def test_out_of_order_delivers_the_newest_first_and_duplicates_after_the_originals() -> None:
    payloads = build_deposits({"account_number": "1234567899", "amount": "5", "deposits": 3})
    order = delivery_order(payloads, duplicates=2, out_of_order=True)
    references = [p["transaction_reference"] for p in order]
    first_round = [p["transaction_reference"] for p in reversed(payloads)]
    assert references == first_round * 2
    dates = [p["transaction_date"] for p in payloads]
    assert dates == sorted(dates)
