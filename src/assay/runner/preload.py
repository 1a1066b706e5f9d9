"""What the local engine's forkserver loads once, so that every child it forks starts its first task at
once: the SDK's modules (imports only: no connection, no thread is opened here; the store's load in each
child as it opens the store, while it waits for its first task: ``execute.warm``), and the
list of installed packages a run's environment records (``installed_packages`` keeps it on disk; a child
reads it back in a millisecond instead of reading every distribution's metadata for a second or more).
"""

from __future__ import annotations

import assay.bundle
import assay.runner.execute
import assay.sdk.client
import assay.sdk.fluent
from assay.sdk import capture

__all__ = ["assay"]

capture.installed_packages()
