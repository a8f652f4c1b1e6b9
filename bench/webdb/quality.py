"""Call quality rows for a generated chain, added to a copy of its file: a scorecard for some of the
administrators' contacts and a complaint for fewer, spread as the contacts are (over the days, clinics and
administrators), so the day report reads them as it would in a clinic that listens to its calls."""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from dialer.core.quality import CRITERIA

SCORED_SHARE = 0.05  # a supervisor listening to 5–10 calls per administrator a week scores a few per cent
COMPLAINT_SHARE = 0.01
CLASS_WEIGHTS = (("A", 0.1), ("B", 0.3), ("C", 0.6))


@dataclass(frozen=True)
class QualityRows:
    scores: int
    complaints: int


def _items(rng: random.Random) -> tuple[int, str]:
    points = {c.key: rng.randint(c.points // 2, c.points) for c in CRITERIA}
    items = {k: {"points": v, "comment": ""} for k, v in points.items()}
    return sum(points.values()), json.dumps(items)


def add_quality_rows(path: Path, seed: int = 13) -> QualityRows:
    """Scores and complaints for the contacts of the file at `path` (the tables must exist: migrated)."""
    rng = random.Random(seed)
    db = sqlite3.connect(path)
    try:
        contacts = db.execute(
            "SELECT contact_id, clinic_id, user_id, created_at FROM contacts WHERE user_id IS NOT NULL"
        ).fetchall()
        scores, complaints = [], []
        for contact_id, clinic_id, user_id, created_at in contacts:
            if rng.random() < SCORED_SHARE:
                total, items = _items(rng)
                scores.append((clinic_id, contact_id, user_id, None, total, items, "", created_at))
            if rng.random() < COMPLAINT_SHARE:
                klass = rng.choices([c for c, _ in CLASS_WEIGHTS], [w for _, w in CLASS_WEIGHTS])[0]
                complaints.append((clinic_id, contact_id, user_id, klass, "", created_at, created_at))
        db.executemany(
            "INSERT INTO call_scores (clinic_id, contact_id, user_id, scored_by, total, items, comment, scored_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            scores,
        )
        db.executemany(
            "INSERT INTO complaints (clinic_id, contact_id, user_id, complaint_class, comment, created_at,"
            " alerted_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            complaints,
        )
        db.commit()
    finally:
        db.close()
    return QualityRows(len(scores), len(complaints))
