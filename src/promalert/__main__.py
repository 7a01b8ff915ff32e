"""Entry point for ``python -m promalert``."""

from promalert.cli import main

raise SystemExit(main())
