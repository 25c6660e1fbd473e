"""Fixtures of the CRM tests: the shop (app, client, session, emulator delivering its
webhooks to the app) and the local fakes of the platforms the sinks call."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from flask_shoppable.testing import (
    FakeGraph,
    FakeHubSpot,
    FakeSalesforce,
    FakeSegment,
    FakeWebhookReceiver,
    StripeEmulator,
)

from .helpers import Shop


@pytest.fixture
def shop(
    app: Flask,
    client: FlaskClient,
    session: Session,
    emulator: StripeEmulator,
    webhooks_to_app: Any,
) -> Shop:
    return Shop(app, client, session, emulator)


def _serve(fake: Any) -> Iterator[Any]:
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def salesforce() -> Iterator[FakeSalesforce]:
    yield from _serve(FakeSalesforce())


@pytest.fixture
def receiver() -> Iterator[FakeWebhookReceiver]:
    yield from _serve(FakeWebhookReceiver())


@pytest.fixture
def segment() -> Iterator[FakeSegment]:
    yield from _serve(FakeSegment())


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    yield from _serve(FakeGraph())


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    yield from _serve(FakeHubSpot())
