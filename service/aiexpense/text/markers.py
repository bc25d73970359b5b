"""The date markers: private-use characters that stand in for the dates cut out of a
message (:func:`aiexpense.text.dates.mask_dates`), so that a date is never read as an
amount while each item still knows which date was written next to it. The parser strips
such characters from the input first, and drops them from descriptions.
"""

from __future__ import annotations

import re

# Private-use characters stand in for the dates cut out of the text.
MARKER_BASE = 0xE000
MARKER_RE = re.compile("[\ue000-\uf8ff]")
