"""Feed registry (`/api/v1/feeds`) and event details (`/api/v1/events/{id}`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from service.api import audit
from service.api.deps import (
    CoordinatorDep,
    IdPath,
    PrincipalDep,
    SessionDep,
    SessionFactoryDep,
    SettingsDep,
)
from service.feeds import service
from service.feeds.fetching import build_client
from service.feeds.polling import poll_feed
from service.feeds.schemas import EventPublic, FeedCreate, FeedPublic, FeedUpdate, PollResult

router = APIRouter(prefix="/api/v1", tags=["feeds"])


@router.get("/feeds", response_model=list[FeedPublic])
def list_feeds(session: SessionDep, who: PrincipalDep) -> list[FeedPublic]:
    """Every registered feed with its health (full error text and URL for admins only)."""
    detail = who.has("admin")
    return [service.feed_public(f, detail=detail) for f in service.list_feeds(session=session)]


@router.post("/feeds", response_model=FeedPublic, status_code=status.HTTP_201_CREATED)
def create_feed(
    spec: FeedCreate,
    session: SessionDep,
    who: CoordinatorDep,
    request: Request,
    settings: SettingsDep,
) -> FeedPublic:
    """Register a feed (coordinator or admin); internal addresses need SIAGA_FEEDS_ALLOWED_HOSTS."""
    feed = service.create_feed(
        session=session, spec=spec, allowed_hosts=settings.feeds.allowed_hosts
    )
    session.flush()
    audit.record(
        session=session,
        actor=request,
        action="feeds.create",
        target=f"feed:{feed.id}",
        details={**spec.model_dump(mode="json"), "url": service.mask_url(str(spec.url))},
    )
    session.commit()
    return service.feed_public(feed, detail=who.has("admin"))


@router.get("/feeds/{feed_id}", response_model=FeedPublic)
def get_feed(feed_id: IdPath, session: SessionDep, who: PrincipalDep) -> FeedPublic:
    """One feed with its health (full error text and URL for admins only)."""
    feed = service.get_feed(session=session, feed_id=feed_id)
    return service.feed_public(feed, detail=who.has("admin"))


@router.patch("/feeds/{feed_id}", response_model=FeedPublic)
def update_feed(
    feed_id: IdPath,
    spec: FeedUpdate,
    session: SessionDep,
    who: CoordinatorDep,
    request: Request,
    settings: SettingsDep,
) -> FeedPublic:
    """Change URL, interval, enabled flag or options (coordinator or admin)."""
    feed = service.update_feed(
        session=session, feed_id=feed_id, spec=spec, allowed_hosts=settings.feeds.allowed_hosts
    )
    details = spec.model_dump(mode="json", exclude_unset=True)
    if details.get("url"):
        details["url"] = service.mask_url(details["url"])
    audit.record(
        session=session,
        actor=request,
        action="feeds.update",
        target=f"feed:{feed_id}",
        details=details,
    )
    session.commit()
    return service.feed_public(feed, detail=who.has("admin"))


@router.post("/feeds/{feed_id}/poll", response_model=PollResult)
def poll_now(
    feed_id: IdPath,
    session_factory: SessionFactoryDep,
    settings: SettingsDep,
    who: CoordinatorDep,
    request: Request,
) -> PollResult:
    """Poll the feed now, even when disabled; the result says what changed (the error as a
    short reason, the full text for admins)."""
    with session_factory() as s:
        service.get_feed(session=s, feed_id=feed_id)  # 404 before any network work
    with build_client(settings.feeds) as client:
        outcome = poll_feed(
            session_factory=session_factory,
            settings=settings,
            client=client,
            feed_id=feed_id,
            force=True,
        )
    detail = who.has("admin")
    with session_factory() as s:
        feed = service.feed_public(service.get_feed(session=s, feed_id=feed_id), detail=detail)
    result = PollResult(**outcome.public(detail=detail), feed=feed)
    audit.record_committed(
        session_factory=session_factory,
        actor=request,
        action="feeds.poll",
        target=f"feed:{feed_id}",
        details=outcome.public(),
    )
    return result


@router.get("/events/{event_id}", response_model=EventPublic)
def get_event(event_id: IdPath, session: SessionDep) -> EventPublic:
    """One hazard event with its linked reports, revision history and community intensities."""
    return service.get_event(session=session, event_id=event_id)
