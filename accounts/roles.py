"""The console's roles: the one home of their names.

- `analyst`: triage (qualify, assess, comment);
- `rssi`: decides, approves notices and sends them;
- `dpo`: reads, comments, co-signs CNIL, data-subject and public notices, records CNIL receipts;
- `admin`: manages console users.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ANALYST = "analyst"
    RSSI = "rssi"
    DPO = "dpo"
    ADMIN = "admin"
