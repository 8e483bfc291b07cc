"""Import a framework without its start-up banners on standard error.

TensorFlow (under Keras) writes INFO lines through absl before logging is initialized
("oneDNN custom operations are on", "This TensorFlow binary is optimized ..."), and from
TF 2.21 on ``TF_CPP_MIN_LOG_LEVEL`` no longer hides them. :func:`import_quietly` captures file
descriptor 2 while the module is imported and writes back everything except absl INFO
messages and absl's pre-initialization notice, so warnings and errors still reach the user.
With ``TF_CPP_MIN_LOG_LEVEL=0`` nothing is filtered.

Example:
    >>> import_quietly("json").__name__
    'json'
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import tempfile
from types import ModuleType

#: The first line of an absl/glog message: severity letter, MMDD, time (``I0000 00:00:...``).
MESSAGE_START = re.compile(r"^[IWEF]\d{4} ")
#: absl's notice that logging is not initialized yet; it says nothing about the user's run.
PREINIT_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called"


def without_info(text: str) -> str:
    """``text`` minus absl INFO messages (with their continuation lines) and the pre-init notice.

    Example:
        >>> without_info("I0000 1.0 port.cc:153] oneDNN on\\nmore\\nW0000 1.1 x.cc:1] careful\\n")
        'W0000 1.1 x.cc:1] careful\\n'
    """
    kept: list[str] = []
    dropping = False
    for line in text.splitlines(keepends=True):
        if line.startswith(PREINIT_NOTICE):
            continue
        if MESSAGE_START.match(line):
            dropping = line.startswith("I")
        if not dropping:
            kept.append(line)
    return "".join(kept)


def import_quietly(module: str) -> ModuleType:
    """Import ``module`` with its C++ INFO banners removed from standard error."""
    if module in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        return importlib.import_module(module)
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (embedded interpreters)
        return importlib.import_module(module)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            return importlib.import_module(module)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            rest = without_info(captured.read().decode("utf-8", "replace"))
            if rest:
                sys.stderr.write(rest)
                sys.stderr.flush()
