#!/usr/bin/env python3
"""Stage 0 of egs/hkust: `hent-srt prepare hkust` (local/ kept as in icefall recipes)."""

import sys

from hent_srt.data.corpora.prepare import local_main

main = local_main("hkust")

if __name__ == "__main__":
    sys.exit(main())
