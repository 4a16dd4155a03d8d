"""The CDS Hooks 2.0 objects the service reads and writes (https://cds-hooks.hl7.org/2.0/), as pydantic models.

Only the fields this service uses are typed; everything else an EHR sends is accepted and ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Service(BaseModel):
    hook: str
    id: str
    title: str
    description: str
    prefetch: dict[str, str] = Field(default_factory=dict)


class Discovery(BaseModel):
    services: list[Service]


class FhirAuthorization(_Open):
    access_token: str
    token_type: str = "Bearer"
    scope: str | None = None
    subject: str | None = None


class HookRequest(_Open):
    hook: str
    hookInstance: str
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None


class Coding(BaseModel):
    code: str
    system: str | None = None
    display: str | None = None


class Source(BaseModel):
    label: str
    url: str | None = None


class Link(BaseModel):
    label: str
    url: str
    type: Literal["absolute", "smart"] = "absolute"


class Action(BaseModel):
    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None


class Suggestion(BaseModel):
    label: str
    uuid: str
    isRecommended: bool = False
    actions: list[Action] = Field(default_factory=list)


class Card(BaseModel):
    uuid: str
    summary: str = Field(max_length=140)
    detail: str | None = None
    indicator: Literal["info", "warning", "critical"] = "info"
    source: Source
    suggestions: list[Suggestion] = Field(default_factory=list)
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[Coding] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)


class HookResponse(BaseModel):
    cards: list[Card] = Field(default_factory=list)
    systemActions: list[Action] = Field(default_factory=list)


class FeedbackItem(_Open):
    card: str
    outcome: Literal["accepted", "overridden"]
    outcomeTimestamp: str | None = None


class Feedback(BaseModel):
    feedback: list[FeedbackItem]
