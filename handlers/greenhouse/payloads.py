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
    found = typed or anything
    return found[0] if found else None


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


# Harvest API objects (grnhse/greenhouse-api-docs, source/includes/harvest/), read leniently.


class Ref(Loose):
    id: int


class HarvestApplication(Loose):
    """GET /v1/applications/{id}."""

    id: int
    candidate_id: int
    current_stage: Stage | None = None
    jobs: list[Job] = []


class HarvestCandidate(Loose):
    """GET /v1/candidates/{id}; recruiter and coordinator are users, by id."""

    first_name: str | None = None
    last_name: str | None = None
    email_addresses: list[Value] = []
    phone_numbers: list[Value] = []
    addresses: list[Value] = []
    recruiter: Ref | None = None
    coordinator: Ref | None = None


class TeamMember(Ref):
    responsible: bool = False


class HiringTeam(Loose):
    hiring_managers: list[TeamMember] = []
    recruiters: list[TeamMember] = []


class HarvestJob(Loose):
    """GET /v1/jobs/{id}."""

    id: int
    name: str | None = None
    hiring_team: HiringTeam = HiringTeam()


class HarvestUser(Loose):
    """GET /v1/users/{id}."""

    id: int
    primary_email_address: str | None = None
    emails: list[str] = []
    disabled: bool = False


def harvest_candidate_details(
    candidate: HarvestCandidate, job: HarvestJob | None
) -> dict[str, Any]:
    """The verification's candidate from Harvest's candidate and job."""
    name = " ".join(part for part in (candidate.first_name, candidate.last_name) if part)
    details: dict[str, Any] = {
        "name": name,
        "email": preferred(candidate.email_addresses, "personal") or "",
        "phone": preferred(candidate.phone_numbers, "mobile"),
        "home_address": preferred(candidate.addresses, "home") or "",
        "role": job.name if job is not None else None,
    }
    return {key: value for key, value in details.items() if value is not None}


def team_user_ids(job: HarvestJob | None, candidate: HarvestCandidate) -> list[int]:
    """Who answers, in order: the job's hiring managers, else its recruiters (the responsible
    one first), else the candidate's recruiter."""
    ids: list[int] = []
    if job is not None:
        ids += [member.id for member in job.hiring_team.hiring_managers]
        recruiters = sorted(job.hiring_team.recruiters, key=lambda member: not member.responsible)
        ids += [member.id for member in recruiters]
    if candidate.recruiter is not None:
        ids.append(candidate.recruiter.id)
    return list(dict.fromkeys(ids))
