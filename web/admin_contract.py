"""The editors' API's contract: the pydantic models of its requests and responses.

As :mod:`web.contract` is for the public API; the journal's dataclasses (FAQ candidates, jobs)
and the stored API keys are the rows themselves.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from kb.config import Settings
from kb.journal import Job, SavedCandidate
from kb.keys import MAX_RATE, NAME, ApiKey
from kb.regressions import MAX_PAGES, MAX_QUESTION, GateRecord, RegressionQuestion
from web.contract import Body, Query

# --- responses ------------------------------------------------------------------------------


class Candidates(BaseModel):
    """FAQ candidates, largest cluster first."""

    candidates: list[SavedCandidate]
    found: Annotated[int | None, Field(description="Clusters found by this mining run")] = None


class Decided(BaseModel):
    """A candidate accepted or rejected."""

    ok: Literal[True] = True
    candidate: SavedCandidate


class Gaps(BaseModel):
    """Content gaps: refused, unsure or thumbs-down questions, clustered and ranked."""

    days: int
    gaps: list[dict[str, Any]]


class Report(BaseModel):
    """A report of named figures (trends or KPIs)."""

    model_config = ConfigDict(extra="allow")


class OneJob(BaseModel):
    """A background job: status (queued, running, done, failed), progress, report or error."""

    job: Job


class Jobs(BaseModel):
    """The latest background jobs, newest first."""

    jobs: list[Job]


class RolledBack(BaseModel):
    """The snapshot now served, and what changed since it was built."""

    ok: Literal[True] = True
    index_version: str
    removed_since: list[str]
    changed_since: list[str]


class Regressions(BaseModel):
    """Regression questions, oldest first."""

    questions: list[RegressionQuestion]


class OneRegression(BaseModel):
    """A regression question added or changed."""

    ok: Literal[True] = True
    regression: RegressionQuestion


class Gates(BaseModel):
    """The evaluation gate's latest verdicts, newest first, and the snapshot served."""

    served: Annotated[str | None, Field(description="The snapshot served now")]
    gates: list[GateRecord]


class Nudge(BaseModel):
    """How customers' votes move one page for a group of similar questions."""

    doc_id: str
    boost: Annotated[float, Field(description="The page's score is multiplied by 1 + boost")]
    net: Annotated[float, Field(description="The agreeing clients' decayed votes, summed")]
    clients: Annotated[int, Field(description="Distinct clients whose votes count")]
    queries: list[str]


class Nudges(BaseModel):
    """The nudges votes make now, largest first, and the bound they stay within."""

    bound: Annotated[float, Field(description="KB_FEEDBACK_BOOST; 0 when nudges are off")]
    nudges: list[Nudge]


class UndoRequest(Body):
    """Set aside the votes on a page for questions like ``query``, cast until now."""

    doc_id: str = Field(min_length=1, max_length=500)
    query: str = Field(min_length=1, max_length=2000)


class Undone(BaseModel):
    """The votes are set aside."""

    ok: Literal[True] = True


class FeedbackList(BaseModel):
    """The latest feedback, newest first."""

    feedback: list[dict[str, Any]]


class Keys(BaseModel):
    """Backend API keys, live ones first (names and limits; never the keys)."""

    keys: list[ApiKey]


class NewKey(BaseModel):
    """A key just made: ``key`` (``kbk_<key_id>_…``) is shown this once."""

    key: str
    name: str
    key_id: str
    answers_per_minute: int
    searches_per_minute: int
    created_at: str
    revoked_at: str | None


class Revoked(BaseModel):
    """A key revoked."""

    ok: Literal[True] = True
    revoked: str


# --- requests -------------------------------------------------------------------------------


class FaqEdit(Body):
    """The editor's changes to a candidate before it is published (both optional)."""

    question: str | None = None
    answer: str | None = None


class IngestRequest(Body):
    """Sources to ingest: URLs or paths on the server."""

    sources: list[str] = Field(min_length=1, max_length=50)


class RollbackRequest(Body):
    """The snapshot to serve, such as ``v000003``."""

    version: str = Field(min_length=1)


Page = Annotated[str, Field(min_length=1, max_length=2000)]


class RegressionRequest(Body):
    """A question and the documents that answer it (ids, kb's links or their URLs)."""

    question: str = Field(min_length=1, max_length=MAX_QUESTION)
    pages: list[Page] = Field(min_length=1, max_length=MAX_PAGES)
    note: str = Field("", max_length=500, description="Why the question matters")


class RegressionEdit(Body):
    """Changes to a regression question (each optional); ``status`` retires or restores it."""

    question: str | None = Field(None, min_length=1, max_length=MAX_QUESTION)
    pages: list[Page] | None = Field(None, min_length=1, max_length=MAX_PAGES)
    note: str | None = Field(None, max_length=500)
    status: Literal["active", "retired"] | None = None


class RegressionsQuery(Query):
    status: Literal["active", "retired", "all"] = Field("active", description="Which to list")


class FaqQuery(Query):
    status: Literal["pending", "accepted", "rejected"] | None = None


class MineQuery(Query):
    min_size: int = Field(3, ge=2, le=1000, description="Smallest cluster")


class GapsQuery(Query):
    days: int = Field(90, ge=1, le=3650, description="How far back")


class KpisQuery(Query):
    days: int = Field(30, ge=1, le=3650, description="How far back")


class TrendsQuery(Query):
    weeks: int = Field(12, ge=2, le=520, description="Weeks to show")
    format: Literal["json", "csv"] = Field("json", description="csv for a spreadsheet")


class FeedbackQuery(Query):
    limit: int = Field(100, ge=1, le=1000, description="How many")


Rate = Annotated[int, Field(ge=0, le=MAX_RATE)]


class KeyRequest(Body):
    """A backend key to make: its name and limits a minute (0: no limit)."""

    name: str = Field(pattern=f"^{NAME.pattern}$")
    answers_per_minute: Rate
    searches_per_minute: Rate


def key_request(settings: Settings) -> type[KeyRequest]:
    """Return :class:`KeyRequest` with ``settings``' default limits, as the document states."""
    key: Any = create_model(
        "KeyRequest",
        __base__=KeyRequest,
        __doc__=KeyRequest.__doc__,
        answers_per_minute=(Rate, settings.key_rate_limit_answer),
        searches_per_minute=(Rate, settings.key_rate_limit),
    )
    return key  # type: ignore[no-any-return]
