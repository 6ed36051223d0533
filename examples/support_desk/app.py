"""A small support desk on TaskRouter: the application the test kit's worked example tests.

Customers open tickets; each becomes a TaskRouter task routed to an agent who speaks the
customer's language. TaskRouter offers the task to an agent through the assignment callback,
which this app accepts and records; the event callback keeps each ticket's status. Nothing
here knows about Switchboard: it is ordinary Twilio code.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, abort, jsonify, request
from twilio.request_validator import RequestValidator
from twilio.rest import Client


def create_app(config: dict[str, str]) -> Flask:
    """`config`: TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, WORKSPACE_SID, WORKFLOW_SID."""
    app = Flask(__name__)
    twilio = Client(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"])
    workspace = twilio.taskrouter.v1.workspaces(config["WORKSPACE_SID"])
    validator = RequestValidator(config["TWILIO_AUTH_TOKEN"])
    tickets: dict[str, dict[str, Any]] = {}  # task SID → what the desk knows of the ticket

    def from_twilio() -> None:
        """Refuse any callback not signed with our auth token."""
        signature = request.headers.get("X-Twilio-Signature", "")
        if not validator.validate(request.url, request.form.to_dict(), signature):
            abort(403)

    @app.post("/tickets")
    def open_ticket() -> Any:
        body = request.get_json()
        task = workspace.tasks.create(
            workflow_sid=config["WORKFLOW_SID"],
            attributes=json.dumps({"language": body["language"], "subject": body["subject"]}),
            timeout=24 * 3600,
        )
        tickets[task.sid] = {"subject": body["subject"], "agent": None, "status": "waiting"}
        return jsonify(ticket=task.sid), 201

    @app.get("/tickets/<sid>")
    def show_ticket(sid: str) -> Any:
        return jsonify(tickets[sid])

    @app.post("/taskrouter/assignment")
    def assignment() -> Any:
        from_twilio()
        agent = json.loads(request.form["WorkerAttributes"])["name"]
        tickets[request.form["TaskSid"]]["agent"] = agent
        return jsonify(instruction="accept")

    @app.post("/taskrouter/events")
    def event() -> Any:
        from_twilio()
        status = {
            "reservation.accepted": "assigned",
            "reservation.timeout": "waiting",
            "task.canceled": "expired",
        }.get(request.form["EventType"])
        ticket = tickets.get(request.form.get("TaskSid", ""))
        if status and ticket is not None:
            ticket["status"] = status
        return "", 204

    return app
