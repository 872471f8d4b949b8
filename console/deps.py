"""FastAPI dependencies: the DB session, the current user, role checks and CSRF.

Every route declares one of the role aliases below; `require(...)` resolves the user
(session cookie or `Authorization: Bearer`), answers 401/redirect when anonymous, 403 when the
role is not allowed, and checks the CSRF token on every state-changing request made with a
session cookie (bearer-token calls carry no ambient credentials and need none).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session, sessionmaker

from accounts.models import User
from accounts.roles import Role
from console import security
from console.errors import ConsoleError
from consumers.errors import Denied
from incidents.clocks import ClockPolicy
from notifiers.schemas import DraftPolicy

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class NotAuthenticated(ConsoleError, Denied):
    http_status = 401


class Forbidden(ConsoleError, Denied):
    pass


class CsrfFailed(ConsoleError, Denied):
    pass


def get_db(request: Request) -> Iterator[Session]:
    """One session per request, committed when the handler returns without error."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        # Keep loaded objects readable (the error page shows the user) after the rollback.
        session.expunge_all()
        session.rollback()
        raise
    finally:
        session.close()


DbSession = Annotated[Session, Depends(get_db, scope="function")]


def session_data(request: Request) -> dict[str, Any]:
    data: dict[str, Any] = request.state.session
    return data


def resolve_user(request: Request, db: Session) -> User | None:
    """The user behind a bearer token or the session cookie's server-side session, or None."""
    cached: User | None = getattr(request.state, "user", None)
    if cached is not None:
        return cached
    auth = request.headers.get("authorization", "")
    user: User | None = None
    if auth.lower().startswith("bearer "):
        token = auth[7:].strip()
        user = security.user_for_token(session=db, token=token) if token else None
        request.state.via_token = user is not None
        if user is None:
            return None
    else:
        sid = session_data(request).get("sid")
        if isinstance(sid, str):
            user = security.session_user(
                session=db, sid=sid, policy=request.app.state.session_policy
            )
        request.state.via_token = False
    request.state.user = user
    return user


async def check_csrf(request: Request) -> None:
    if request.method in SAFE_METHODS or getattr(request.state, "via_token", False):
        return
    expected = session_data(request).get("csrf")
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            given = value if isinstance(value, str) else None
    if not security.csrf_matches(expected, given):
        raise CsrfFailed("csrf")


RoleCheck = Callable[[Request, Session], Coroutine[Any, Any, User]]


def require(*roles: Role) -> RoleCheck:
    allowed = frozenset(roles)

    async def dependency(request: Request, db: DbSession) -> User:
        user = resolve_user(request, db)
        if user is None:
            raise NotAuthenticated("login required")
        if Role(user.role) not in allowed:
            raise Forbidden("forbidden")
        await check_csrf(request)
        return user

    return dependency


async def csrf_only(request: Request) -> None:
    """For anonymous state-changing forms (login)."""
    await check_csrf(request)


ALL = (Role.ANALYST, Role.RSSI, Role.DPO, Role.ADMIN)
READERS = (Role.ANALYST, Role.RSSI, Role.DPO)

CurrentUser = Annotated[User, Depends(require(*ALL))]
ReaderUser = Annotated[User, Depends(require(*READERS))]
CommenterUser = Annotated[User, Depends(require(*READERS))]
TriageUser = Annotated[User, Depends(require(Role.ANALYST, Role.RSSI))]
RssiUser = Annotated[User, Depends(require(Role.RSSI))]
RegisterUser = Annotated[User, Depends(require(Role.RSSI, Role.DPO))]
ReceiptUser = Annotated[User, Depends(require(Role.RSSI, Role.DPO))]
SignerUser = Annotated[User, Depends(require(Role.RSSI, Role.DPO))]  # the service checks kinds
AdminUser = Annotated[User, Depends(require(Role.ADMIN))]
CsrfChecked = Annotated[None, Depends(csrf_only)]

# A row id in a path: bounded to what an INTEGER column holds (a larger one is a 422, never
# a database error).
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def policy_of(request: Request) -> ClockPolicy:
    """The clock policy built from the app's settings."""
    policy: ClockPolicy = request.app.state.clock_policy
    return policy


def draft_policy_of(request: Request) -> DraftPolicy:
    policy: DraftPolicy = request.app.state.draft_policy
    return policy


def cnil_hours_of(request: Request) -> float:
    return float(request.app.state.settings.clocks.cnil_hours)
