"""The fake Salesforce, Segment, webhook receiver and CAPI check what the real ones do."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator

import pytest
import requests

from flask_shoppable.testing import FakeGraph, FakeSalesforce, FakeSegment, FakeWebhookReceiver


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


@pytest.fixture
def salesforce() -> Iterator[FakeSalesforce]:
    with FakeSalesforce() as fake:
        yield fake  # type: ignore[misc]


def _token(http: requests.Session, sf: FakeSalesforce) -> str:
    r = http.post(
        f"{sf.url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": sf.client_id,
            "client_secret": sf.client_secret,
        },
        timeout=5,
    )
    assert r.status_code == 200
    assert r.json()["token_type"] == "Bearer"
    return str(r.json()["access_token"])


def test_salesforce_token_and_upsert(http: requests.Session, salesforce: FakeSalesforce) -> None:
    bad = http.post(
        f"{salesforce.url}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
        timeout=5,
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_client"
    token = _token(http, salesforce)
    url = f"{salesforce.url}/services/data/v60.0/sobjects/Contact/Shoppable_Email__c/a@example.com"
    headers = {"Authorization": f"Bearer {token}"}
    created = http.patch(url, json={"LastName": "Ana", "Email": "a@example.com"}, headers=headers)
    assert created.status_code == 201
    assert created.json()["created"] is True
    updated = http.patch(url, json={"FirstName": "Ana"}, headers=headers, timeout=5)
    assert updated.status_code == 200
    assert updated.json() == {
        "id": created.json()["id"],
        "success": True,
        "errors": [],
        "created": False,
    }
    old = url.replace("v60.0", "v45.0")
    assert http.patch(old, json={"FirstName": "A"}, headers=headers, timeout=5).status_code == 204
    unknown = http.patch(url, json={"Nope__c": 1}, headers=headers, timeout=5)
    assert unknown.status_code == 400
    assert unknown.json() == [
        {
            "message": "No such column 'Nope__c' on sobject of type Contact",
            "errorCode": "INVALID_FIELD",
            "fields": ["Nope__c"],
        }
    ]
    opp = f"{salesforce.url}/services/data/v60.0/sobjects/Opportunity/Shoppable_Order_Id__c/7"
    missing = http.patch(opp, json={"Name": "Order 7"}, headers=headers, timeout=5)
    assert missing.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert missing.json()[0]["fields"] == ["CloseDate", "StageName"]
    body = {
        "Name": "Order 7",
        "StageName": "Closed Won",
        "CloseDate": "2026-11-24",
        "Contact": {"Shoppable_Email__c": "a@example.com"},
    }
    assert http.patch(opp, json=body, headers=headers, timeout=5).status_code == 201
    assert (
        salesforce.find("Opportunity", "Shoppable_Order_Id__c", "7")["ContactId"]
        == (created.json()["id"])
    )
    salesforce.expire_tokens()
    expired = http.patch(url, json={"FirstName": "B"}, headers=headers, timeout=5)
    assert expired.status_code == 401
    assert expired.json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_segment_checks_the_spec(http: requests.Session) -> None:
    with FakeSegment() as segment:
        url = f"{segment.url}/v1/track"
        call = {
            "userId": "c1",
            "event": "Order Completed",
            "messageId": "m1",
            "timestamp": "2026-11-24T10:00:00Z",
            "properties": {"order_id": "1", "total": 12.5, "currency": "EUR", "products": []},
            "context": {"campaign": {"name": "summer", "source": "instagram"}},
        }
        assert http.post(url, json=call, timeout=5).status_code == 401
        auth = (segment.write_key, "")
        assert http.post(url, json=call, auth=auth, timeout=5).json() == {"success": True}
        assert http.post(url, json=call, auth=auth, timeout=5).status_code == 200
        assert segment.duplicates == 1
        assert len(segment.tracks("Order Completed")) == 1
        string_total = {
            **call,
            "messageId": "m2",
            "properties": {**call["properties"], "total": "12.50"},
        }
        r = http.post(url, json=string_total, auth=auth, timeout=5)
        assert r.status_code == 400
        assert "total must be a number" in r.json()["message"]
        bad_campaign = {**call, "messageId": "m3", "context": {"campaign": {"utm_source": "x"}}}
        assert http.post(url, json=bad_campaign, auth=auth, timeout=5).status_code == 400


def test_webhook_receiver_verifies_and_dedups(http: requests.Session) -> None:
    with FakeWebhookReceiver() as receiver:
        body = b'{"event": "order.paid"}'
        t = int(time.time())
        sig = hmac.new(receiver.secret.encode(), f"{t}.".encode() + body, hashlib.sha256)
        headers = {"Shoppable-Signature": f"t={t},v1={sig.hexdigest()}", "Idempotency-Key": "k"}
        assert http.post(receiver.url, data=body, headers=headers, timeout=5).status_code == 200
        again = http.post(receiver.url, data=body, headers=headers, timeout=5)
        assert again.json()["duplicate"] is True
        assert receiver.deliveries == {"k": {"event": "order.paid"}}
        tampered = http.post(receiver.url, data=body + b" ", headers=headers, timeout=5)
        assert tampered.status_code == 400
        stale = {**headers, "Shoppable-Signature": f"t={t - 600},v1={sig.hexdigest()}"}
        assert http.post(receiver.url, data=body, headers=stale, timeout=5).status_code == 400


def test_capi_rejects_the_whole_batch_for_one_old_event(http: requests.Session) -> None:
    with FakeGraph() as graph:
        token = graph.add_token()
        pixel = graph.add_pixel()
        url = f"{graph.url}/v21.0/{pixel}/events"
        now = int(time.time())
        good = {
            "event_name": "Purchase",
            "event_time": now,
            "event_id": "1",
            "action_source": "website",
            "event_source_url": "https://shop.example/",
            "user_data": {
                "em": [hashlib.sha256(b"a@example.com").hexdigest()],
                "client_user_agent": "Mozilla/5.0",
                "client_ip_address": "203.0.113.9",
                "fbc": f"fb.1.{now * 1000}.IwAR123",
            },
            "custom_data": {"value": 12.5, "currency": "USD"},
        }
        old = {**good, "event_id": "2", "event_time": now - 8 * 86400}
        headers = {"Authorization": f"Bearer {token}"}
        r = http.post(url, json={"data": [good, old]}, headers=headers, timeout=5)
        assert r.status_code == 400
        assert "7 days" in r.json()["error"]["error_user_msg"]
        assert graph.capi_events.get(pixel, []) == []
        r = http.post(url, json={"data": [good]}, headers=headers, timeout=5)
        assert r.json()["events_received"] == 1
        http.post(url, json={"data": [good]}, headers=headers, timeout=5)
        assert graph.capi_deduplicated == 1
        dm = {
            **good,
            "event_id": "3",
            "action_source": "business_messaging",
            "messaging_channel": "instagram",
        }
        r = http.post(url, json={"data": [dm]}, headers=headers, timeout=5)
        assert "ig_account_id" in r.json()["error"]["error_user_msg"]
        unhashed = {**good, "event_id": "4", "user_data": {"em": "a@example.com"}}
        assert (
            http.post(url, json={"data": [unhashed]}, headers=headers, timeout=5).status_code == 400
        )
        assert http.post(url, json={"data": [good]}, timeout=5).status_code == 400  # no token
