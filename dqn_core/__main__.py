"""``python -m dqn_core`` is the ``dqn`` command."""

from dqn_core.cli import main

raise SystemExit(main())
