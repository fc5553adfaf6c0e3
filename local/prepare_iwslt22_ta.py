#!/usr/bin/env python3
"""Stage 0 of egs/iwslt22_ta: `hent-srt prepare iwslt22_ta` (local/ kept as in icefall recipes)."""

import sys

from hent_srt.data.corpora.prepare import local_main

main = local_main("iwslt22_ta")

if __name__ == "__main__":
    sys.exit(main())
