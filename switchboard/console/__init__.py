"""The web console at /switchboard/console/: server-rendered pages, live parts in small
plain JavaScript, every asset served from this package (it works offline).

- session.py: signed session cookies and CSRF tokens.
- board.py: the queue board model; live.py: committed writes waking the boards watched.
- why.py: why a pending task waits (routing index and explain engine); playground.py: an
  expression evaluated against a worker, a task or both.
- workers.py, tasks.py: the filtered lists of workers and of tasks.
- pages.py: the handlers (workflows are drawn by their template alone); templates/ and
  static/: what they render and serve.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from switchboard.console.pages import HERE, Console
from switchboard.console.session import PATH


async def _to_console(request: Request) -> Response:
    return RedirectResponse(f"{PATH}/", 307)


def console_routes(console: Console) -> list[BaseRoute]:
    """The console's routes, and the server root's redirect to it."""
    c, ws = console, f"{PATH}/workspaces/{{workspace_sid}}"
    return [
        Route("/", _to_console, methods=["GET"], name="console_root"),
        Route(PATH, _to_console, methods=["GET"], name="console_root"),
        Route(f"{PATH}/", c.workspaces, methods=["GET"], name="console_workspaces"),
        Route(f"{PATH}/sign-in", c.sign_in_form, methods=["GET"], name="console_sign_in_form"),
        Route(f"{PATH}/sign-in", c.sign_in, methods=["POST"], name="console_sign_in"),
        Route(f"{PATH}/sign-out", c.sign_out, methods=["POST"], name="console_sign_out"),
        Route(f"{PATH}/clock", c.advance_clock, methods=["POST"], name="console_clock"),
        Route(ws, c.board, methods=["GET"], name="console_board"),
        Route(f"{ws}/board.json", c.board_json, methods=["GET"], name="console_board_json"),
        Route(f"{ws}/live", c.live, methods=["GET"], name="console_live"),
        Route(f"{ws}/tasks", c.tasks, methods=["GET"], name="console_tasks"),
        Route(f"{ws}/tasks/{{task_sid}}", c.task, methods=["GET"], name="console_task"),
        Route(f"{ws}/expression", c.playground, methods=["GET"], name="console_playground"),
        Route(f"{ws}/workers", c.workers, methods=["GET"], name="console_workers"),
        Route(f"{ws}/workflows", c.workflows, methods=["GET"], name="console_workflows"),
        Mount(f"{PATH}/static", StaticFiles(directory=HERE / "static"), name="console_static"),
    ]


__all__ = ["Console", "console_routes"]
