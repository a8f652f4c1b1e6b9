"""The pacing check the KOS tests run over Asterisk's events must catch a patient dialled with nobody free for
them, and must not blame the dialler for the instant between the dialplan saying "connected" and the queue's
AgentConnect."""

from __future__ import annotations

from tests.kos_scenario import replay_pacing

QUEUE = "test-reception"
ANNA, OLGA = "Local/admin1@sandbox-agents", "Local/admin2@sandbox-agents"
PHONES = ("+79160000001", "+79160000002")


def member(interface: str, status: int) -> dict[str, str]:
    return {"Event": "QueueMemberStatus", "Queue": QUEUE, "Interface": interface, "Status": str(status)}


def dialled(n: int) -> dict[str, str]:
    return {
        "Event": "Newchannel",
        "Channel": f"Local/7916000000{n}@patients-0000000{n};1",
        "Uniqueid": f"kos:{n}:1",
    }


def connected(n: int, interface: str) -> dict[str, str]:
    return {"Event": "UserEvent", "DialStatus": "CONNECTED", "AttemptId": f"kos:{n}:1", "Member": interface}


def agent_connect(n: int, interface: str) -> dict[str, str]:
    channel = f"Local/7916000000{n}@patients-0000000{n};1"
    return {"Event": "AgentConnect", "Queue": QUEUE, "Channel": channel, "Interface": interface}


def replay(*events: dict[str, str]) -> list[str]:
    return replay_pacing([(float(i), e) for i, e in enumerate(events)], QUEUE, 1.0, PHONES).violations


def test_a_second_patient_dialled_while_the_only_free_administrator_is_still_awaited_is_a_violation() -> None:
    violations = replay(member(ANNA, 1), member(OLGA, 2), dialled(1), dialled(2))
    assert violations == ["Local/79160000002@patients-00000002;1: 2 waiting, 1 administrators"]


def test_a_patient_connected_by_the_dialplan_no_longer_waits_even_before_agent_connect() -> None:
    # Anna takes patient 1 (the dialplan says so first); Olga is free for patient 2.
    events = (member(ANNA, 1), member(OLGA, 1), dialled(1), member(ANNA, 2), connected(1, ANNA), dialled(2))
    assert replay(*events, agent_connect(1, ANNA)) == []
    # Without the dialplan's word, the same moment looks like two patients for one administrator.
    assert replay(*events[:4], dialled(2), agent_connect(1, ANNA)) != []
