"""contactguard: keep only people who wrote first in a WhatsApp Business phone's address book."""

from __future__ import annotations

from .books import read_book as read_book
from .books import write_book as write_book
from .errors import ConfigError as ConfigError
from .errors import ContactguardError as ContactguardError
from .errors import EvidenceError as EvidenceError
from .errors import InputError as InputError
from .errors import SyncError as SyncError
from .evidence import Evidence as Evidence
from .evidence import load_evidence as load_evidence
from .model import Contact as Contact
from .model import Decision as Decision
from .model import EvidenceRecord as EvidenceRecord
from .model import Reason as Reason
from .policy import Policy as Policy
from .sanitize import Result as Result
from .sanitize import Sanitizer as Sanitizer
from .sanitize import sanitize as sanitize

__all__ = [
    "ConfigError",
    "Contact",
    "ContactguardError",
    "Decision",
    "Evidence",
    "EvidenceError",
    "EvidenceRecord",
    "InputError",
    "Policy",
    "Reason",
    "Result",
    "Sanitizer",
    "SyncError",
    "load_evidence",
    "read_book",
    "sanitize",
    "write_book",
]
