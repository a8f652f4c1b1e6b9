"""Every action the audit log records reads as Russian words on the log's page and in `dialer audit`."""

from __future__ import annotations

import re

import pytest

from dialer.core.staff import AUDIT_LABELS, AuditAction
from dialer.web.audit import WEB_LABELS, PageAction

# Words, not an action's name: Cyrillic, and no underscore of a raw name.
_RUSSIAN = re.compile(r"^(?=.*[а-яё])[^_]+$", re.IGNORECASE)


@pytest.mark.parametrize("action", list(AuditAction))
def test_every_audit_action_has_a_russian_label(action: AuditAction) -> None:
    assert action in AUDIT_LABELS, f"{action.value} has no label"
    assert _RUSSIAN.match(action.label), action.label


@pytest.mark.parametrize("action", list(PageAction))
def test_every_page_action_has_a_russian_label(action: PageAction) -> None:
    assert action in WEB_LABELS, f"{action.value} has no label"
    assert _RUSSIAN.match(WEB_LABELS[action]), WEB_LABELS[action]


def test_the_no_show_reason_is_shown_in_words() -> None:
    assert WEB_LABELS["noshow_reason"] == "причина неявки"
