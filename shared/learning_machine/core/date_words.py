"""ISO dates written out for the keyword ranking: "2024-05-20" also reads "Monday 20 May 2024".

A question names months and weekdays in words ("What did she do in May 2024?"); a stored text
often carries its date as an ISO date (an imported turn's "Nadia, 2024-05-20"). Both engines
split "2024-05-20" into 2024, 05 and 20, so the year matches and the month never does. The index's
keyword text therefore follows each valid ISO date with its words; the embedded text is left as
it was written (a date in every embedded text pulls short texts towards any question naming a
month: bench/quality/README.md).
"""

from __future__ import annotations

import re
from datetime import date

_ISO_DATE = re.compile(r"(?<![\d-])(\d{4})-(\d{2})-(\d{2})(?![\d-])")


def _spelled(match: re.Match[str]) -> str:
    try:
        day = date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:  # 2024-13-45 is not a date: leave it as written
        return match[0]
    return f"{match[0]} ({day:%A} {day.day} {day:%B} {day.year})"


def with_dates_in_words(text: str) -> str:
    return _ISO_DATE.sub(_spelled, text)
