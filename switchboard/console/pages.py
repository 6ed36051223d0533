"""The console's pages and endpoints: sign-in, workspaces, the live queue board, a task's
timeline with why it waits, and the manual clock's buttons.

Handlers are small: they check the session (and the CSRF token on every POST), ask board.py
or why.py for a model, and render a template. A missing workspace or task is a 404 page; a
page of another account's workspace is the same 404, never a hint that it exists.
"""

from __future__ import annotations

import asyncio
import functools
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)

from switchboard.console.board import Boards
from switchboard.console.live import COALESCE_SECONDS, MIN_PUSH_SECONDS, POLL_SECONDS, BoardFeed
from switchboard.console.playground import SUBJECTS, evaluate
from switchboard.console.session import COOKIE, PATH, SIGN_IN_COOKIE, Session, Sessions
from switchboard.console.tasks import STATUSES, list_tasks
from switchboard.console.why import explain_wait, step_label
from switchboard.console.workers import list_workers
from switchboard.engine import Engine
from switchboard.errors import TwilioError, Unauthorized, not_found
from switchboard.fastjson import dumps
from switchboard.models import Clock, MovableClock, Prefix, is_sid
from switchboard.storage import Store

HERE = Path(__file__).parent
# Pages may run only this origin's scripts and styles, and may not be framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
# A live stream ends after this long and the browser reconnects (EventSource does so by
# itself): a server shutting down never waits long on a board left open.
STREAM_SECONDS = 60.0
# Even without a write, a board is sent again this often so waiting ages move on.
REFRESH_SECONDS = 5.0
WORKERS_LISTED = 200
# A streamed page lets other requests in after this much rendering.
RENDER_SLICE_SECONDS = 0.001
MAX_FORM_BYTES = 16 * 1024
TIMELINE_LIMIT = 500


def _by_name(choices: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(SID, name) choices for a picker, by name ignoring case."""
    return sorted(choices, key=lambda pair: pair[1].lower())


WorkspacePage = Callable[["Console", Request, Session, str], Awaitable[Response]]
Page = Callable[["Console", Request], Awaitable[Response]]


def workspace_page(missing: str) -> Callable[[WorkspacePage], Page]:
    """A page of one workspace: the handler gets the session and the path's workspace SID.
    Without a session it is the sign-in page; a workspace that is not the session account's
    is the 404 page naming `missing` (what the page would have shown)."""

    def wrap(handler: WorkspacePage) -> Page:
        @functools.wraps(handler)
        async def page(console: Console, request: Request) -> Response:
            session = console.session(request)
            if session is None:
                return console._to_sign_in(request)
            ws = console._workspace(request, session)
            if ws is None:
                return console.not_found(session, missing)
            return await handler(console, request, session, ws)

        return page

    return wrap


def _format_ms(ms: int | None) -> str:
    if ms is None:
        return "—"
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _format_age(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    minutes, s = divmod(int(seconds), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}h {m:02d}m {s:02d}s" if hours else (f"{m}m {s:02d}s" if m else f"{s}s")


class Console:
    """The console's handlers, sharing the store, the engine and the session signer."""

    def __init__(
        self, store: Store, engine: Engine, clock: Clock, *, manual_clock: bool, secret: bytes
    ) -> None:
        self.store = store
        self.engine = engine
        self.clock = clock
        self.manual_clock = manual_clock
        self.sessions = Sessions(secret)
        self.feed = BoardFeed()
        # Counted queues wake the boards that showed them as unknown.
        self.boards = Boards(store, engine, on_counted=self.feed.wake)
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["when"] = _format_ms
        self.templates.filters["age"] = _format_age
        self.templates.filters["workers"] = lambda n: f"{n} worker" + ("" if n == 1 else "s")

    # -- rendering ----------------------------------------------------------------------------

    def render(self, template: str, http_status: int = 200, /, **context: Any) -> HTMLResponse:
        """The template filled with `context`; positional-only parameters leave every name free
        for the template (a filter's `status` is not the HTTP status)."""
        context.setdefault("now", self.engine.now())
        html = self.templates.get_template(template).render(
            prefix=PATH, manual_clock=self.manual_clock, **context
        )
        return HTMLResponse(html, http_status, headers=SECURITY_HEADERS)

    def _streamed_page(self, session: Session, template: str, /, **context: Any) -> Response:
        """A large page (the board of 500 queues takes ~10 ms to render) sent as it renders,
        letting the event loop serve other requests every RENDER_SLICE_SECONDS."""
        context.update(
            prefix=PATH, manual_clock=self.manual_clock, session=session,
            csrf=self.sessions.csrf(session),
        )  # fmt: skip
        context.setdefault("now", self.engine.now())
        pieces = self.templates.get_template(template).generate(**context)
        return StreamingResponse(
            _in_slices(pieces), media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS
        )

    def _page(self, session: Session, template: str, /, **context: Any) -> Response:
        return self.render(
            template, session=session, csrf=self.sessions.csrf(session), **context,
        )  # fmt: skip

    def not_found(self, session: Session | None, what: str) -> HTMLResponse:
        csrf = self.sessions.csrf(session) if session else ""
        return self.render("not_found.html", 404, session=session, csrf=csrf, what=what)

    # -- sessions -----------------------------------------------------------------------------

    def session(self, request: Request) -> Session | None:
        found = self.sessions.read(request.cookies.get(COOKIE), int(time.time() * 1000))
        if found is None or self.store.get_account(found.account_sid) is None:
            return None
        return found

    def _to_sign_in(self, request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{PATH}/sign-in?next={quote(target, safe='')}", 303)

    async def sign_in_form(self, request: Request, error: str | None = None,
                           status: int = 200) -> Response:  # fmt: skip
        token = request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(24)
        response = self.render(
            "sign_in.html", status, session=None, csrf=token, error=error,
            next=_safe_next(request.query_params.get("next")),
        )  # fmt: skip
        response.set_cookie(
            SIGN_IN_COOKIE, token, path=PATH, httponly=True, samesite="strict",
            secure=request.url.scheme == "https",
        )  # fmt: skip
        return response

    async def sign_in(self, request: Request) -> Response:
        form = await _form(request)
        expected = request.cookies.get(SIGN_IN_COOKIE)
        given = form.get("csrf", "")
        if not expected or not given or expected != given:
            return await self.sign_in_form(request, "The form expired: please sign in again.", 403)
        username = form.get("username", "").strip()
        password = form.get("password", "")
        account_sid = self.engine.accounts.authenticate(username, password) if username else None
        if account_sid is None:
            return await self.sign_in_form(
                request, "Those credentials are not valid: give an Account SID and its auth"
                " token, or an API key SID (SK…) and its secret.", 401,
            )  # fmt: skip
        cookie, _ = self.sessions.issue(account_sid, int(time.time() * 1000))
        response = RedirectResponse(_safe_next(form.get("next", "")), 303)
        response.set_cookie(
            COOKIE, cookie, path=PATH, httponly=True, samesite="strict",
            secure=request.url.scheme == "https",
        )  # fmt: skip
        response.delete_cookie(SIGN_IN_COOKIE, path=PATH)
        return response

    async def sign_out(self, request: Request) -> Response:
        session = self.session(request)
        form = await _form(request)
        if session is not None and not self.sessions.csrf_ok(session, form.get("csrf")):
            return self.render("forbidden.html", 403, session=session, csrf="")
        response = RedirectResponse(f"{PATH}/sign-in", 303)
        response.delete_cookie(COOKIE, path=PATH)
        return response

    # -- pages --------------------------------------------------------------------------------

    async def workspaces(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return self._to_sign_in(request)
        found = self.store.board.workspaces(session.account_sid)
        return self._page(session, "workspaces.html", workspaces=found)

    def _workspace(self, request: Request, session: Session) -> str | None:
        """The path's workspace when it is the session account's, else None."""
        sid = str(request.path_params["workspace_sid"])
        if not is_sid(sid, Prefix.WORKSPACE):
            return None
        return sid if self.store.workspace_exists(sid, session.account_sid) else None

    def _workspace_name(self, session: Session, ws: str) -> str:
        return self.store.board.workspaces(session.account_sid).get(ws, ws)

    async def _watched(self, request: Request) -> tuple[Session, str, str] | TwilioError:
        """The session and the workspace (SID, name) a data endpoint serves, or the error to
        answer in Twilio's shape (a script asks, not a person): 401 without a session (the
        board's script then tells its reader to sign in again), 404 for a workspace that is
        not the session account's. Its reads go through `Store.read` (off the event loop on
        PostgreSQL): a board open in a browser asks every few seconds."""
        session = self.sessions.read(request.cookies.get(COOKIE), int(time.time() * 1000))
        found = None if session is None else await self.store.read(self._look, request, session)
        if session is None or found is None:
            return Unauthorized("Sign in to the console: the session is missing or has expired")
        if not found:
            return not_found(request.url.path)
        ws, name = found
        return session, ws, name

    def _look(self, request: Request, session: Session) -> tuple[str, str] | tuple[()] | None:
        """What `_watched` reads: None when the session's account is gone, () when the
        path's workspace is not the account's, else the workspace's SID and name."""
        if self.store.get_account(session.account_sid) is None:
            return None
        ws = self._workspace(request, session)
        return () if ws is None else (ws, self._workspace_name(session, ws))

    @workspace_page("workspace")
    async def board(self, request: Request, session: Session, ws: str) -> Response:
        name = self._workspace_name(session, ws)
        board = await self.boards.board(ws, name)
        return self._streamed_page(session, "board.html", board=board)

    async def board_json(self, request: Request) -> Response:
        watched = await self._watched(request)
        if isinstance(watched, TwilioError):
            return _error(watched)
        _, ws, name = watched
        return Response(
            dumps(await self.boards.board(ws, name)), media_type="application/json",
            headers={"Cache-Control": "no-store"},
        )  # fmt: skip

    async def live(self, request: Request) -> Response:
        """Server-sent events: the board now, then again after every change."""
        watched = await self._watched(request)
        if isinstance(watched, TwilioError):
            return _error(watched)
        return StreamingResponse(
            self.board_events(*watched), media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )  # fmt: skip

    async def board_events(self, session: Session, ws: str, name: str) -> AsyncIterator[str]:
        """The stream's text: the board at once, then after each change (a commit here wakes
        it; another process's is found by the change number), at most one board every
        MIN_PUSH_SECONDS, and again every few seconds so ages move on. It ends after
        STREAM_SECONDS (the browser reconnects), or with a `signed-out` event when the
        session expires, so the page can say so rather than show a board that stopped."""
        loop = asyncio.get_running_loop()
        flag = self.feed.watch(ws)
        try:
            yield "retry: 1000\n\n"
            ends, seen, sent_at = loop.time() + STREAM_SECONDS, None, -REFRESH_SECONDS
            complete = True
            while loop.time() < ends:
                left = await self._session_left(session)
                if left <= 0:
                    again = f"{PATH}/sign-in?next={quote(f'{PATH}/workspaces/{ws}', safe='')}"
                    yield f"event: signed-out\ndata: {dumps({'sign_in': again})}\n\n"
                    return
                seq = await self.store.read(self.store.workspace_change_seq, ws)
                if seq is None:
                    self.boards.forget(ws)
                    return  # the workspace was deleted
                since = loop.time() - sent_at
                if seq != seen or since >= REFRESH_SECONDS or not complete:
                    if since < MIN_PUSH_SECONDS:
                        await asyncio.sleep(MIN_PUSH_SECONDS - since)
                        continue
                    flag.clear()
                    seen, sent_at = seq, loop.time()
                    board = await self.boards.board(ws, name)
                    complete = board.complete
                    yield f"event: board\ndata: {dumps(board)}\n\n"
                try:
                    await asyncio.wait_for(flag.wait(), min(POLL_SECONDS, left))
                    await asyncio.sleep(COALESCE_SECONDS)
                except TimeoutError:
                    pass
        finally:
            self.feed.unwatch(ws, flag)

    async def _session_left(self, session: Session) -> float:
        """Seconds until the session ends (0: it has, or its account is gone)."""
        if await self.store.read(self.store.get_account, session.account_sid) is None:
            return 0.0
        return max(session.expires_ms - time.time() * 1000, 0.0) / 1000

    @workspace_page("task")
    async def task(self, request: Request, session: Session, ws: str) -> Response:
        sid = str(request.path_params["task_sid"])
        task = self.store.tasks.get(ws, sid) if is_sid(sid, Prefix.TASK) else None
        if task is None:
            return self.not_found(session, "task")
        events = self.store.events.find(
            ws, start=None, end=None, filters={"task_sid": sid},
            order=(("seq", False), ("ordinal", False)), after=None, limit=TIMELINE_LIMIT,
        )  # fmt: skip
        reservations = self.store.reservations.find(ws, task_sid=sid)
        endings = {
            e.reservation_sid: e.event_type.removeprefix("reservation.")
            for e in events
            if e.reservation_sid and e.event_type != "reservation.created"
        }
        chosen = request.query_params.get("worker") or None
        why = explain_wait(self.engine, ws, task, chosen)
        index = self.engine.index(ws)
        workers = self._workers(ws)
        try:
            attributes = json.dumps(json.loads(task.attributes), indent=2, sort_keys=True)
        except ValueError:
            attributes = task.attributes
        return self._page(
            session, "task.html", ws=ws, task=task, events=events,
            reservations=reservations, endings=endings, why=why, workers=workers,
            chosen=chosen, attributes=attributes, step=step_label(self.engine, ws, task),
            queue_name=index.queues[task.task_queue_sid].queue.friendly_name
            if task.task_queue_sid in index.queues else None,
        )  # fmt: skip

    @workspace_page("workspace")
    async def playground(self, request: Request, session: Session, ws: str) -> Response:
        """Evaluate an expression (a GET form: it changes nothing)."""
        query = request.query_params
        expression = query.get("expression", "")
        subject = query.get("subject", "worker")
        subject = subject if subject in SUBJECTS else "worker"
        workers = self._workers(ws)
        worker = query.get("worker") or (workers[0][1] if workers else "")
        task = query.get("task", "").strip()
        result = None
        if expression:
            result = evaluate(self.store, self.engine, ws, expression, subject, worker, task)
        return self._page(
            session, "playground.html", ws=ws, expression=expression,
            subject=subject, worker=worker, task=task, result=result, workers=workers,
        )  # fmt: skip

    @workspace_page("workspace")
    async def workers(self, request: Request, session: Session, ws: str) -> Response:
        query = request.query_params
        activity, queue = query.get("activity", ""), query.get("queue", "")
        expression = query.get("expression", "").strip()
        listing = list_workers(
            self.engine, ws, activity=activity, queue=queue, expression=expression
        )
        index = self.engine.index(ws)
        activities = [
            (a.sid, a.friendly_name)
            for a in sorted(index.activities.values(), key=lambda a: (a.date_created, a.sid))
        ]
        queues = _by_name((sid, q.queue.friendly_name) for sid, q in index.queues.items())
        return self._page(
            session, "workers.html", ws=ws, listing=listing, activities=activities,
            queues=queues, activity=activity, queue=queue, expression=expression,
        )  # fmt: skip

    @workspace_page("workspace")
    async def tasks(self, request: Request, session: Session, ws: str) -> Response:
        query = request.query_params
        status, queue = query.get("status", ""), query.get("queue", "")
        workflow, expression = query.get("workflow", ""), query.get("expression", "").strip()
        listing = list_tasks(
            self.store, ws, status=status, queue=queue, workflow=workflow, expression=expression
        )
        index = self.engine.index(ws)
        queues = _by_name((sid, q.queue.friendly_name) for sid, q in index.queues.items())
        workflows = _by_name((sid, w.friendly_name) for sid, (w, _) in index.work.workflows.items())
        return self._page(
            session, "tasks.html", ws=ws, listing=listing, statuses=[(s, s) for s in STATUSES],
            queues=queues, workflows=workflows, status=status, queue=queue, workflow=workflow,
            expression=expression,
        )  # fmt: skip

    @workspace_page("workspace")
    async def workflows(self, request: Request, session: Session, ws: str) -> Response:
        """Each workflow's configuration drawn as filters leading to their targets."""
        index = self.engine.index(ws)
        workflows = sorted(
            index.work.workflows.values(), key=lambda pair: (pair[0].date_created, pair[0].sid)
        )
        names = {sid: q.queue.friendly_name for sid, q in index.queues.items()}
        return self._page(session, "workflows.html", ws=ws, workflows=workflows, queue_names=names)

    def _workers(self, ws: str) -> list[tuple[str, str]]:
        """(name, SID) of the workspace's first workers by name, for a worker picker."""
        index = self.engine.index(ws)
        return sorted(
            ((w.worker.friendly_name, sid) for sid, w in index.workers.items()),
            key=lambda pair: pair[0].lower(),
        )[:WORKERS_LISTED]

    async def advance_clock(self, request: Request) -> Response:
        """The manual clock's buttons: move it on, then process what fell due."""
        session = self.session(request)
        if session is None:
            return self._to_sign_in(request)
        form = await _form(request)
        if not self.sessions.csrf_ok(session, form.get("csrf")):
            return self.render("forbidden.html", 403, session=session, csrf="")
        seconds = form.get("seconds", "")
        if not isinstance(self.clock, MovableClock) or not seconds.isdigit():
            return self.render("forbidden.html", 400, session=session, csrf="")
        self.clock.advance_ms(min(int(seconds), 86_400 * 365) * 1000)
        # Not prepared, as the API's clock is not: the tick's batches commit on their own.
        self.engine.deadlines.tick()
        return RedirectResponse(_safe_next(form.get("next", "")), 303)


async def _in_slices(pieces: Iterator[str]) -> AsyncIterator[str]:
    """A template's output, joined into one chunk per RENDER_SLICE_SECONDS of rendering."""
    started, chunk = time.perf_counter(), []
    for count, piece in enumerate(pieces, 1):
        chunk.append(piece)
        if count % 256 == 0 and time.perf_counter() - started > RENDER_SLICE_SECONDS:
            yield "".join(chunk)
            chunk = []
            await asyncio.sleep(0)
            started = time.perf_counter()
    yield "".join(chunk)


def _error(error: TwilioError) -> Response:
    """A data endpoint's error, in Twilio's shape like the API's."""
    return JSONResponse(error.to_dict(), error.status, headers={"Cache-Control": "no-store"})


async def _form(request: Request) -> dict[str, str]:
    """A url-encoded form's fields (the first value of each). The console's forms are small;
    a body past the limit is read as empty, so the CSRF check refuses it."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    fields = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    found: dict[str, str] = {}
    for key, value in fields:
        found.setdefault(key, value)
    return found


def _safe_next(target: str | None) -> str:
    """Where to go after a form: a path of the console only (never another site)."""
    if target and target.startswith(PATH + "/") and "//" not in target and "\\" not in target:
        return target
    return PATH + "/"
