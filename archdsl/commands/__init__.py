"""Sub-commands of the ``archdsl`` CLI, one module per group (see :mod:`archdsl.cli`)."""
