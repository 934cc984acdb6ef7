"""The inspector's pages: threads, one thread (transcript, turns, event log, a live tail),
one turn's waterfall, what waits for a person across threads, and the forms that answer
them; signing in with an API key or through the server's OpenID provider. Every page is for
a signed-in browser and shows only its key's (or subject's) threads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threadline import Thread
from threadline.types import NotFoundError, ThreadlineError, ThreadRecord, ThreadStatus

from .._credentials import Credentials
from .._errors import APIError
from .._oidc import ProviderUnavailable
from .._security import INSPECTOR_PREFIX
from ..responses import Access
from ..responses._access import EPHEMERAL_KEY
from ._actions import Waiting, choose, decide, fork, waiting
from ._oidc_sign_in import FLOW_COOKIE, FLOW_SECONDS, OIDCSignIn, SignInFailed
from ._sessions import SESSION_COOKIE, Session, Sessions, token_matches
from ._throttle import FailedSignIns
from ._transcript import transcript
from ._waterfall import step_spans, total_usage, trace_spans, waterfall

PREFIX = INSPECTOR_PREFIX
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
_HERE = Path(__file__).parent
_STATUSES: tuple[ThreadStatus, ...] = ("idle", "active", "awaiting_input", "archived", "terminated")
_LIVE_POLL_SECONDS = 1.0  # how often a live tail looks for events of turns run elsewhere
_LIVE_STREAM_SECONDS = 15.0  # how long one live tail connection lasts before it reconnects
_EVENT_LOG_LIMIT = 500
_OIDC_PATH = "/oidc"


class _NotFound(Exception):
    """An unknown id, or another key's: both get the same page."""


class Inspector:
    """The web inspector of a server: its routes, mounted at `/inspector` (and `/`)."""

    def __init__(self, access: Access, credentials: Credentials | None = None) -> None:
        self.access = access
        credentials = credentials or Credentials(access.config, None)
        self.sessions = Sessions(credentials)
        self.failed_sign_ins = FailedSignIns()
        oidc = access.config.oidc
        self.oidc = (
            OIDCSignIn(oidc, credentials.verifier)
            if oidc is not None and oidc.client_id and credentials.verifier is not None
            else None
        )
        self.templates = Environment(
            loader=FileSystemLoader(_HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )

    def routes(self) -> list[BaseRoute]:
        pages = Router(
            [
                Route("/", self.threads_page),
                Route("/rows", self.thread_rows),
                Route("/sign-in", self.sign_in_page, methods=["GET"]),
                Route("/sign-in", self.sign_in, methods=["POST"]),
                Route("/sign-out", self.sign_out, methods=["POST"]),
                Route(f"{_OIDC_PATH}/start", self.oidc_start, methods=["GET"]),
                Route(f"{_OIDC_PATH}/callback", self.oidc_callback, methods=["GET"]),
                Route("/pending", self.pending_page),
                Route("/pending/list", self.pending_list),
                Route("/threads/{thread_id}", self.thread_page),
                Route("/threads/{thread_id}/transcript", self.transcript_part),
                Route("/threads/{thread_id}/live", self.live),
                Route("/threads/{thread_id}/turns/{turn_id}", self.turn_page),
                Route(
                    "/threads/{thread_id}/approvals/{item_id:path}",  # a child's: ITEM/N
                    self.answer_approval,
                    methods=["POST"],
                ),
                Route(
                    "/threads/{thread_id}/choices/{item_id:path}",
                    self.answer_choice,
                    methods=["POST"],
                ),
                Route("/threads/{thread_id}/fork", self.fork, methods=["POST"]),
                Mount("/static", StaticFiles(directory=_HERE / "static")),
            ]
        )
        return [
            Route("/", _to_threads),
            Mount(PREFIX, app=_Guarded(pages)),
        ]

    # --- pages -------------------------------------------------------------------------

    async def threads_page(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return _to_sign_in()
        query = _filters(request)
        return self._render(
            "threads.html",
            session,
            rows_url=f"{PREFIX}/rows?{urlencode(query)}",
            statuses=_STATUSES,
            filters=query,
            rows=await self._rows(session, query),
        )

    async def thread_rows(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return _to_sign_in()
        rows = await self._rows(session, _filters(request))
        return self._render("thread_rows.html", session, rows=rows)

    async def thread_page(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return _to_sign_in()
        thread = await self._thread(session, request.path_params["thread_id"])
        events = await thread.events(limit=_EVENT_LOG_LIMIT)
        return self._render(
            "thread.html",
            session,
            thread=thread.record,
            turns=await thread.turns(),
            events=[(e.seq, e.type, e.turn_id or "", e.item_id or "") for e in events],
            **await self._transcript(thread),
        )

    async def transcript_part(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return _to_sign_in()
        thread = await self._thread(session, request.path_params["thread_id"])
        return self._render(
            "transcript.html", session, thread=thread.record, **await self._transcript(thread)
        )

    async def turn_page(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return _to_sign_in()
        thread = await self._thread(session, request.path_params["thread_id"])
        turn = await self.access.app.store.get_turn(request.path_params["turn_id"])
        if turn is None or turn.thread_id != thread.id:
            raise _NotFound
        steps = step_spans(await thread.steps(turn.turn_id))
        traced = trace_spans(await thread.trace(turn.turn_id))
        return self._render(
            "turn.html",
            session,
            thread=thread.record,
            turn=turn,
            bars=waterfall(traced or steps, now=time.time()),
            usage=total_usage(steps),
        )

    async def pending_page(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return _to_sign_in()
        return self._render("pending.html", session, waiting=await self._waiting(session))

    async def pending_list(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return _to_sign_in()
        return self._render("pending_list.html", session, waiting=await self._waiting(session))

    async def _waiting(self, session: Session) -> list[tuple[ThreadRecord, list[Waiting]]]:
        page = await self.access.app.threads.list(
            user_id=session.identity, status="awaiting_input", limit=100
        )
        found = [
            (thread.record, await waiting(thread))
            for thread in page
            if not thread.record.metadata.get(EPHEMERAL_KEY)
        ]
        # A child's requests are shown under the parent that waits for them, not twice.
        shown = {w.request.thread_id for _, asked in found for w in asked}
        return [f for f in found if f[1] and f[0].thread_id not in shown]

    async def sign_in_page(self, request: Request) -> Response:
        return self._sign_in_form()

    async def sign_in(self, request: Request) -> Response:
        address = request.client.host if request.client else ""
        wait = self.failed_sign_ins.retry_after(address)
        if wait is not None:
            response = self._sign_in_form(
                "Too many failed sign-ins from this address: try again in a minute.",
                http_status=429,
            )
            response.headers["Retry-After"] = str(wait)
            return response
        form = await request.form()
        token = self.sessions.sign_in(str(form.get("api_key") or ""))
        if token is None:
            self.failed_sign_ins.failed(address)
            return self._sign_in_form("Incorrect API key.", http_status=401)
        self.failed_sign_ins.succeeded(address)
        response = RedirectResponse(f"{PREFIX}/", status_code=303)
        _set_session(response, request, token)
        return response

    async def oidc_start(self, request: Request) -> Response:
        if self.oidc is None:
            raise _NotFound
        redirect_uri = f"{request.url.scheme}://{request.url.netloc}{PREFIX}{_OIDC_PATH}/callback"
        try:
            started = await self.oidc.start(redirect_uri)
        except ProviderUnavailable:
            return self._sign_in_form(
                "The sign-in provider could not be reached: try again later.", http_status=503
            )
        response = RedirectResponse(started.authorization_url, status_code=303)
        response.set_cookie(
            FLOW_COOKIE,
            started.flow_id,
            max_age=FLOW_SECONDS,
            path=f"{PREFIX}{_OIDC_PATH}",
            httponly=True,
            # Lax: the provider sends the browser back from its own site.
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return response

    async def oidc_callback(self, request: Request) -> Response:
        if self.oidc is None:
            raise _NotFound
        params = {name: value for name, value in request.query_params.items()}
        try:
            identity = await self.oidc.finish(request.cookies.get(FLOW_COOKIE), params)
        except SignInFailed as exc:
            response = self._sign_in_form(str(exc), http_status=400)
        else:
            # A page, not a redirect: the browser arrived from the provider's site, and a
            # SameSite=Strict cookie is sent on the next navigation only if this site starts it.
            response = self._render("signed_in.html", None, next_url=f"{PREFIX}/")
            _set_session(response, request, self.sessions.start(identity))
        response.delete_cookie(FLOW_COOKIE, path=f"{PREFIX}{_OIDC_PATH}")
        return response

    async def sign_out(self, request: Request) -> Response:
        session = await self._posted(request)
        if session is None:
            return _to_sign_in()
        self.sessions.sign_out(request.cookies.get(SESSION_COOKIE))
        response = _to_sign_in()
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return response

    # --- live tail ---------------------------------------------------------------------

    async def live(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return Response(status_code=401)
        thread = await self._thread(session, request.path_params["thread_id"])
        return StreamingResponse(
            self._changes(
                thread,
                request.headers.get("last-event-id") or request.query_params.get("seen"),
            ),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store"},
        )

    async def _changes(self, thread: Thread, last_seen: str | None) -> AsyncIterator[str]:
        """A `change` message each time the thread's log grows: live from this process's
        event bus, and by reading the store for turns that other processes run. A stream
        ends after a while (so that a server can stop) and the browser reconnects naming the
        last change it saw: one made in between is sent at once."""
        subscription = thread.subscribe(buffer=self.access.config.sse_buffer)
        events = aiter(subscription)
        loop = asyncio.get_running_loop()
        ends_at = loop.time() + _LIVE_STREAM_SECONDS
        try:
            seen = (await thread.reload()).last_event_seq
            yield "retry: 1000\n\n"
            if last_seen is not None and last_seen != str(seen):
                yield f"event: change\nid: {seen}\ndata: {{}}\n\n"
            while loop.time() < ends_at:
                try:
                    await asyncio.wait_for(anext(events), _LIVE_POLL_SECONDS)
                except TimeoutError:
                    if (await thread.reload()).last_event_seq == seen:
                        yield ": idle\n\n"
                        continue
                except StopAsyncIteration:
                    return
                seen = (await thread.reload()).last_event_seq
                yield f"event: change\nid: {seen}\ndata: {{}}\n\n"
        finally:
            subscription.close()

    # --- forms -------------------------------------------------------------------------

    async def answer_approval(self, request: Request) -> Response:
        session = await self._posted(request)
        if session is None:
            return _to_sign_in()
        thread = await self._thread(session, request.path_params["thread_id"])
        form = await request.form()
        verdict = form.get("decision")
        if verdict not in ("approve", "deny"):
            return self._problem(session, "Choose approve or deny.")
        return await self._act(
            session,
            thread,
            decide(
                self.access.drivers,
                thread,
                request.path_params["item_id"],
                approve=verdict == "approve",
                buffer=self.access.config.sse_buffer,
            ),
        )

    async def answer_choice(self, request: Request) -> Response:
        session = await self._posted(request)
        if session is None:
            return _to_sign_in()
        thread = await self._thread(session, request.path_params["thread_id"])
        form = await request.form()
        value = str(form.get("value") or "")
        return await self._act(
            session,
            thread,
            choose(self.access.drivers, thread, request.path_params["item_id"], value),
        )

    async def fork(self, request: Request) -> Response:
        session = await self._posted(request)
        if session is None:
            return _to_sign_in()
        thread = await self._thread(session, request.path_params["thread_id"])
        form = await request.form()
        try:
            forked = await fork(self.access.app, thread, str(form.get("upto_seq") or ""))
        except ThreadlineError as exc:
            return self._problem(session, exc.message)
        return RedirectResponse(f"{PREFIX}/threads/{forked.id}", status_code=303)

    async def _act(self, session: Session, thread: Thread, action: Any) -> Response:
        try:
            await action
        except ThreadlineError as exc:
            return self._problem(session, exc.message)
        except APIError as exc:
            return self._problem(session, exc.message)
        return RedirectResponse(f"{PREFIX}/threads/{thread.id}", status_code=303)

    # --- shared ------------------------------------------------------------------------

    def _session(self, request: Request) -> Session | None:
        return self.sessions.find(request.cookies.get(SESSION_COOKIE))

    async def _posted(self, request: Request) -> Session | None:
        """The session of a form post, if its token is the session's (the security gate
        has already refused posts from other sites)."""
        session = self._session(request)
        if session is None:
            return None
        form = await request.form()
        token = form.get("csrf_token")
        if not token_matches(session, token if isinstance(token, str) else None):
            raise _Refused
        return session

    async def _thread(self, session: Session, thread_id: str) -> Thread:
        try:
            thread = await self.access.app.threads.resume(thread_id)
        except NotFoundError:
            raise _NotFound from None
        if session.identity is not None and thread.user_id != session.identity:
            raise _NotFound
        if thread.record.metadata.get(EPHEMERAL_KEY):
            raise _NotFound  # a store=false conversation belongs to the connection that made it
        return thread

    async def _rows(self, session: Session, query: dict[str, str]) -> list[Any]:
        status = query["status"] if query["status"] in _STATUSES else None
        user = session.identity if session.identity is not None else (query["user"] or None)
        page = await self.access.app.threads.list(user_id=user, status=status, limit=100)  # type: ignore[arg-type]
        key = query["key"]
        return [
            t.record
            for t in page
            if (not key or key in (t.record.key or "")) and not t.record.metadata.get(EPHEMERAL_KEY)
        ]

    async def _transcript(self, thread: Thread) -> dict[str, Any]:
        asked = await waiting(thread)
        calls = {w.request.tool_call_id for w in asked}
        return {
            "entries": transcript(await thread.items(), calls),
            # What the page shows is at least this new: a change made before its live tail
            # connects is sent at once, as after a reconnection.
            "live_url": f"{PREFIX}/threads/{thread.id}/live?seen={thread.record.last_event_seq}",
            "running": thread.record.status == "active",
        }

    def _render(
        self, name: str, session: Session | None, *, http_status: int = 200, **values: Any
    ) -> Response:
        html = self.templates.get_template(name).render(
            prefix=PREFIX, csrf_token=session.csrf_token if session else "", **values
        )
        return HTMLResponse(html, status_code=http_status)

    def _sign_in_form(self, error: str | None = None, *, http_status: int = 200) -> Response:
        return self._render(
            "sign_in.html",
            None,
            http_status=http_status,
            error=error,
            keys=bool(self.access.config.api_keys),
            oidc_issuer=self.oidc.issuer if self.oidc is not None else None,
        )

    def _problem(self, session: Session, message: str) -> Response:
        return self._render("problem.html", session, message=message, http_status=400)


class _Refused(Exception):
    """A form post without its session's token."""


class _Guarded:
    """Every inspector response gets the strict Content-Security-Policy; unknown and
    foreign ids and tokenless posts get their pages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def send_with_policy(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"content-security-policy"
                ]
                headers += [
                    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    # Not no-referrer: under it a browser posts forms with `Origin: null`.
                    (b"referrer-policy", b"same-origin"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_policy)
        except _NotFound:
            if started:
                raise
            await _plain(404, "Not found: no such thread or turn.")(
                scope, receive, send_with_policy
            )
        except _Refused:
            if started:
                raise
            await _plain(403, "This form has expired: reload the page.")(
                scope, receive, send_with_policy
            )


def _plain(status: int, text: str) -> Response:
    return Response(text, status_code=status, media_type="text/plain; charset=utf-8")


def _filters(request: Request) -> dict[str, str]:
    return {name: request.query_params.get(name, "").strip() for name in ("user", "key", "status")}


async def _to_threads(_: Request) -> Response:
    return RedirectResponse(f"{PREFIX}/", status_code=303)


def _to_sign_in() -> Response:
    return RedirectResponse(f"{PREFIX}/sign-in", status_code=303)


def _set_session(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
