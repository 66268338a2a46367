"""The OpenAPI document covers every management route the template declares, and is self-contained."""

from __future__ import annotations

import json
import re

from qbsync.api.openapi import openapi_document, swagger_page
from qbsync.api.routes import PUBLIC_MANAGEMENT_ROUTES
from qbsync_local.template import SamTemplate


def test_every_management_route_is_documented_with_resolvable_schemas():
    declared = {(route.method, route.path) for function in SamTemplate().functions()
                if function.logical_id == "ManagementApiFunction" for route in function.routes}
    document = openapi_document()
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert documented == declared - PUBLIC_MANAGEMENT_ROUTES
    text = json.dumps(document)
    for name in re.findall(r'"#/components/schemas/([^"]+)"', text):
        assert name in document["components"]["schemas"], name
    put = document["paths"]["/tenants/{tenant_id}/settings"]["put"]
    assert {"412", "422", "401"} <= set(put["responses"])
    assert any(p["name"] == "If-Match" and p["in"] == "header" for p in put["parameters"])
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"


def test_the_swagger_page_inlines_the_document_safely():
    page = swagger_page()
    assert "SwaggerUIBundle" in page and "qbsync management API" in page
    assert "</script>" not in json.dumps(openapi_document()).replace("</", "<\\/")
