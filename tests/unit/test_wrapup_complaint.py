"""The wrap-up form's complaint: optional; a class of A, B or C and what it was about, both or neither."""

from __future__ import annotations

from datetime import date

import pytest

from dialer.core.quality import ComplaintClass
from dialer.core.wrapup import FormErrors, MarkedComplaint, parse_wrapup

TODAY = date(2026, 12, 3)


def test_no_complaint_is_the_usual_case() -> None:
    assert parse_wrapup({"result": "no_result"}, TODAY).complaint is None
    assert parse_wrapup({"result": "no_result", "complaint_class": ""}, TODAY).complaint is None


@pytest.mark.parametrize("klass", ["A", "B", "C"])
def test_a_complaint_of_each_class_is_taken_with_its_comment(klass: str) -> None:
    raw = {"result": "no_result", "complaint_class": klass, "complaint_comment": "  долго ждал ответа "}
    form = parse_wrapup(raw, TODAY)
    assert form.complaint == MarkedComplaint(ComplaintClass(klass), "долго ждал ответа")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"complaint_class": "D", "complaint_comment": "x"}, "complaint_class"),
        ({"complaint_class": "a", "complaint_comment": "x"}, "complaint_class"),
        ({"complaint_class": "A"}, "complaint_comment"),
        ({"complaint_class": "A", "complaint_comment": "   "}, "complaint_comment"),
        ({"complaint_comment": "без класса"}, "complaint_class"),
        ({"complaint_class": "AB", "complaint_comment": "x"}, "complaint_class"),
    ],
)
def test_a_half_marked_complaint_is_refused_naming_its_field(raw: dict[str, str], field: str) -> None:
    with pytest.raises(FormErrors) as caught:
        parse_wrapup({"result": "no_result", **raw}, TODAY)
    assert [e.field for e in caught.value.errors] == [field]
