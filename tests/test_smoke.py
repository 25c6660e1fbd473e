from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient


def test_openapi_document_is_served(app: Flask, client: FlaskClient) -> None:
    response = client.get("/shop/api/openapi.json")
    assert response.status_code == 200
    assert response.json["info"]["title"] == "Flask-Shoppable"
    assert app.extensions["shoppable"].url_prefix == "/shop"
