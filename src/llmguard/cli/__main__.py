"""``python -m llmguard.cli``: the same as the ``llmguard`` command."""

import sys

from llmguard.cli import main

sys.exit(main())
