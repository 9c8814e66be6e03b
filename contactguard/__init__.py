"""contactguard: keep only people who wrote first in a WhatsApp Business phone's address book.

The public names are imported on first use (PEP 562 ``__getattr__``): ``contactguard --help``
imports this package, and must not pay for vobject, phonenumbers and the evidence readers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from .pipeline import ParsedBook as ParsedBook
    from .pipeline import Result as Result
    from .pipeline import Run as Run
    from .pipeline import Sanitizer as Sanitizer
    from .pipeline import sanitize as sanitize
    from .policy import Policy as Policy

__all__ = [
    "ConfigError",
    "Contact",
    "ContactguardError",
    "Decision",
    "Evidence",
    "EvidenceError",
    "EvidenceRecord",
    "InputError",
    "ParsedBook",
    "Policy",
    "Reason",
    "Result",
    "Run",
    "Sanitizer",
    "SyncError",
    "load_evidence",
    "read_book",
    "sanitize",
    "write_book",
]

# public name → the submodule that defines it
_HOMES = {
    "ConfigError": "errors",
    "Contact": "model",
    "ContactguardError": "errors",
    "Decision": "model",
    "Evidence": "evidence",
    "EvidenceError": "errors",
    "EvidenceRecord": "model",
    "InputError": "errors",
    "ParsedBook": "pipeline",
    "Policy": "policy",
    "Reason": "model",
    "Result": "pipeline",
    "Run": "pipeline",
    "Sanitizer": "pipeline",
    "SyncError": "errors",
    "load_evidence": "evidence",
    "read_book": "books",
    "sanitize": "pipeline",
    "write_book": "books",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'contactguard' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value  # later look-ups do not come here again
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
