"""The worker SDK's side (`twilio-taskrouter`): what agent desktops connect to.

- tokens.py: Twilio Access Tokens, checked against the stored API keys (and minted for
  `switchboard token`).
- gateway.py: the SDK's `ebServer`, executing each call through the REST API's own handlers
  (inprocess.py) and answering in the SDK's payload shapes (payloads.py).
- sessions.py: the SDK's `wsServer`, one bounded queue per socket, heartbeats.
- fanout.py: committed events pushed to the sockets of the workers they concern.
- service.py: `Realtime`, which builds these, gives the app its routes, and starts and stops
  the push loop.
"""

from switchboard.realtime.service import PATH, Realtime
from switchboard.realtime.tokens import Grant, TokenRefused, mint, verify

__all__ = ["PATH", "Grant", "Realtime", "TokenRefused", "mint", "verify"]
