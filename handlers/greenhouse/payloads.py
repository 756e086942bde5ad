"""Greenhouse web hook payloads as documented (grnhse/greenhouse-api-docs, webhooks), read
leniently: only what verifybot uses, anything else ignored."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Value(Loose):
    value: str | None = None
    type: str | None = None


class Person(Loose):
    email: str | None = None
    name: str | None = None


class Stage(Loose):
    name: str | None = None


class Job(Loose):
    id: int | None = None
    name: str | None = None


class GreenhouseCandidate(Loose):
    first_name: str | None = None
    last_name: str | None = None
    email_addresses: list[Value] = []
    phone_numbers: list[Value] = []
    addresses: list[Value] = []
    recruiter: Person | None = None
    coordinator: Person | None = None


class Application(Loose):
    id: int
    current_stage: Stage | None = None
    candidate: GreenhouseCandidate
    jobs: list[Job] = []


class StageChange(Loose):
    application: Application


class Delivery(Loose):
    action: str
    payload: dict[str, Any] = {}


def preferred(values: list[Value], kind: str) -> str | None:
    """The value of the given type, else the first one."""
    typed = [v.value for v in values if v.type == kind and v.value]
    anything = [v.value for v in values if v.value]
    return (typed or anything or [None])[0]


def candidate_details(application: Application) -> dict[str, Any]:
    """The verification's candidate: name, email, phone, home address, role from the job."""
    person = application.candidate
    name = " ".join(part for part in (person.first_name, person.last_name) if part)
    details: dict[str, Any] = {
        "name": name,
        "email": preferred(person.email_addresses, "personal") or "",
        "phone": preferred(person.phone_numbers, "mobile"),
        "home_address": preferred(person.addresses, "home") or "",
        "role": application.jobs[0].name if application.jobs else None,
    }
    return {key: value for key, value in details.items() if value is not None}


def hiring_contacts(application: Application) -> list[str]:
    """Who answers: the recruiter, then the coordinator (the documented hiring contacts)."""
    people = (application.candidate.recruiter, application.candidate.coordinator)
    emails = [p.email for p in people if p is not None and p.email]
    return list(dict.fromkeys(emails))
