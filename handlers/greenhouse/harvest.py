"""A small Harvest API client: the application, its candidate, the job and the hiring team's
users behind an offer_created delivery (HTTP Basic, the API key as the user name)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import structlog
from pydantic import BaseModel, ValidationError

from handlers.greenhouse.payloads import (
    HarvestApplication,
    HarvestCandidate,
    HarvestJob,
    HarvestUser,
    harvest_candidate_details,
    team_user_ids,
)

log = structlog.get_logger("verifybot.greenhouse.harvest")

TIMEOUT_SECONDS = 10.0
MAX_USERS = 10
M = TypeVar("M", bound=BaseModel)


class HarvestUnavailable(Exception):
    """No usable answer now (a timeout, a 5xx, a 429): try again later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class HarvestRefused(Exception):
    """Harvest answered, and it will not change by asking again (401, 403, 404, a bad body)."""


@dataclass(frozen=True)
class OfferDetails:
    """What a verification needs: the candidate's details, the stage, who answers (emails)."""

    candidate: dict[str, Any]
    stage: str
    emails: list[str]


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


class Harvest:
    """GETs against VERIFYBOT_GREENHOUSE_API_URL; one session per process, closed by `close()`."""

    def __init__(self, base_url: str, api_key: str, timeout: float = TIMEOUT_SECONDS) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.headers = {"Authorization": aiohttp.encode_basic_auth(api_key, "")}
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self.headers)
        return self._session

    async def get(self, path: str, model: type[M]) -> M:
        url = self.base_url + path
        try:
            timeout = aiohttp.ClientTimeout(total=self.timeout)
            async with self._client().get(url, timeout=timeout) as response:
                if response.status == 429 or response.status >= 500:
                    raise HarvestUnavailable(
                        f"GET {path}: HTTP {response.status}", _retry_after(response)
                    )
                if response.status != 200:
                    raise HarvestRefused(f"GET {path}: HTTP {response.status}")
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise HarvestUnavailable(f"GET {path}: {type(error).__name__}") from None
        except ValueError:
            raise HarvestRefused(f"GET {path}: the answer is not JSON") from None
        try:
            return model.model_validate(body)
        except ValidationError:
            raise HarvestRefused(f"GET {path}: not the documented object") from None

    async def offer(self, application_id: int, job_id: int | None) -> OfferDetails:
        """The application, its candidate, its job and the hiring team's users."""
        application = await self.get(f"applications/{application_id}", HarvestApplication)
        candidate = await self.get(f"candidates/{application.candidate_id}", HarvestCandidate)
        job_id = job_id or (application.jobs[0].id if application.jobs else None)
        job = await self.get(f"jobs/{job_id}", HarvestJob) if job_id is not None else None
        emails: list[str] = []
        for user_id in team_user_ids(job, candidate)[:MAX_USERS]:
            try:
                user = await self.get(f"users/{user_id}", HarvestUser)
            except HarvestRefused as error:
                log.info("harvest.user_skipped", error=str(error))
                continue
            if not user.disabled and (user.primary_email_address or user.emails):
                emails.append(user.primary_email_address or user.emails[0])
        stage = application.current_stage.name if application.current_stage else None
        return OfferDetails(
            candidate=harvest_candidate_details(candidate, job),
            stage=stage or "",
            emails=list(dict.fromkeys(emails)),
        )
