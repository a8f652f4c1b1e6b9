"""A clinic's scorecard and recording switches, as `[clinics.quality]` sets them."""

from __future__ import annotations

import tomllib

import pytest

from dialer.core.errors import ConfigError
from dialer.core.quality import CRITERIA, QA_GOAL, SCORECARD_TOTAL
from dialer.settings.model import QualitySettings
from dialer.settings.parse import parse_settings


def clinic_quality(extra: str = "") -> QualitySettings:
    raw = tomllib.loads(f'[[clinics]]\nid = "c1"\ntimezone = "Asia/Omsk"\n{extra}')
    return parse_settings(raw).clinic("c1").quality


def test_the_checklists_scorecard_is_the_default() -> None:
    quality = clinic_quality()
    assert [c.points for c in CRITERIA] == [10, 15, 15, 10, 15, 15, 10, 10]
    assert sum(c.points for c in CRITERIA) == SCORECARD_TOTAL
    assert quality.scorecard == CRITERIA
    assert quality.qa_goal == QA_GOAL == 85
    assert quality.record and quality.announce and not quality.operators_hear_own


def test_a_clinic_weighs_the_criteria_its_own_way_adding_up_to_100() -> None:
    quality = clinic_quality(
        "[clinics.quality]\nannounce = false\nqa_goal = 80\n"
        "[clinics.quality.weights]\ngreeting = 5\nslots = 20\n"
    )
    points = {c.key: c.points for c in quality.scorecard}
    assert points["greeting"] == 5 and points["slots"] == 20 and points["need"] == 15
    assert not quality.announce and quality.qa_goal == 80


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("[clinics.quality.weights]\ngreeting = 20\n", "сумма баллов должна быть 100, а не 110"),
        ("[clinics.quality.weights]\nsmile = 5\n", "smile"),
        ("[clinics.quality.weights]\ngreeting = -1\n", "clinics[0].quality.weights.greeting"),
        ("[clinics.quality]\nqa_goal = 101\n", "clinics[0].quality.qa_goal"),
        ("[clinics.quality]\nrecord = 'yes'\n", "clinics[0].quality.record"),
    ],
)
def test_a_wrong_quality_setting_is_refused_naming_it(extra: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace("]", r"\]")):
        clinic_quality(extra)
