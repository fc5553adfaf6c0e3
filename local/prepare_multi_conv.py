#!/usr/bin/env python3
"""Stage 0 of egs/multi_conv: `hent-srt prepare multi_conv` (local/ kept as in icefall recipes)."""

import sys

from hent_srt.data.corpora.prepare import local_main

main = local_main("multi_conv")

if __name__ == "__main__":
    sys.exit(main())
