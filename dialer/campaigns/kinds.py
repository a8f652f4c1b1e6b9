"""The campaign kinds: the one list of their names, which are also the middle of every attempt id."""

from __future__ import annotations

from enum import StrEnum


class CampaignKind(StrEnum):
    REMINDERS = "reminders"  # the day-before IVR call of an appointment
    CALLBACK = "callback"  # a missed caller called back: an administrator's phone rings first
    AUTO_CALLBACK = "autocb"  # a missed caller called back with the patient dialled first
    KOS = "kos"  # КОС: the senior administrator's recall list of patients due a check-up
    DIARY = "diary"  # the administrators' diary (ежедневник) of promised calls
    OFFER = "offer"  # a freed slot offered to the waiting list
    FOLLOWUP = "followup"  # the post-visit "all well?" IVR call
    SURVEY = "survey"  # the post-visit 1-5 rating IVR call


# Calls an administrator takes: paced to the clinic's free administrators (dialer/engine/progressive.py).
ADMINISTRATOR_TAKES = (CampaignKind.KOS, CampaignKind.DIARY, CampaignKind.OFFER)
# Post-visit IVR calls: the patient answers with a key.
POST_VISIT = (CampaignKind.FOLLOWUP, CampaignKind.SURVEY)

# What an administrator's desk phone shows beside the patient's number when one of the dialer's calls reaches it
# through a queue, in place of the clinic's own number the patient was called from.
SHOWN_ON_PHONE: dict[str, str] = {
    CampaignKind.REMINDERS: "Напоминание",
    CampaignKind.AUTO_CALLBACK: "Перезвон",
    CampaignKind.KOS: "КОС",
    CampaignKind.DIARY: "Ежедневник",
    CampaignKind.OFFER: "Лист ожидания",
}

# Every kind: an attempt id whose campaign is none of these is not one of the service's calls.
EVERY_KIND = frozenset(CampaignKind)
