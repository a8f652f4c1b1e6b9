"""Logging in against the real app on a real SQLite file: attempts are counted as they arrive, before the
password is checked; strangers cannot lock anybody out for long; an unknown name costs what a known one
costs; only a same-site path survives as the page to go to after logging in."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

from dialer.core.throttle import BY_ADDRESS, BY_NAME
from tests.logins import PASSWORD, running_site


async def test_twenty_wrong_passwords_sent_at_once_are_counted_before_the_hash(
    tmp_path: Path, database_url: str
) -> None:
    async with running_site(tmp_path, database_url=database_url) as site:
        await site.add_user("anna")
        async with site.browser("127.0.0.2") as stranger:
            token = await stranger.form_token()
            attempts = await asyncio.gather(
                *(stranger.login("anna", f"неверный-пароль-{i}", token=token) for i in range(20))
            )
            statuses = sorted(a.status for a in attempts)
            # All twenty arrive before the first hash is done: only the free ones were checked at all.
            assert statuses == [401] * BY_NAME.free + [429] * (20 - BY_NAME.free), statuses
            throttled = [a for a in attempts if a.status == 429]
            assert all(a.retry_after and 0 < a.retry_after <= BY_NAME.cap for a in throttled)
            assert "Слишком много неудачных попыток" in throttled[0].text
            # The right password waits its turn too: the name is slowed down, not locked.
            assert (await stranger.login("anna", PASSWORD)).status == 429
            site.clock.advance(BY_NAME.first)
            assert (await stranger.login("anna", PASSWORD)).status == 303


async def test_a_made_up_name_behind_a_shared_address_locks_nobody_out(
    tmp_path: Path, database_url: str
) -> None:
    async with running_site(tmp_path, database_url=database_url) as site:
        await site.add_user("boris")
        await site.add_user("vera")
        async with site.browser("127.0.0.5") as ghost, site.browser("127.0.0.5") as colleague:
            # Someone at the clinic (one NAT address) keeps trying a name that does not exist.
            for _ in range(BY_ADDRESS.free - 1):
                assert (await ghost.login("nobody", "что-то не то")).status in (401, 429)
                site.clock.advance(BY_NAME.cap)
            assert (await colleague.login("boris")).status == 303  # at once, from the same address
        async with site.browser("127.0.0.5") as ghost, site.browser("127.0.0.5") as veras_own:
            assert (await veras_own.login("vera")).status == 303  # her browser is known from now on
            await veras_own.logout()
            for _ in range(3 * BY_ADDRESS.free):  # the stranger goes on and on: now the address is slowed
                await ghost.login(f"nobody-{_}", "что-то не то")
                site.clock.advance(1)
            assert (await veras_own.login("vera")).status == 303  # her own browser is not held up at all
        async with site.browser("127.0.0.5") as new_browser:
            first = await new_browser.login("boris")
            assert first.status == 429 and first.retry_after is not None
            assert first.retry_after <= BY_ADDRESS.cap  # a new browser waits a minute at most
            site.clock.advance(first.retry_after)
            assert (await new_browser.login("boris")).status == 303


async def test_a_strangers_failures_for_a_known_name_do_not_stop_that_user_for_long(
    tmp_path: Path, database_url: str
) -> None:
    async with (
        running_site(tmp_path, database_url=database_url) as site,
        site.browser("127.0.0.7") as annas_own,
        site.browser("127.0.0.2") as stranger,
        site.browser("127.0.0.3") as new_place,
    ):
        await site.add_user("anna")
        assert (await annas_own.login("anna")).status == 303
        assert await annas_own.logout() == 303
        failures = 0
        while failures < 20:  # a patient guesser: each attempt as soon as the limit allows
            attempt = await stranger.login("anna", "угадать-бы")
            if attempt.status == 429:
                assert attempt.retry_after is not None
                site.clock.advance(attempt.retry_after)
            else:
                failures += 1
        assert (await stranger.login("anna", "угадать-бы")).status == 429  # the stranger is slowed down
        assert (await annas_own.login("anna")).status == 303  # Anna's own browser: at once
        attempt = await new_place.login("anna")
        assert attempt.status == 429 and attempt.retry_after is not None
        assert attempt.retry_after <= BY_NAME.cap  # from a new place: a minute at most, not a lockout
        site.clock.advance(attempt.retry_after)
        assert (await new_place.login("anna")).status == 303


async def test_an_unknown_name_takes_as_long_as_a_known_one(tmp_path: Path, database_url: str) -> None:
    samples = 7
    async with running_site(tmp_path, database_url=database_url) as site:
        for i in range(samples):
            await site.add_user(f"known{i}")
        known: list[float] = []
        unknown: list[float] = []
        addresses = (f"127.0.1.{n}" for n in range(1, 255))  # one each: only the names' cost is measured
        for i in range(samples + 1):
            for name, into in ((f"known{i % samples}", known), (f"stranger{i}", unknown)):
                async with site.browser(next(addresses)) as browser:
                    token = await browser.form_token()
                    started = time.perf_counter()
                    attempt = await browser.login(name, "неверный-пароль", token=token)
                    elapsed = time.perf_counter() - started
                assert attempt.status == 401
                if i:  # the first round warms up
                    into.append(elapsed)
        ratio = statistics.median(known) / statistics.median(unknown)
        assert 0.6 < ratio < 1.6, (known, unknown)


SAFE = ["/supervisor/report?clinic=c1&date=2026-11-26", "/operator", "/", "/supervisor#alerts"]
UNSAFE = [
    "/\t/evil.example",
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "/\r\n/evil.example",
    "/\x00/evil.example",
    " /operator",
    "/отчёт",
    "evil.example",
    "/a\\b",
]


async def test_only_a_same_site_path_is_followed_after_logging_in(tmp_path: Path, database_url: str) -> None:
    async with running_site(tmp_path, database_url=database_url) as site:
        await site.add_user("boss", "supervisor")
        wrong = []
        for next_url in SAFE + UNSAFE:
            async with site.browser() as browser:
                _, _, page = await browser.get("/login", params={"next": next_url})
                carried = page.split('name="next" value="')[1].split('"')[0]
                attempt = await browser.login("boss", next_url=next_url)
            expected = next_url if next_url in SAFE else "/supervisor"
            if attempt.status != 303 or attempt.location != expected or (next_url in UNSAFE and carried):
                wrong.append((next_url, attempt.status, attempt.location, carried))
        assert wrong == []


async def test_a_page_asked_for_before_logging_in_is_carried_through_the_form(
    tmp_path: Path, database_url: str
) -> None:
    async with running_site(tmp_path, database_url=database_url) as site, site.browser() as browser:
        await site.add_user("boss", "supervisor")
        status, location, _ = await browser.get("/supervisor/missed?clinic=c1&next=//evil.example")
        assert status == 303
        _, _, page = await browser.get(location)
        carried = page.split('name="next" value="')[1].split('"')[0]
        assert (
            carried == "/supervisor/missed?clinic=c1&amp;next=//evil.example"
        )  # the whole path, as one value
        attempt = await browser.login("boss", next_url="/supervisor/missed?clinic=c1&next=//evil.example")
        assert (
            attempt.location == "/supervisor/missed?clinic=c1&next=//evil.example"
        )  # a path on this site, harmless
