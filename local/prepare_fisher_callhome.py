#!/usr/bin/env python3
"""Stage 0 of egs/fisher_callhome: `hent-srt prepare fisher_callhome` (local/ kept as in icefall recipes)."""

import sys

from hent_srt.data.corpora.prepare import local_main

main = local_main("fisher_callhome")

if __name__ == "__main__":
    sys.exit(main())
