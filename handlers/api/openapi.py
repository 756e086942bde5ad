"""The OpenAPI 3.1 document of `/api/v1`, its schemas generated from the pydantic models."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.clearance import Clearance
from bot.models import CandidateIn, VerificationView

REF = "#/components/schemas/"


class Started(BaseModel):
    verification_id: str
    status_url: str
    created: bool


class FieldError(BaseModel):
    field: str
    message: str


class Error(BaseModel):
    model_config = ConfigDict(title="Error")

    error: str
    errors: list[FieldError] | None = None


def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF + schema}}},
    }


ERRORS = {
    "401": _json("Error", "missing or unknown token"),
    "422": _json("Error", "invalid input; `errors` lists each field"),
}
ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^VB-[0-9A-F]{8}$"},
}


def body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": REF + schema}}}}


@cache
def openapi_document() -> dict[str, Any]:
    from handlers.api.frontend import ShippingRequest, StartRequest

    models: dict[str, type[BaseModel]] = {
        "StartRequest": StartRequest,
        "Candidate": CandidateIn,
        "ShippingRequest": ShippingRequest,
        "Started": Started,
        "Verification": VerificationView,
        "Clearance": Clearance,
        "Error": Error,
    }
    schemas: dict[str, Any] = {}
    for name, model in models.items():
        schema = model.model_json_schema(ref_template=REF + "{model}", mode="serialization")
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
    schemas["StartRequest"]["properties"]["candidate"] = {"$ref": REF + "Candidate"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "verifybot API",
            "version": "1",
            "description": "Start pre-offer verifications and ask whether an offer may go out.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
        "paths": {
            "/verifications": {
                "post": {
                    "operationId": "startVerification",
                    "summary": "Start a verification; the same external_id again returns it",
                    "requestBody": body("StartRequest"),
                    "responses": {
                        "201": _json("Started", "started"),
                        "200": _json("Started", "already started for this external_id"),
                        **ERRORS,
                    },
                }
            },
            "/verifications/{id}": {
                "get": {
                    "operationId": "getVerification",
                    "summary": "A verification: outcome, progress, findings, escalation",
                    "parameters": [ID],
                    "responses": {
                        "200": _json("Verification", "the verification"),
                        "404": _json("Error", "no such verification"),
                        **ERRORS,
                    },
                }
            },
            "/verifications/{id}/shipping-address": {
                "put": {
                    "operationId": "giveShippingAddress",
                    "summary": "The laptop shipping address, given after the start",
                    "parameters": [ID],
                    "requestBody": body("ShippingRequest"),
                    "responses": {
                        "200": _json("Verification", "recorded and checked"),
                        "404": _json("Error", "no such verification"),
                        **ERRORS,
                    },
                }
            },
            "/clearance": {
                "get": {
                    "operationId": "getClearance",
                    "summary": "May the offer go out? Cleared only with no decision pending",
                    "parameters": [
                        {
                            "name": "email",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {"200": _json("Clearance", "the gate's answer"), **ERRORS},
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": {"description": "the OpenAPI document"}},
                }
            },
        },
    }
