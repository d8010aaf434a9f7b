"""The web console in a real headless browser (Debian's chromium driven by Playwright): every page renders
from the admin API, and the retry button re-delivers a dead-lettered message. Screenshots are kept in the
test's tmp folder and their paths printed."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path

import pytest

from gateway.app import build_app
from tests.admin.support import Gateway
from tests.conftest import remove_topology
from tests.controls.cbec import CbecSet
from tests.helpers import ROOT, PartnerSpec, make_deployment, signed

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists() or shutil.which("chromium") is None,
        reason="Debian's chromium is not installed (apt-get install -y chromium)",
    ),
]


# What a page shows when a script printed a value it did not have: never acceptable on screen.
BAD_WORDS = re.compile(r"\b(null|undefined|NaN)\b|\[object Object\]")
PAGES = ["partners", "traffic", "charts", "messages", "failed", "watchlist", "audit"]


def copy_screenshots(saved: list[Path], folder: str | None) -> None:
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for path in saved:
            shutil.copy(path, Path(folder) / f"watchlist-{path.name}")


async def assert_clean(page, where: str) -> None:
    """No placeholder word anywhere in the visible text of the page (headers, tables, notes, buttons)."""
    text = await page.evaluate("document.body.innerText")
    found = sorted({m.group(0) for m in BAD_WORDS.finditer(text)})
    assert not found, f"{where}: the page shows {found}:\n{text}"


async def assert_chart(page, chart: str, partners: list[str]) -> str:
    """An inline SVG chart with a legend naming each partner; returns the legend's text."""
    await page.wait_for_selector(f"svg#{chart}")
    legend = await (await page.wait_for_selector(f"#{chart}-legend")).inner_text()
    for partner in partners:
        assert partner in legend, legend
    return legend


def same_origin(requests: list[str], base: str) -> None:
    """The console fetches nothing but its own files and the admin API (no CDN, no fonts, nothing outside)."""
    origin = base.split("/console/")[0]
    outside = [url for url in requests if not url.startswith(origin)]
    assert requests
    assert outside == []


async def visit_every_page(page, message_id: str, state: str) -> None:
    """Every page of the console, and one message's page, checked for placeholder words."""
    for name in PAGES:
        await page.click(f"nav a[data-page={name}]")
        await page.wait_for_selector(f"nav a.active[data-page={name}]")
        await page.wait_for_selector("#view h2")
        await page.wait_for_load_state("networkidle")
        await assert_clean(page, f"{state}: page {name}")
    await page.evaluate(f"location.hash = '#/message/{message_id}'")
    await page.wait_for_selector("#message-history")
    await assert_clean(page, f"{state}: message {message_id}")


@pytest.fixture
async def browser():
    playwright_api = pytest.importorskip(
        "playwright.async_api", reason="Playwright is not installed (pip install playwright)"
    )
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        await browser.close()


async def test_console_pages_and_retry_of_a_dead_lettered_message(
    tmp_path, inbox_factory, amqp, aiohttp_client, browser, capsys
):
    inbox = await inbox_factory()
    inbox.status = 503  # the receiver is down: the message is dead-lettered after its one attempt
    deployment = make_deployment(
        tmp_path,
        [PartnerSpec("nl-customs", url="http://127.0.0.1:9/never"), PartnerSpec("de-customs", url=inbox.url)],
        max_attempts=1,
    )
    client = await aiohttp_client(build_app(deployment.settings()))
    gateway = Gateway(deployment, client)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    saved: list[Path] = []
    try:
        status, _ = await gateway.send(deployment.partners["nl-customs"], "nl-customs", "de-customs")
        assert status == 202
        [failed] = (await gateway.admin("GET", "/messages?status="))[1]["messages"]
        await gateway.wait_status(failed["id"], "failed")
        assert (await gateway.admin("POST", "/partners/de-customs/suspend"))[0] == 200  # something in the audit log
        assert (await gateway.admin("POST", "/partners/de-customs/resume"))[0] == 200

        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(15000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))

        async def shot(name: str) -> None:
            path = shots / f"{name}.png"
            await page.screenshot(path=str(path), full_page=True)
            saved.append(path)

        base = str(client.make_url("/console/"))
        await page.goto(base)
        await page.wait_for_selector("#login-form")
        await shot("0-login")
        # A wrong token is refused and the login stays.
        await page.fill("#token", "not-the-token-at-all")
        await page.click("#login-form button")
        await page.wait_for_selector("#login-error:has-text('not accepted')")
        await page.fill("#token", gateway.runtime.token)
        await page.click("#login-form button")

        table = await page.wait_for_selector("#partners-table")
        text = await table.inner_text()
        assert "nl-customs" in text
        assert "de-customs" in text
        assert "days left" in text
        # The test certificates live 30 days: inside the default 30-day warning horizon, so the console warns.
        assert "certificate-expiring" in text
        warning = await page.wait_for_selector("#expiry-warning")
        assert "rotate-cert" in await warning.inner_text()
        await shot("1-partners")
        await visit_every_page(page, failed["id"], "expiring certificates, a failed message")

        await page.click("nav a[data-page=traffic]")
        ingress = await page.wait_for_selector("#traffic-ingress")
        assert "nl-customs" in await ingress.inner_text()
        await page.wait_for_selector("#traffic-queues")
        senders = await page.wait_for_selector("#traffic-senders")  # accepted, rate-limited, shed, in flight
        assert "nl-customs" in await senders.inner_text()
        await shot("2-traffic")

        # Charts of the last hour: one message from nl-customs, none delivered yet (it failed).
        await page.click("nav a[data-page=charts]")
        assert "1 received" in await assert_chart(page, "chart-received", ["nl-customs"])
        assert await page.query_selector("svg#chart-received polyline[data-series=nl-customs]") is not None
        await page.wait_for_selector("#chart-latency-none")
        await shot("2b-charts-before-delivery")

        await page.click("nav a[data-page=messages]")
        await page.wait_for_selector("#search")
        await page.select_option("#search select[name=status]", "failed")
        await page.fill("#search input[name=partner]", "nl-customs")
        await page.click("#search button")
        await page.wait_for_selector(f"#messages-table a:has-text('{failed['id']}')")
        await page.click(f"#messages-table a:has-text('{failed['id']}')")
        history = await page.wait_for_selector("#message-history")
        assert "failed" in await history.inner_text()
        assert "503" in await history.inner_text()
        await shot("3-message-history")

        await page.click("nav a[data-page=failed]")
        await page.wait_for_selector(f"button.retry[data-message='{failed['id']}']")
        await shot("4-dead-lettered")
        inbox.status = 200  # the receiver is back
        await page.click(f"button.retry[data-message='{failed['id']}']")
        await page.wait_for_selector("#retry-result:has-text('requeued for de-customs')")
        await inbox.wait_for(1)
        record = await gateway.wait_status(failed["id"], "delivered")
        assert [e["status"] for e in record["history"]][-2:] == ["delivering", "delivered"]
        assert any(e["actor"] == "admin-api" for e in record["history"])
        await page.reload()
        await page.wait_for_selector("#no-failed")
        await shot("5-after-retry")

        # Delivered by the retry: the charts now show the delivery and its latency.
        await page.click("nav a[data-page=charts]")
        assert "1 delivered" in await assert_chart(page, "chart-delivered", ["de-customs"])
        assert "slowest" in await assert_chart(page, "chart-latency", ["de-customs"])
        await assert_clean(page, "charts after the retry")
        await shot("5b-charts-after-delivery")

        # The retry took the message out of the dead-letter queue: the Traffic page agrees with Dead-lettered.
        await page.click("nav a[data-page=traffic]")
        queues = await (await page.wait_for_selector("#traffic-queues")).inner_text()
        rows = [line.split("\t") for line in queues.splitlines()]
        assert [r[2].strip() for r in rows if r[:2] == ["de-customs", "dead"]] == ["0"], queues
        await shot("5c-traffic-after-retry")

        await page.click("nav a[data-page=audit]")
        audit = await page.wait_for_selector("#audit-table")
        text = await audit.inner_text()
        assert "suspend" in text
        assert "resume" in text
        assert "admin-api" in text
        await shot("6-configuration-log")

        # Suspending from the console: the button works and the page shows the new status.
        await page.click("nav a[data-page=partners]")
        await page.click("button.suspend-toggle[data-partner=nl-customs]")
        await page.wait_for_selector("#partners-note:has-text('nl-customs suspended')")
        assert gateway.runtime.registry["nl-customs"].spec.suspended
        await shot("7-partner-suspended")
        assert errors == []
        same_origin(requests, base)
    finally:
        with capsys.disabled():
            print("\nconsole screenshots:")
            for path in saved:
                print(f"  {path}")
        await client.close()
        await remove_topology(amqp, deployment, ["nl-customs", "de-customs"])
        await asyncio.sleep(0)


async def test_console_shows_no_placeholder_words_without_warnings_or_failures(
    tmp_path, inbox_factory, amqp, aiohttp_client, browser
):
    """The other state: no certificate near expiry (no warning above the partners) and a delivered message (no
    retry button on its page). Absent parts must be absent, not shown as ``null``."""
    inbox = await inbox_factory()
    deployment = make_deployment(
        tmp_path,
        [PartnerSpec("nl-customs", url="http://127.0.0.1:9/never"), PartnerSpec("de-customs", url=inbox.url)],
        extra_toml="[admin]\ntoken_file = 'state/admin.token'\ncertificate_warning_days = 0\n",
    )
    text = deployment.config_path.read_text().replace('[admin]\ntoken_file = "state/admin.token"\n', "")
    deployment.config_path.write_text(text)
    client = await aiohttp_client(build_app(deployment.settings()))
    gateway = Gateway(deployment, client)
    try:
        status, _ = await gateway.send(deployment.partners["nl-customs"], "nl-customs", "de-customs")
        assert status == 202
        [message] = (await gateway.admin("GET", "/messages"))[1]["messages"]
        await gateway.wait_status(message["id"], "delivered")

        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(15000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        base = str(client.make_url("/console/"))
        await page.goto(base)
        await page.fill("#token", gateway.runtime.token)
        await page.click("#login-form button")
        table = await page.wait_for_selector("#partners-table")
        assert "certificate-expiring" not in await table.inner_text()
        assert await page.query_selector("#expiry-warning") is None
        await visit_every_page(page, message["id"], "no warnings, a delivered message")
        assert await page.query_selector("button.retry") is None
        await page.click("nav a[data-page=charts]")
        await assert_chart(page, "chart-received", ["nl-customs"])
        await assert_chart(page, "chart-delivered", ["de-customs"])
        await assert_chart(page, "chart-latency", ["de-customs"])
        await assert_clean(page, "charts, a delivered message")
        assert errors == []
        same_origin(requests, base)
    finally:
        await client.close()
        await remove_topology(amqp, deployment, ["nl-customs", "de-customs"])


async def test_watch_list_page_holds_a_hit_and_releases_it_from_the_console(
    tmp_path, inbox_factory, amqp, aiohttp_client, browser, capsys
):
    """An inventory whose goods are on a regulator's list is held; the officer releases it from the Watch list
    page: it is delivered, the decision is in its history under the officer's name, the shares are shown.
    Screenshots also go to $CONSOLE_SCREENSHOTS when set."""
    nsw, clearance = await inbox_factory(), await inbox_factory()
    watch = tmp_path / "watchlist"
    watch.mkdir()
    shutil.copy(ROOT / "watchlist" / "samr-recalls.csv", watch)
    deployment = make_deployment(
        tmp_path,
        [
            PartnerSpec("cn-nsw", url=nsw.url, role="single-window", country="CN", sends=["inventory"],
                        receives=["receipt"]),
            PartnerSpec("cn-clearance", url=clearance.url, country="CN", sends=[], receives=["inventory"]),
        ],
        extra_toml=f'[controls]\nwatchlist_dir = "{watch}"\nsweep_interval = 3600\n',
        rules='[[routing.rules]]\ntypes = ["inventory"]\nreceivers = ["cn-clearance"]\n',
    )  # fmt: skip
    client = await aiohttp_client(build_app(deployment.settings()))
    gateway = Gateway(deployment, client)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    saved: list[Path] = []
    try:
        spec = [(".//w:GoodsItem/w:Specification", "品牌:Brikko;型号:BK 7701")]
        held = CbecSet(platform="P-RISKY", tweaks={"inventory": spec}).envelope("inventory")
        clean = CbecSet(platform="P-CLEAN").envelope("inventory")
        answers = []
        for envelope in (held, clean):
            response = await client.post(
                "/v1/partners/cn-nsw/messages", data=signed(deployment.partners["cn-nsw"], envelope)
            )
            answers.append((response.headers["X-Gateway-Outcome"], response.headers["X-Gateway-Message-Id"]))
        assert [a[0] for a in answers] == ["held", "accepted"]
        held_id = answers[0][1]

        page = await browser.new_page(viewport={"width": 1500, "height": 1000})
        page.set_default_timeout(15000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        async def shot(name: str) -> None:
            path = shots / f"{name}.png"
            await page.screenshot(path=str(path), full_page=True)
            saved.append(path)

        await page.goto(str(client.make_url("/console/")))
        await page.fill("#token", gateway.runtime.token)
        await page.click("#login-form button")
        await page.wait_for_selector("#partners-table")
        await page.click("nav a[data-page=watchlist]")
        row = await page.wait_for_selector(f"#watch-held tr:has-text('{held_id}')")
        text = await row.inner_text()
        assert "SAMR-2026-0412" in text
        assert "P-RISKY" in text
        platforms = await (await page.wait_for_selector("#watch-platforms")).inner_text()
        assert "P-RISKY\t1\t1\t0\t0\t100.0 %" in platforms  # 1 of 1 consignment held
        assert "P-CLEAN" in platforms
        # Over time: the share held per platform and day (today: P-RISKY 100 %, P-CLEAN 0 %).
        legend = await assert_chart(page, "chart-watch-held", ["P-RISKY", "P-CLEAN"])
        assert "(100.0 % of 1)" in legend
        await assert_chart(page, "chart-watch-refused", ["P-RISKY"])
        await assert_clean(page, "watch list, one held")
        await shot("1-watchlist-held")

        await page.fill("#officer", "li.wei")
        await page.fill(f"input.note[data-message='{held_id}']", "lab report: compliant batch")
        await page.click(f"button.release[data-message='{held_id}']")
        await page.wait_for_selector(f"#decision-result:has-text('{held_id}: released by console:li.wei')")
        await page.wait_for_selector("#watch-none-held")
        recent = await (await page.wait_for_selector("#watch-recent")).inner_text()
        for shown in ("released", "console:li.wei", "lab report: compliant batch"):
            assert shown in recent
        await shot("2-watchlist-released")

        record = await gateway.wait_status(held_id, "delivered")
        await clearance.wait_for(2)
        decided = [e for e in record["history"] if e["status"] == "accepted"]
        assert decided[0]["actor"] == "console:li.wei"
        await page.evaluate(f"location.hash = '#/message/{held_id}'")
        history = await (await page.wait_for_selector("#message-history")).inner_text()
        assert "held" in history
        assert "console:li.wei" in history
        await shot("3-message-history")
        assert errors == []
    finally:
        with capsys.disabled():
            print("\nwatch-list console screenshots:")
            for path in saved:
                print(f"  {path}")
        copy_screenshots(saved, os.environ.get("CONSOLE_SCREENSHOTS"))
        await client.close()
        await remove_topology(amqp, deployment, ["cn-nsw", "cn-clearance"])


async def test_console_shows_an_inspection_result_with_thumbnails_and_full_size_on_click(
    tmp_path, amqp, aiohttp_client, browser, capsys
):
    """An inspection result with an X-ray scan (TIFF, 16-bit, which browsers cannot show: previewed by the
    gateway) and a photograph (PNG): thumbnails on the message page, the image full size on click."""
    import io
    import uuid

    from PIL import Image, ImageDraw

    from tests.helpers import EXAMPLES, signed
    from tests.images.support import content_type, image_part, inspection_envelope, multipart_body, real_image

    scan = Image.new("I;16", (1200, 800), 9000)
    draw = ImageDraw.Draw(scan)
    draw.ellipse((350, 120, 850, 700), fill=30000)
    for x, y in ((520, 300), (640, 420), (560, 520)):
        draw.ellipse((x - 40, y - 40, x + 40, y + 40), fill=62000)
    tiff = io.BytesIO()
    scan.save(tiff, format="TIFF")
    photo = (EXAMPLES / "images" / "SH2200-PH-20261126-0042.png").read_bytes()
    images = [real_image("xray-1", "image/tiff", tiff.getvalue()), real_image("photo-1", "image/png", photo, "photo")]
    types = ["inspection-result", "receipt"]
    deployment = make_deployment(
        tmp_path,
        [
            PartnerSpec("cn-nsw", url="http://127.0.0.1:9/never", sends=types, receives=["receipt"]),
            PartnerSpec("nl-customs", url="http://127.0.0.1:9/down", sends=types, receives=types),
        ],
        extra_toml='[images]\ndir = "state/images"\n',
    )
    client = await aiohttp_client(build_app(deployment.settings()))
    gateway = Gateway(deployment, client)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    saved: list[Path] = []
    try:
        boundary = f"b-{uuid.uuid4().hex}"
        message = signed(deployment.partners["cn-nsw"], inspection_envelope("cn-nsw", "nl-customs", images))
        response = await client.post(
            "/v1/partners/cn-nsw/messages",
            data=multipart_body(message, [image_part(i) for i in images], boundary),
            headers={"Content-Type": content_type(boundary)},
        )
        assert response.status == 202, await response.text()
        message_id = response.headers["X-Gateway-Message-Id"]

        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(15000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        base = str(client.make_url("/console/"))
        await page.goto(base)
        await page.fill("#token", gateway.runtime.token)
        await page.click("#login-form button")
        await page.wait_for_selector("#partners-table")
        await page.evaluate(f"location.hash = '#/message/{message_id}'")
        summary = await (await page.wait_for_selector("#inspection-summary")).inner_text()
        assert "seized" in summary
        assert "xray-scan" in summary
        findings = await (await page.wait_for_selector("#inspection-findings")).inner_text()
        assert "CONCEALED-DRUGS" in findings
        for image_id in ("xray-1", "photo-1"):
            thumb = await page.wait_for_selector(f"figure.thumb[data-image={image_id}] img")
            width = await thumb.evaluate("img => img.naturalWidth")
            assert 0 < width <= 240  # a thumbnail, decoded by the browser
        await assert_clean(page, "inspection result")
        path = shots / "inspection-result.png"
        await page.screenshot(path=str(path), full_page=True)
        saved.append(path)

        await page.click("figure.thumb[data-image=photo-1] img")
        full = await page.wait_for_selector("#image-full-img")
        assert await full.evaluate("img => img.naturalWidth") == 320  # the original PNG, full size
        await page.click("#image-full")
        await page.click("figure.thumb[data-image=xray-1] img")
        await page.wait_for_selector("#image-full-img[alt='xray-1 full size']")
        full = await page.query_selector("#image-full-img")
        assert full is not None
        assert await full.evaluate("img => img.naturalWidth") == 1200  # TIFF: a full-size PNG rendering
        path = shots / "inspection-result-full-size.png"
        await page.screenshot(path=str(path), full_page=False)
        saved.append(path)
        assert errors == []
    finally:
        with capsys.disabled():
            print("\ninspection console screenshots:")
            for path in saved:
                print(f"  {path}")
        await client.close()
        await remove_topology(amqp, deployment, ["cn-nsw", "nl-customs"])
