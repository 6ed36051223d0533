"""Outbound HTTP: the callbacks Switchboard sends to the outside world.

- `poster`: the one HTTP client both senders share, with its limits (time budget, reply
  size, per-destination concurrency) and the transport seam for in-process delivery.
- `assignment_callbacks`: each new reservation POSTed to its workflow's callback URL, and
  the reply's instruction carried out.
- `event_callbacks`: each workspace's events POSTed, in commit order, to its callback URL.
- `signatures`: the X-Twilio-Signature every outgoing webhook carries.

Both senders run as `background.BackgroundLoop`s on the app's event loop, read their work
from the database (the outbox and the event log) and never hold up the engine.
"""

from switchboard.outbound.assignment_callbacks import AssignmentCallbackSender
from switchboard.outbound.event_callbacks import EventSender
from switchboard.outbound.poster import Poster, Reply

__all__ = ["AssignmentCallbackSender", "EventSender", "Poster", "Reply"]
