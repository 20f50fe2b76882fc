from structlog.testing import capture_logs

from betfuz_common.logging import redact_value
from betfuz_testing.tokens import bearer
from sandboxes.wema.accounts import Bank
from services.treasury.tests.support import AppClient, NewUser, account_body, random_bvn


async def test_no_log_event_carries_the_bvn_on_success_refusal_or_provider_failure(
    app_client: AppClient, new_user: NewUser, bank: Bank
) -> None:
    user, other = await new_user(), await new_user()
    bvn = random_bvn()
    bank.failures.append(("error", 0))
    with capture_logs() as events:
        async with app_client() as client:
            answers = [
                await client.post(
                    "/treasury/accounts", json=account_body(bvn), headers=bearer(user)
                ),
                await client.post(
                    "/treasury/accounts", json=account_body(bvn), headers=bearer(user)
                ),
                await client.post(
                    "/treasury/accounts", json=account_body(bvn), headers=bearer(other)
                ),
                await client.post(
                    "/treasury/accounts", json=account_body(bvn + "1"), headers=bearer(other)
                ),
            ]
    assert [a.status_code for a in answers] == [502, 201, 422, 422]
    assert any(e["event"] == "wema_create_failed" for e in events)
    assert any(e["event"] == "account_created" for e in events)
    assert bvn not in repr(events)
    for answer in answers:
        assert bvn not in answer.text


def test_the_shared_redaction_would_mask_a_bvn_that_slipped_into_a_message() -> None:
    # Defence in depth: the shared processor masks any 11-digit run a future log line might hold.
    assert "22222222222" not in redact_value("bvn 22222222222 seen")
