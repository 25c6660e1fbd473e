"""A local fake of Salesforce: the OAuth 2.0 token endpoint and sObject upserts by external id.

What it answers, as a My Domain host (``https://<domain>.my.salesforce.com``) does:

* ``POST /services/oauth2/token`` with ``grant_type=client_credentials``, ``client_id`` and
  ``client_secret`` (form-encoded, or the id and secret in HTTP Basic auth): ``{"access_token",
  "instance_url", "id", "token_type": "Bearer", "issued_at", "signature", "scope"}``; wrong
  credentials get ``400 {"error": "invalid_client", "error_description": ...}`` as Salesforce
  answers them. Salesforce's tokens carry no ``expires_in``: a client learns of expiry from a
  ``401 [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]``;
  :meth:`FakeSalesforce.expire_tokens` makes every token issued so far expire, to force it.
* ``PATCH /services/data/vXX.X/sobjects/<Object>/<ExternalIdField>/<value>`` (upsert by
  external id): ``201 {"id", "success": true, "errors": [], "created": true}`` when it made
  the record, ``200 {... "created": false}`` when it updated one (API 46.0 and later; older
  versions answer ``204`` with no body). Only fields of :attr:`FakeSalesforce.schema` are
  accepted; an unknown object, field or external id field, a missing required field on
  create, or a lookup by external id to a record that does not exist gets ``400`` with
  Salesforce's error array ``[{"message", "errorCode", "fields"}]``.
* ``GET .../sobjects/<Object>/<ExternalIdField>/<value>`` returns the record (404 else), and
  ``POST /services/data/vXX.X/sobjects/<Object>/...`` is not needed by the plugin.

Everything received stays in :attr:`received`; the records are in :attr:`records`
(``records[object][id] = fields``).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any

from werkzeug.wrappers import Request, Response

from .server import FakeServer

#: The sObjects and fields the fake knows: object -> (fields, external id fields, required).
DEFAULT_SCHEMA: dict[str, dict[str, set[str]]] = {
    "Contact": {
        "fields": {
            "FirstName",
            "LastName",
            "Email",
            "LeadSource",
            "Description",
            "Shoppable_Email__c",
            "Shoppable_First_Source__c",
            "Shoppable_Latest_Source__c",
        },
        "external_ids": {"Shoppable_Email__c"},
        "required": {"LastName"},
    },
    "Opportunity": {
        "fields": {
            "Name",
            "StageName",
            "CloseDate",
            "Amount",
            "CurrencyIsoCode",
            "LeadSource",
            "Description",
            "Type",
            "ContactId",
            "Contact",
            "Shoppable_Order_Id__c",
            "Shoppable_Channel__c",
            "Shoppable_Campaign__c",
            "Shoppable_Post__c",
            "Shoppable_Refunded_Amount__c",
        },
        "external_ids": {"Shoppable_Order_Id__c"},
        "required": {"Name", "StageName", "CloseDate"},
    },
}

_UPSERT = re.compile(
    r"^/services/data/v(?P<version>\d+\.\d)/sobjects/(?P<object>\w+)/(?P<field>\w+)/(?P<value>[^/]+)/?$"
)


def sf_error(
    message: str, code: str, fields: list[str] | None = None, status: int = 400
) -> Response:
    """An error as Salesforce's REST API answers one: a JSON array of errors."""
    body = [{"message": message, "errorCode": code, "fields": fields or []}]
    return FakeServer.json_response(body, status=status)


class FakeSalesforce(FakeServer):
    name = "salesforce"

    def __init__(
        self,
        client_id: str = "3MVG9fake.client.id",
        client_secret: str = "fake-client-secret",  # noqa: S107 - a fake's own
        host: str = "127.0.0.1",
        port: int = 0,
        schema: dict[str, dict[str, set[str]]] | None = None,
    ) -> None:
        super().__init__(host, port)
        self.client_id = client_id
        self.client_secret = client_secret
        self.schema = schema or {
            k: {n: set(v) for n, v in d.items()} for k, d in DEFAULT_SCHEMA.items()
        }
        #: access token -> expired?
        self.tokens: dict[str, bool] = {}
        #: object -> record id -> fields (with "Id").
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in self.schema}

    # -- what a test looks at -----------------------------------------------------------
    def app_config(self) -> dict[str, str]:
        """The plugin's settings that point an app at this fake."""
        return {
            "SHOPPABLE_SALESFORCE_DOMAIN": self.url,
            "SHOPPABLE_SALESFORCE_CLIENT_ID": self.client_id,
            "SHOPPABLE_SALESFORCE_CLIENT_SECRET": self.client_secret,
        }

    def expire_tokens(self) -> None:
        """Every token issued so far answers 401 INVALID_SESSION_ID from now on."""
        with self.lock:
            for token in self.tokens:
                self.tokens[token] = True

    def find(self, sobject: str, field: str, value: Any) -> dict[str, Any] | None:
        """The record of ``sobject`` whose ``field`` equals ``value`` (a copy), or None."""
        with self.lock:
            for record in self.records.get(sobject, {}).values():
                if record.get(field) == value:
                    return dict(record)
        return None

    def token_requests(self) -> int:
        return len(self.requests_to("/services/oauth2/token", "POST"))

    # -- serving ------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if request.path == "/services/oauth2/token":
            if request.method != "POST":
                return self.json_response({"error": "invalid_request"}, status=405)
            return self._token(request)
        match = _UPSERT.match(request.path)
        if match is None:
            return sf_error("The requested resource does not exist", "NOT_FOUND", status=404)
        refused = self._auth(request)
        if refused is not None:
            return refused
        sobject, field, value = match["object"], match["field"], match["value"]
        spec = self.schema.get(sobject)
        if spec is None:
            return sf_error(
                f"The requested resource does not exist: sObject type '{sobject}' is not "
                "supported.",
                "NOT_FOUND",
                status=404,
            )
        if field not in spec["external_ids"] and field != "Id":
            return sf_error(
                f"Provided external ID field does not exist or is not accessible: {field}",
                "NOT_FOUND",
                status=404,
            )
        if request.method == "GET":
            record = self.find(sobject, field, value)
            if record is None:
                return sf_error("The requested resource does not exist", "NOT_FOUND", status=404)
            return self.json_response({"attributes": {"type": sobject}, **record})
        if request.method != "PATCH":
            return sf_error(
                f"HTTP Method '{request.method}' not allowed. Allowed are GET,PATCH,DELETE,HEAD",
                "METHOD_NOT_ALLOWED",
                status=405,
            )
        return self._upsert(request, sobject, field, value, float(match["version"]))

    def _token(self, request: Request) -> Response:
        form = request.form
        if form.get("grant_type") != "client_credentials":
            return self.json_response(
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
                status=400,
            )
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if request.authorization is not None:
            client_id = request.authorization.username
            client_secret = request.authorization.password
        if client_id != self.client_id or not secrets.compare_digest(
            str(client_secret or ""), self.client_secret
        ):
            return self.json_response(
                {"error": "invalid_client", "error_description": "invalid client credentials"},
                status=400,
            )
        token = "00Dfake!" + secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = False
        return self.json_response(
            {
                "access_token": token,
                "signature": secrets.token_urlsafe(32),
                "scope": "api",
                "instance_url": self.url,
                "id": f"{self.url}/id/00Dfake000000001/005fake000000001",
                "token_type": "Bearer",
                "issued_at": str(int(time.time() * 1000)),
            }
        )

    def _auth(self, request: Request) -> Response | None:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        with self.lock:
            expired = self.tokens.get(token)
        if not token or expired is None or expired:
            return sf_error("Session expired or invalid", "INVALID_SESSION_ID", status=401)
        return None

    def _upsert(
        self, request: Request, sobject: str, field: str, value: str, version: float
    ) -> Response:
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError:
            return sf_error("The request body is not valid JSON", "JSON_PARSER_ERROR")
        if not isinstance(body, dict):
            return sf_error(
                "Can not deserialize SObject out of non-object token", "JSON_PARSER_ERROR"
            )
        spec = self.schema[sobject]
        for name in body:
            if name == "attributes":
                continue
            if name not in spec["fields"]:
                return sf_error(
                    f"No such column '{name}' on sobject of type {sobject}", "INVALID_FIELD", [name]
                )
        if field in body and str(body[field]) != value:
            return sf_error(
                f"The value of the external ID field in the URL ({value}) does not match the "
                f"body ({body[field]})",
                "INVALID_FIELD",
                [field],
            )
        fields = {k: v for k, v in body.items() if k != "attributes"}
        # A lookup given by the related record's external id: {"Contact": {"Ext__c": "x"}}.
        for name, ref in list(fields.items()):
            if isinstance(ref, dict):
                related, target = name + "Id", name
                if len(ref) != 1 or target not in self.schema:
                    return sf_error(f"Invalid relationship {name}", "INVALID_FIELD", [name])
                ((ref_field, ref_value),) = ref.items()
                found = self.find(target, ref_field, ref_value)
                if found is None:
                    return sf_error(
                        f"Foreign key external ID: {ref_value} not found for field {ref_field} "
                        f"in entity {target}",
                        "INVALID_FIELD",
                        [],
                    )
                del fields[name]
                fields[related] = found["Id"]
        with self.lock:
            existing = None
            for record in self.records[sobject].values():
                if str(record.get(field)) == value:
                    existing = record
                    break
            if existing is None:
                missing = sorted(spec["required"] - set(fields))
                if missing:
                    return sf_error(
                        f"Required fields are missing: [{', '.join(missing)}]",
                        "REQUIRED_FIELD_MISSING",
                        missing,
                    )
                record_id = ("003" if sobject == "Contact" else "006") + secrets.token_hex(6)
                self.records[sobject][record_id] = {"Id": record_id, field: value, **fields}
                return self.json_response(
                    {"id": record_id, "success": True, "errors": [], "created": True}, status=201
                )
            existing.update(fields)
            record_id = existing["Id"]
        if version < 46.0:
            return Response(status=204)
        return self.json_response(
            {"id": record_id, "success": True, "errors": [], "created": False}
        )
