"""`python -m antorcha lesson`."""

from antorcha.cli import main

raise SystemExit(main())
