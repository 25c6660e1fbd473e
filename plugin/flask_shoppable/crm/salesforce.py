"""The Salesforce sink: the customer as a Contact, the order as an Opportunity, by external ids.

Authentication is OAuth 2.0 client credentials against the org's My Domain token endpoint
(``POST <SHOPPABLE_SALESFORCE_DOMAIN>/services/oauth2/token``, from a connected app with the
client credentials flow enabled and a run-as user). The token is kept per process (per
sink) and fetched again when Salesforce answers ``401`` (its tokens carry no expiry); data
calls go to the ``instance_url`` the token response names.

Each order event upserts (``PATCH /services/data/<version>/sobjects/<Object>/<ExtField>/<value>``,
Salesforce answering ``201`` created, ``200`` updated, or ``204`` updated on versions before
46.0):

* the Contact by ``SHOPPABLE_SALESFORCE_CONTACT_EXTERNAL_ID`` (a custom text field marked
  External ID and Unique, holding the normalised email: Salesforce's own Email field cannot
  be an external id), with its name, email and latest social source;
* the Opportunity by ``SHOPPABLE_SALESFORCE_ORDER_EXTERNAL_ID`` (the order id), linked to the
  Contact through the Contact's external id (no second lookup), stage ``Closed Won``, amount
  the net in major units, close date the payment date, and the attribution in the custom
  fields ``Shoppable_Channel__c``, ``Shoppable_Campaign__c``, ``Shoppable_Post__c``. A refund
  updates the amount and ``Shoppable_Refunded_Amount__c`` (stage ``Closed Lost`` once fully
  refunded); a dispute notes it in the description.

The merchant creates those custom fields (see the README). A ``4xx`` other than 401 is
permanent for that record: the message is dead-lettered with Salesforce's error array
(``errorCode: message [fields]``), and the others go on.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from flask import Flask

from . import sinkutil
from .errors import Rejected, RetryLater
from .http import call

NAME = "salesforce"


def parse_errors(status: int | None, body: Any) -> str:
    """Salesforce's error array (``[{"message", "errorCode", "fields"}]``) as one line."""
    items = body if isinstance(body, list) else [body]
    parts = []
    for item in items:
        if not isinstance(item, dict):
            continue
        if "errorCode" in item or "message" in item:
            fields = item.get("fields") or []
            suffix = f" [{', '.join(map(str, fields))}]" if fields else ""
            parts.append(f"{item.get('errorCode', 'ERROR')}: {item.get('message', '')}{suffix}")
        elif "error" in item:  # the OAuth endpoint's shape
            parts.append(f"{item['error']}: {item.get('error_description', '')}")
    return f"HTTP {status} " + ("; ".join(parts) or str(body)[:300])


@dataclass
class SalesforceSink:
    name: str
    domain: str
    client_id: str
    client_secret: str = field(repr=False)
    version: str
    contact_field: str
    order_field: str
    timeout: float
    http: Any = field(repr=False)
    supports_erasure: bool = False
    _token: tuple[str, str] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_app(cls, app: Flask, http: Any, timeout: float) -> SalesforceSink:
        config = app.config
        version = sinkutil.api_version(config, "SHOPPABLE_SALESFORCE_API_VERSION")
        return cls(
            name=NAME,
            domain=sinkutil.base_url(
                config, "SHOPPABLE_SALESFORCE_DOMAIN", NAME, path_allowed=False
            ),
            client_id=sinkutil.required_str(config, "SHOPPABLE_SALESFORCE_CLIENT_ID", NAME),
            client_secret=sinkutil.required_str(config, "SHOPPABLE_SALESFORCE_CLIENT_SECRET", NAME),
            version=version,
            contact_field=sinkutil.required_str(
                config, "SHOPPABLE_SALESFORCE_CONTACT_EXTERNAL_ID", NAME
            ),
            order_field=sinkutil.required_str(
                config, "SHOPPABLE_SALESFORCE_ORDER_EXTERNAL_ID", NAME
            ),
            timeout=timeout,
            http=http,
        )

    # -- the token ------------------------------------------------------------------------
    def _fetch_token(self) -> tuple[str, str]:
        try:
            response = call(
                self.http,
                "POST",
                f"{self.domain}/services/oauth2/token",
                timeout=self.timeout,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                },
            )
        except Rejected as exc:
            # Wrong credentials, or a connected app without the flow: every message needs the
            # token, and only the merchant can fix it: wait (retried, then dead-lettered).
            raise RetryLater(
                f"Salesforce token endpoint: {parse_errors(exc.status, exc.body)}",
                status=exc.status,
                body=exc.body,
            ) from None
        body = response.json()
        return str(body["access_token"]), str(body.get("instance_url") or self.domain).rstrip("/")

    def token(self, *, refresh: bool = False, stale: str | None = None) -> tuple[str, str]:
        """(access token, instance URL), fetched once per process and again after a 401."""
        with self._lock:
            if self._token is None or (refresh and self._token[0] == stale):
                self._token = self._fetch_token()
            return self._token

    # -- calls ----------------------------------------------------------------------------
    def upsert(
        self, sobject: str, ext_field: str, value: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Upsert one record; {"id", "created"} (id None on a 204)."""
        token, instance = self.token()
        path = (
            f"/services/data/{self.version}/sobjects/{sobject}/{ext_field}/{quote(value, safe='')}"
        )
        for attempt in (1, 2):
            try:
                response = call(
                    self.http,
                    "PATCH",
                    instance + path,
                    timeout=self.timeout,
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                )
            except Rejected as exc:
                if exc.status == 401 and attempt == 1:
                    token, instance = self.token(refresh=True, stale=token)
                    continue
                reason = f"Salesforce {sobject} upsert: {parse_errors(exc.status, exc.body)}"
                if exc.status == 401:
                    raise RetryLater(reason, status=401, body=exc.body) from None
                raise Rejected(reason, status=exc.status, body=exc.body) from None
            if response.status_code == 204:
                return {"id": None, "created": False}
            data = response.json()
            return {"id": data.get("id"), "created": response.status_code == 201}
        raise AssertionError("unreachable")  # pragma: no cover

    # -- the sink -------------------------------------------------------------------------
    def contact_body(self, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        customer = sinkutil.customer_of(payload)
        email = str(customer.get("email") or "").strip().lower()
        if not email:
            raise Rejected("the order has no customer email to key the Contact by")
        name = str(customer.get("name") or "").strip()
        first, _, last = name.rpartition(" ")
        body = {
            "LastName": (last or email.split("@")[0])[:80],
            "Email": email,
            "Shoppable_Latest_Source__c": sinkutil.source_label(sinkutil.attribution_of(payload))[
                :255
            ],
        }
        if first:
            body["FirstName"] = first[:40]
        return email, body

    def opportunity_body(self, event: str, payload: dict[str, Any], email: str) -> dict[str, Any]:
        order = sinkutil.order_of(payload)
        attribution = sinkutil.attribution_of(payload)
        currency = str(order["currency"])
        total = int(order.get("total_amount") or 0)
        refunded = int(order.get("refunded_amount") or 0)
        paid_at = sinkutil.parse_time(order.get("paid_at") or order.get("created_at"))
        body: dict[str, Any] = {
            "Name": f"Order {order['id']} ({attribution.get('channel') or 'direct'})"[:120],
            "StageName": "Closed Won",
            "CloseDate": paid_at.date().isoformat() if paid_at else None,
            "Amount": sinkutil.major(total - refunded, currency),
            "Shoppable_Refunded_Amount__c": sinkutil.major(refunded, currency),
            "Shoppable_Channel__c": str(attribution.get("channel") or "")[:255],
            "Shoppable_Campaign__c": str(attribution.get("campaign") or "")[:255],
            "Shoppable_Post__c": str(sinkutil.post_id_of(attribution) or "")[:255],
            "Contact": {self.contact_field: email},
        }
        if event == "order.refunded" and total and refunded >= total:
            body["StageName"] = "Closed Lost"
        if event == "order.disputed":
            body["Description"] = f"Payment disputed ({order.get('dispute_status') or 'open'})"
        return {k: v for k, v in body.items() if v is not None}

    def deliver(self, message: Any) -> dict[str, Any] | None:
        if message.event not in ("order.paid", "order.refunded", "order.disputed"):
            raise Rejected(f"the Salesforce sink does not handle {message.event!r}")
        payload = message.payload
        email, contact = self.contact_body(payload)
        contact_result = self.upsert("Contact", self.contact_field, email, contact)
        order_id = str(sinkutil.order_of(payload)["id"])
        opportunity = self.upsert(
            "Opportunity",
            self.order_field,
            order_id,
            self.opportunity_body(message.event, payload, email),
        )
        return {"contact": contact_result, "opportunity": opportunity}


def from_config(app: Flask) -> SalesforceSink:
    """The sink for ``app`` (settings checked: ConfigError names a bad key)."""
    from .http import session

    return SalesforceSink.from_app(
        app, session(app), float(app.config["SHOPPABLE_OUTBOX_HTTP_TIMEOUT"])
    )
