"""Each CRM sink end to end: a paid (and refunded) order → the outbox → the worker → the local fake.

On SQLite and PostgreSQL. The order is made over the real paths (tracked link with an
fbclid, checkout, the Stripe emulator's payment and signed webhook), the worker is the
real one (``Worker(app).run_once()``), and each fake checks what the real API checks.
"""

from __future__ import annotations

import hashlib
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from flask_shoppable.crm.models import OutboxMessage
from flask_shoppable.db import utcnow
from flask_shoppable.testing import (
    FakeGraph,
    FakeSalesforce,
    FakeSegment,
    FakeWebhookReceiver,
)
from flask_shoppable.tracking.models import Interaction

from .helpers import BROWSER, FBCLID, SHOPPER_IP, Shop, config_for, later

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


# -- Salesforce ---------------------------------------------------------------------------


class TestSalesforce:
    @pytest.fixture
    def app_config(self, salesforce: FakeSalesforce) -> dict[str, Any]:
        return config_for(salesforce, sinks=["salesforce"])

    def test_paid_then_refunded(self, shop: Shop, salesforce: FakeSalesforce) -> None:
        order = shop.paid_order()
        assert [m.event for m in shop.messages()] == ["order.paid"]
        shop.drain()
        [message] = shop.messages()
        assert message.status == "delivered", message.last_error
        assert salesforce.token_requests() == 1
        contact = salesforce.find("Contact", "Shoppable_Email__c", "ana.buyer@example.com")
        assert contact is not None
        assert (contact["FirstName"], contact["LastName"]) == ("Ana", "Buyer")
        assert contact["Shoppable_Latest_Source__c"].startswith("instagram / post ")
        opportunity = salesforce.find("Opportunity", "Shoppable_Order_Id__c", str(order.id))
        assert opportunity is not None
        assert opportunity["StageName"] == "Closed Won"
        assert opportunity["Amount"] == 85.0
        assert opportunity["ContactId"] == contact["Id"]
        assert opportunity["Shoppable_Channel__c"] == "instagram"
        assert opportunity["Shoppable_Campaign__c"] == "summer"
        assert opportunity["CloseDate"] == order.paid_at.date().isoformat()
        assert message.result["opportunity"] == {"id": opportunity["Id"], "created": True}

        shop.refund(order, 8500)
        shop.drain()
        refunded = shop.messages()[-1]
        assert (refunded.event, refunded.status) == ("order.refunded", "delivered")
        opportunity = salesforce.find("Opportunity", "Shoppable_Order_Id__c", str(order.id))
        assert opportunity["Amount"] == 0.0
        assert opportunity["Shoppable_Refunded_Amount__c"] == 85.0
        assert opportunity["StageName"] == "Closed Lost"
        assert refunded.result["contact"]["created"] is False
        assert len(salesforce.records["Opportunity"]) == 1
        assert salesforce.token_requests() == 1  # the token is kept between messages

    def test_an_expired_token_is_refreshed_once(
        self, shop: Shop, salesforce: FakeSalesforce
    ) -> None:
        shop.paid_order(email="first@example.com")
        shop.drain()
        salesforce.expire_tokens()
        shop.paid_order(email="second@example.com")
        shop.drain()
        assert [m.status for m in shop.messages()] == ["delivered", "delivered"]
        assert salesforce.token_requests() == 2
        refused = [r for r in salesforce.requests_to("/sobjects/Contact/") if r.method == "PATCH"]
        assert len(refused) == 3  # first order, then second: 401, then again with a new token
        assert refused[1].headers["Authorization"] != refused[2].headers["Authorization"]

    def test_a_4xx_dead_letters_with_salesforce_error_and_5xx_is_retried(
        self, shop: Shop, salesforce: FakeSalesforce
    ) -> None:
        # The merchant forgot one custom field: Salesforce refuses the Opportunity.
        salesforce.schema["Opportunity"]["fields"].discard("Shoppable_Channel__c")
        shop.paid_order(email="first@example.com")
        salesforce.fail(status=503, path_contains="/sobjects/Contact/")
        shop.drain()
        [message] = shop.messages()
        assert message.status == "pending"
        assert message.attempts == 1
        assert "503" in message.last_error
        shop.drain(later())
        [message] = shop.messages()
        assert message.status == "dead"
        assert (
            "INVALID_FIELD: No such column 'Shoppable_Channel__c' on sobject of type "
            "Opportunity [Shoppable_Channel__c]" in message.last_error
        )
        # ...and the next order still goes through once the field exists.
        salesforce.schema["Opportunity"]["fields"].add("Shoppable_Channel__c")
        shop.paid_order(email="second@example.com")
        shop.drain()
        assert [m.status for m in shop.messages()] == ["dead", "delivered"]

    def test_a_dispute_is_noted_on_the_opportunity(
        self, shop: Shop, salesforce: FakeSalesforce
    ) -> None:
        order = shop.paid_order()
        shop.emulator.dispute(str(order.provider_payment_id))
        shop.emulator.wait_for_deliveries(timeout=20)
        shop.drain()
        _paid, disputed = shop.messages()
        assert disputed.event == "order.disputed"
        assert disputed.status == "delivered", disputed.last_error
        opportunity = salesforce.find("Opportunity", "Shoppable_Order_Id__c", str(order.id))
        assert opportunity["Description"].startswith("Payment disputed (")
        assert opportunity["StageName"] == "Closed Won"


class TestSalesforceBeforeApi46:
    """Before API 46.0, an upsert that updates answers 204 with no body: still delivered."""

    @pytest.fixture
    def app_config(self, salesforce: FakeSalesforce) -> dict[str, Any]:
        return config_for(
            salesforce, sinks=["salesforce"], SHOPPABLE_SALESFORCE_API_VERSION="v45.0"
        )

    def test_204_on_update(self, shop: Shop, salesforce: FakeSalesforce) -> None:
        order = shop.paid_order()
        shop.refund(order, 1000)
        shop.drain()
        paid, refunded = shop.messages()
        assert (paid.status, refunded.status) == ("delivered", "delivered"), refunded.last_error
        assert refunded.result["opportunity"] == {"id": None, "created": False}
        opportunity = salesforce.find("Opportunity", "Shoppable_Order_Id__c", str(order.id))
        assert opportunity["Amount"] == 75.0
        assert all("/v45.0/" in r.path for r in salesforce.requests_to("/sobjects/"))

    def test_wrong_credentials_wait_for_the_merchant(
        self, shop: Shop, salesforce: FakeSalesforce
    ) -> None:
        salesforce.client_secret = "rotated-in-salesforce"
        shop.paid_order()
        shop.drain()
        [message] = shop.messages()
        assert message.status == "pending"
        assert "invalid_client" in message.last_error
        assert "rotated" not in message.last_error
        assert salesforce.requests_to("/sobjects/") == []


# -- Signed webhook -----------------------------------------------------------------------


def readme_verifier() -> Any:
    """The README's verification snippet, run as a receiver would paste it."""
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    block = next((b for b in blocks if "def verify_shoppable_signature" in b), None)
    assert block, "the README lost its webhook verification snippet"
    namespace: dict[str, Any] = {}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    return namespace["verify_shoppable_signature"]


class TestWebhook:
    @pytest.fixture
    def app_config(self, receiver: FakeWebhookReceiver) -> dict[str, Any]:
        return config_for(receiver, sinks=["webhook"])

    def test_signed_events_verified_by_the_readme_snippet(
        self, shop: Shop, receiver: FakeWebhookReceiver
    ) -> None:
        order = shop.paid_order()
        shop.refund(order, 2000)
        shop.drain()
        assert [m.status for m in shop.messages()] == ["delivered", "delivered"]
        paid_key, refund_key = f"{order.id}:order.paid:1", f"{order.id}:order.refunded:2000"
        assert set(receiver.deliveries) == {paid_key, refund_key}
        paid = receiver.deliveries[paid_key]
        assert (paid["id"], paid["type"], paid["attempt"]) == (paid_key, "order.paid", 1)
        assert paid["data"]["order"]["total_amount"] == 8500
        assert paid["data"]["customer"]["email"] == "ana.buyer@example.com"
        assert paid["data"]["attribution"]["channel"] == "instagram"
        assert paid["data"]["attribution"]["campaign"] == "summer"
        assert receiver.deliveries[refund_key]["data"]["order"]["refunded_amount"] == 2000

        verify = readme_verifier()
        secret = shop.app.config["SHOPPABLE_WEBHOOK_SINK_SECRET"]
        for request in receiver.requests_to("/hooks/shoppable", "POST"):
            header = request.headers["Shoppable-Signature"]
            assert verify(secret, request.body, header)
            assert not verify(secret, request.body + b" ", header)
            assert not verify("another-secret-of-some-length", request.body, header)
            t = int(header.split(",")[0][2:])
            assert abs(t - time.time()) < 60
            stale = header.replace(f"t={t}", f"t={t - 3600}")
            assert not verify(secret, request.body, stale)
            assert request.headers["Idempotency-Key"] in (paid_key, refund_key)

    def test_a_resend_keeps_one_record_and_failures_retry(
        self, shop: Shop, receiver: FakeWebhookReceiver
    ) -> None:
        shop.paid_order()
        receiver.fail(status=500)
        shop.drain()
        assert shop.messages()[0].status == "pending"
        shop.drain(later())
        assert shop.messages()[0].status == "delivered"
        # A worker killed after the receiver answered but before it marked the message:
        # the message is delivered again, with the same key, and the receiver keeps one.
        shop.session.execute(
            update(OutboxMessage).values(status="pending", next_attempt_at=utcnow())
        )
        shop.session.commit()
        shop.drain(later())
        assert shop.messages()[0].status == "delivered"
        assert len(receiver.deliveries) == 1
        assert receiver.duplicates == 1
        receiver.fail(status=410, body={"error": "gone"})
        shop.session.execute(
            update(OutboxMessage).values(status="pending", next_attempt_at=utcnow())
        )
        shop.session.commit()
        shop.drain(later())
        [message] = shop.messages()
        assert message.status == "dead"
        assert "410" in message.last_error


# -- Segment ------------------------------------------------------------------------------


class TestSegment:
    @pytest.fixture
    def app_config(self, segment: FakeSegment) -> dict[str, Any]:
        return config_for(segment, sinks=["segment"])

    def test_order_completed_and_refunded(self, shop: Shop, segment: FakeSegment) -> None:
        order = shop.paid_order()
        shop.refund(order, 2000)
        shop.drain()
        sent = shop.messages()
        assert [m.status for m in sent] == ["delivered", "delivered"], sent[0].last_error
        [completed] = segment.tracks("Order Completed")
        assert completed["messageId"] == f"{order.id}:order.paid:1"
        assert completed["userId"] == f"customer:{order.customer_id}"
        props = completed["properties"]
        assert props["order_id"] == str(order.id)
        assert (props["total"], props["revenue"], props["currency"]) == (85.0, 85.0, "USD")
        [line] = props["products"]
        assert (line["price"], line["quantity"]) == (42.5, 2)
        assert line["sku"].startswith("LS-")
        assert (props["channel"], props["campaign"], props["partner"]) == (
            "instagram",
            "summer",
            "ana",
        )
        assert props["interaction_kind"] == "click"
        campaign = completed["context"]["campaign"]
        assert campaign["name"] == "summer"
        assert campaign["source"] == "instagram"
        assert campaign["content"] == "reel"
        assert set(campaign) <= {"name", "source", "medium", "term", "content"}
        [refunded] = segment.tracks("Order Refunded")
        assert refunded["properties"] == {
            "order_id": str(order.id),
            "total": 20.0,
            "currency": "USD",
        }
        assert refunded["messageId"] == f"{order.id}:order.refunded:2000"

        # A resend (same messageId) is dropped by Segment.
        shop.session.execute(
            update(OutboxMessage).values(status="pending", next_attempt_at=utcnow())
        )
        shop.session.commit()
        shop.drain(later())
        assert segment.duplicates == 2
        assert len(segment.tracks()) == 2

    def test_429_retry_after_and_timeouts_are_retried(
        self, shop: Shop, segment: FakeSegment
    ) -> None:
        shop.paid_order()
        segment.fail(status=429, headers={"Retry-After": "120"}, body={"message": "slow down"})
        before = utcnow()
        shop.drain()
        [message] = shop.messages()
        assert message.status == "pending"
        assert "429" in message.last_error
        wait = (message.next_attempt_at - before).total_seconds()
        assert 115 <= wait <= 140  # Segment's Retry-After, not the short backoff
        segment.fail(delay=2.5)  # longer than SHOPPABLE_OUTBOX_HTTP_TIMEOUT (2 s)
        shop.drain(later())
        [message] = shop.messages()
        assert message.status == "pending"
        assert "no answer within 2s" in message.last_error
        assert message.attempts == 1  # a 429 pauses the sink and costs no attempt
        shop.drain(later(120))
        [message] = shop.messages()
        assert message.status == "delivered", message.last_error
        assert len(segment.tracks()) == 1

    def test_a_bad_write_key_dead_letters(self, shop: Shop, segment: FakeSegment) -> None:
        segment.write_key = "rotated-key"
        shop.paid_order()
        shop.drain()
        [message] = shop.messages()
        assert message.status == "dead"
        assert "401" in message.last_error


# -- Meta Conversions API -----------------------------------------------------------------


class TestConversionsApi:
    @pytest.fixture
    def app_config(self, graph: FakeGraph) -> dict[str, Any]:
        return {
            "SHOPPABLE_CRM_SINKS": ["meta_capi"],
            "SHOPPABLE_CLICK_WRITE_MODE": "durable",
            "SHOPPABLE_META_GRAPH_URL": graph.url,
            "SHOPPABLE_META_PIXEL_ID": graph.add_pixel("4455667788"),
            "SHOPPABLE_META_CAPI_TOKEN": graph.add_token(),
            "SHOPPABLE_PUBLIC_URL": "https://shop.example.com",
        }

    def test_purchase_event(self, shop: Shop, graph: FakeGraph) -> None:
        order = shop.paid_order()
        shop.refund(order, 2000)
        sent = shop.messages()
        assert [m.event for m in sent] == ["order.paid"]  # refunds are not CAPI events
        shop.drain()
        assert shop.messages()[0].status == "delivered", shop.messages()[0].last_error
        [event] = graph.capi_events["4455667788"]
        assert event["event_name"] == "Purchase"
        assert event["event_id"] == str(order.id)
        assert event["event_time"] == int(order.paid_at.timestamp())
        assert event["action_source"] == "website"
        assert event["event_source_url"] == "https://shop.example.com/shop/checkout/success"
        user = event["user_data"]
        assert user["em"] == [hashlib.sha256(b"ana.buyer@example.com").hexdigest()]
        click = shop.session.get(Interaction, order.origin_interaction_id)
        assert click is not None
        assert click.click_ids["fbclid"] == FBCLID
        assert user["fbc"] == f"fb.1.{int(click.occurred_at.timestamp() * 1000)}.{FBCLID}"
        assert user["client_user_agent"] == BROWSER
        assert user["client_ip_address"] == SHOPPER_IP
        custom = event["custom_data"]
        assert (custom["value"], custom["currency"], custom["order_id"]) == (
            85.0,
            "USD",
            str(order.id),
        )
        assert custom["num_items"] == 2
        call = graph.requests_to("/4455667788/events")[0]
        assert "access_token" not in call.query  # the token travels in a header
        assert call.path.startswith("/v21.0/")

    def test_an_event_older_than_7_days_is_dead_lettered_not_sent(
        self, shop: Shop, graph: FakeGraph
    ) -> None:
        shop.paid_order()
        # The outbox was stuck for 8 days (the worker was down): the message is that old.
        [message] = shop.messages()
        payload = dict(message.payload)
        paid_at = (utcnow() - timedelta(days=8)).isoformat()
        payload["order"] = {**payload["order"], "paid_at": paid_at}
        message.payload = payload
        shop.session.commit()
        shop.drain()
        [message] = shop.messages()
        assert message.status == "dead"
        assert "more than 7 days ago" in message.last_error
        assert "not sent" in message.last_error
        assert graph.requests_to("/events") == []

    def test_a_sale_from_an_instagram_conversation_is_business_messaging(
        self, shop: Shop, graph: FakeGraph
    ) -> None:
        shop.paid_order()
        [message] = shop.messages()
        message.payload = {
            **message.payload,
            "social": {
                "messaging_channel": "instagram",
                "account_id": "17841400000000001",
                "social_identity": {"platform": "instagram", "user_id": "6789012345"},
            },
        }
        shop.session.commit()
        shop.drain()
        assert shop.messages()[0].status == "delivered", shop.messages()[0].last_error
        [event] = graph.capi_events["4455667788"]
        assert event["action_source"] == "business_messaging"
        assert event["messaging_channel"] == "instagram"
        assert event["user_data"]["ig_account_id"] == "17841400000000001"
        assert event["user_data"]["ig_sid"] == "6789012345"
        assert "event_source_url" not in event

    def test_graph_errors_expired_token_waits_unknown_pixel_dead_letters(
        self, shop: Shop, graph: FakeGraph
    ) -> None:
        graph.expire_token(shop.app.config["SHOPPABLE_META_CAPI_TOKEN"])
        shop.paid_order()
        shop.drain()
        [message] = shop.messages()
        assert message.status == "pending"  # waits for the merchant to renew the token
        assert "code 190/463" in message.last_error
        assert "Session has expired" in message.last_error
        graph.add_token(shop.app.config["SHOPPABLE_META_CAPI_TOKEN"])  # renewed
        graph.pixels.clear()  # ...but the pixel was deleted
        shop.drain(later())
        [message] = shop.messages()
        assert message.status == "dead"
        assert "code 100/33" in message.last_error
        assert graph.capi_events == {}

    def test_a_shopper_who_opted_out_is_not_sent(self, shop: Shop, graph: FakeGraph) -> None:
        shop.paid_order(privacy={"Sec-GPC": "1"})
        shop.drain()
        [message] = shop.messages()
        assert message.status == "delivered"
        assert message.result == {"skipped": "no browser data (the shopper opted out of tracking)"}
        assert graph.requests_to("/events") == []
