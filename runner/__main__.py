"""``python -m runner``: wiring only."""

from runner.cli import main

raise SystemExit(main())
