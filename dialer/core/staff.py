"""The people who use the service, and the audit log of what they did."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from dialer.core.errors import Conflict

ALL_CLINICS = "*"


class Role(StrEnum):
    """What a user may do; stored by its value."""

    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.OPERATOR: "администратор",
    Role.SUPERVISOR: "старший администратор",
    Role.ADMIN: "администратор системы",
}


@dataclass(frozen=True)
class UserRow:
    user_id: int
    username: str
    display_name: str
    role: Role
    password_hash: str
    interfaces: tuple[str, ...]  # an operator's phones, as the queue knows them (e.g. PJSIP/101)
    clinics: frozenset[str]  # the clinics they work for; ALL_CLINICS ("*"): every clinic; empty: none
    disabled: bool
    has_api_token: bool = False
    last_login_at: datetime | None = None

    @property
    def all_clinics(self) -> bool:
        return ALL_CLINICS in self.clinics

    @property
    def clinic_of_record(self) -> str:
        """The clinic this person's actions are filed under: their one clinic, else every clinic ("*")."""
        return next(iter(self.clinics)) if len(self.clinics) == 1 else ALL_CLINICS

    def holds(self, clinic_id: str) -> bool:
        """May this user see and act on this clinic's patients?"""
        return self.all_clinics or (bool(clinic_id) and clinic_id in self.clinics)


class UserExists(Conflict):
    pass


class AuditAction(StrEnum):
    """What the audit log records. Other parts may record their own actions: the column is free text."""

    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    EXPORT = "export"
    IMPORT = "import"
    WRAPUP = "wrapup"
    CANCEL = "cancel"
    USER_ADD = "user_add"
    USER_DISABLE = "user_disable"
    USER_ENABLE = "user_enable"
    USER_PASSWD = "user_passwd"
    USER_TOKEN = "user_token"
    USER_REVOKE_TOKEN = "user_revoke_token"

    @property
    def label(self) -> str:
        return AUDIT_LABELS[self]


AUDIT_LABELS = {
    AuditAction.LOGIN: "вход",
    AuditAction.LOGIN_FAILED: "неудачный вход",
    AuditAction.LOGOUT: "выход",
    AuditAction.EXPORT: "выгрузка",
    AuditAction.IMPORT: "загрузка",
    AuditAction.WRAPUP: "итог звонка",
    AuditAction.CANCEL: "отмена визита",
    AuditAction.USER_ADD: "пользователь создан",
    AuditAction.USER_DISABLE: "пользователь отключён",
    AuditAction.USER_ENABLE: "пользователь включён",
    AuditAction.USER_PASSWD: "пароль сменён",
    AuditAction.USER_TOKEN: "выдан API-токен",
    AuditAction.USER_REVOKE_TOKEN: "API-токен отозван",
}


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log: who (a user name, or "cli:<system user>"), did what, in which clinic.

    `detail` holds ids, counts and masked numbers only; never a patient's name or phone number.
    """

    audit_id: int
    at: datetime
    actor: str
    action: str
    clinic_id: str
    detail: dict[str, Any]

    @property
    def label(self) -> str:
        try:
            return AuditAction(self.action).label
        except ValueError:
            return self.action
