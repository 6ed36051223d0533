"""`python -m switchboard` runs the same command line as `switchboard`."""

from switchboard.cli import main

raise SystemExit(main())
