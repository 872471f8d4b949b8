"""The console's roles: the one home of their names is `consumers.conventions.Role`
(notifiers check signatures by role too), re-exported here.

- `analyst`: triage (qualify, assess, comment);
- `rssi`: decides, approves notices and sends them;
- `dpo`: reads, comments, co-signs CNIL, data-subject and public notices, records CNIL receipts;
- `admin`: manages console users.
"""

from __future__ import annotations

from consumers.conventions import Role

__all__ = ["Role"]
