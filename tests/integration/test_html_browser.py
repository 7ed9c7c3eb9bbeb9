"""The HTML pages in a real browser (headless Chromium): no console error, no request, every figure drawn.

`./dev test` installs Debian's chromium when it is missing and it can. The
screenshots are kept under each test's temp dir (desktop, phone, print).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from dyno.bench import suites
from dyno.bench.runner import run_bench
from dyno.engine.target import TargetSpec
from dyno.report.compare import build_comparison
from dyno.report.html import compare_html, report_html
from dyno.report.plots import CDF_POINTS
from dyno.settings import Settings
from dyno.store import Store
from dyno.workloads.shapes import parse_lengths
from tests.conftest import missing
from tests.fixtures.pacing import StartPacing

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_browser = pytest.mark.usefixtures("chromium")


@pytest.fixture
def chromium() -> str:
    if CHROMIUM is None:
        missing("no chromium here (./dev test installs it as root)")
    return CHROMIUM


# Flags the machine's closed network needs: without them Chromium tries Google's hosts at start.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Seen:
    console_errors: list[str]
    requests: list[str]
    figure_sizes: list[tuple[float, float]]
    table_rows: list[int]
    headings: list[str]


def open_page(path: Path, shots: Path) -> Seen:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(path.as_uri(), wait_until="load")
            sizes = [
                (b["width"], b["height"])
                for f in page.query_selector_all("figure svg")
                if (b := f.bounding_box())
            ]
            n_figs = len(page.query_selector_all("figure svg"))
            assert len(sizes) == n_figs  # every figure is laid out
            rows = page.eval_on_selector_all("table", "ts => ts.map(t => t.rows.length)")
            headings = page.eval_on_selector_all("h2", "hs => hs.map(h => h.textContent)")
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / f"{path.stem}-desktop.png"), full_page=True)
            page.set_viewport_size({"width": 390, "height": 844})  # a phone
            page.screenshot(path=str(shots / f"{path.stem}-phone.png"), full_page=True)
            phone_overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert phone_overflow <= 1, "the page scrolls sideways on a phone (tables must scroll inside)"
            page.emulate_media(media="print")
            page.screenshot(path=str(shots / f"{path.stem}-print.png"), full_page=True)
        finally:
            browser.close()
    return Seen(errors, requests, sizes, rows, headings)


def offline_urls(text: str, allowed: set[str]) -> list[str]:
    return [
        u for u in re.findall(r"https?://[^\s\"'<>)]+", text) if not any(u.startswith(a) for a in allowed)
    ]


def bench_runs(srv_urls: list[str]) -> tuple[Settings, list[int]]:
    s = Settings.from_env()
    ids = []
    with Store(s.db_path) as store:
        for url in srv_urls:
            scen = suites.select("standard", ["decode", "ttft", "prefill", "concurrency"], 2, (1, 2, 4))
            res = run_bench(s, store, scen, TargetSpec(url, hardware="gb10"), suite="standard")
            ids.append(res.run_id)
    return s, ids


@needs_browser
def test_a_bench_report_page_loads_offline_with_every_figure(
    pacing_server: StartPacing, dyno_home: Path, tmp_path: Path
) -> None:
    srv = pacing_server(ttft_s=0.01, itl_s=0.002, model="smollm2-135m-instruct")
    s, [rid] = bench_runs([srv.url])
    with Store(s.db_path) as store:
        html = report_html(store, rid)
        run = store.get_run(rid)
    assert run is not None and run.endpoint
    assert offline_urls(html, {run.endpoint}) == []
    page = tmp_path / "report.html"
    page.write_text(html)
    seen = open_page(page, tmp_path / "shots")
    assert seen.console_errors == []
    assert seen.requests == [page.as_uri()]  # the page itself, nothing else
    assert len(seen.figure_sizes) >= 4 and all(w > 50 and h > 50 for w, h in seen.figure_sizes)
    for name in ("Provenance", "Plots", "decode", "concurrency", "Raw data"):
        assert any(h.startswith(name) for h in seen.headings), name
    # decode: header + 2 lengths (128, 512); concurrency: header + levels 1, 2, 4
    assert 3 in seen.table_rows and 4 in seen.table_rows
    assert (tmp_path / "shots" / "report-phone.png").stat().st_size > 10_000


@needs_browser
def test_a_compare_page_loads_offline_with_its_matrix_and_bars(
    pacing_server: StartPacing, dyno_home: Path, tmp_path: Path
) -> None:
    a = pacing_server(ttft_s=0.01, itl_s=0.002, model="smollm2-135m-instruct")
    b = pacing_server(ttft_s=0.008, itl_s=0.0015, model="smollm2-135m-instruct")
    s, ids = bench_runs([a.url, b.url])
    with Store(s.db_path) as store:
        c = build_comparison(store, ids)
        html = compare_html(store, c)
    assert offline_urls(html, {a.url, b.url}) == []
    page = tmp_path / "compare.html"
    page.write_text(html)
    seen = open_page(page, tmp_path / "shots")
    assert seen.console_errors == [] and seen.requests == [page.as_uri()]
    assert seen.figure_sizes and all(w > 50 and h > 50 for w, h in seen.figure_sizes)
    assert len(c.columns) + 1 in seen.table_rows  # the matrix: a row per figure, plus its header
    assert len(ids) + 1 in seen.table_rows  # the configs


def test_the_page_grows_with_requests_only_by_its_csv(pacing_server: StartPacing, dyno_home: Path) -> None:
    # Plots and tables are drawn from aggregates: 4x the requests leaves everything but the CSV the same.
    # Not the SVG's byte size: matplotlib picks its ticks from the data's range, ~1 KB each, so two runs of
    # the same size already differ by 15% (seen under CI's load); what is drawn is counted instead.
    srv = pacing_server(ttft_s=0.002, itl_s=0.0005)
    s = Settings.from_env()
    pages = []
    with Store(s.db_path) as store:
        for n in (50, 200):
            w = suites.workload(suites.WorkloadKnobs(requests=n, output_tokens=parse_lengths("8")), (16,))
            rid = run_bench(s, store, [w], TargetSpec(srv.url), suite="workload").run_id
            html = report_html(store, rid)
            csv_part = re.search(r'href="data:text/csv;base64,[^"]*"', html)
            assert csv_part is not None
            svgs = re.findall(r"<svg.*?</svg>", html, re.S)
            assert svgs  # the ITL CDF at least
            vertices = [len(re.findall(r"[ML] ", d)) for d in re.findall(r' d="([^"]*)"', "".join(svgs))]
            text = re.sub(r"<svg.*?</svg>", "", html.replace(csv_part.group(0), ""), flags=re.S)
            pages.append((len(csv_part.group(0)), max(vertices), text.count("<tr>"), len(text)))
    (small_csv, small_vertices, small_rows, small_text), (big_csv, big_vertices, big_rows, big_text) = pages
    assert big_csv > 3 * small_csv  # the raw data is all there
    assert big_rows == small_rows  # one table row per figure, not per request
    assert max(small_vertices, big_vertices) <= CDF_POINTS  # 200 requests are 1,400 ITL gaps
    assert big_text < small_text * 1.15  # the rest of the page: only its numbers' digits differ


@needs_browser
def test_a_capacity_page_opens_with_its_sentence_and_draws_attainment_and_the_series(
    pacing_server: StartPacing, dyno_home: Path, tmp_path: Path
) -> None:
    from dyno.bench.slo import SLO
    from dyno.capacity.result import summarize_capacity
    from dyno.capacity.runner import CapacityOptions, run_capacity
    from dyno.report.html import capacity_html
    from dyno.workloads.shapes import Lengths

    srv = pacing_server(ttft_s=0.01, itl_s=0.004, slots=2)
    slo = SLO.parse(["ttft_ms<=35"])
    assert slo is not None
    opts = CapacityOptions(slo, max_concurrency=4, output_tokens=Lengths("fixed", 16), sample_period_s=0.25)
    s = Settings.from_env()
    with Store(s.db_path) as store:
        out = run_capacity(s, store, TargetSpec(srv.url), opts)
        rep = summarize_capacity(store, out.run_id)
        html = capacity_html(store, rep)
    assert offline_urls(html, {srv.url}) == []
    # The answer comes first: the sentence is the page's first paragraph after its subtitle.
    first = re.findall(r"<p>(.*?)</p>", html)[0]
    assert first.startswith("<strong>Capacity: 2 streams at once")
    assert 'data-plot="capacity-attainment"' in html and 'data-plot="capacity-series"' in html
    page = tmp_path / "capacity.html"
    page.write_text(html)
    seen = open_page(page, tmp_path / "shots")
    assert seen.console_errors == [] and seen.requests == [page.as_uri()]
    assert len(seen.figure_sizes) >= 2 and all(w > 50 and h > 50 for w, h in seen.figure_sizes)
    assert seen.headings == ["Probes", "Plots", "Raw data"]
    assert len(rep.probes) + 1 in seen.table_rows


def test_one_load_level_is_a_table_row_not_a_line_plot(pacing_server: StartPacing, dyno_home: Path) -> None:
    srv = pacing_server(ttft_s=0.01, itl_s=0.002)
    s = Settings.from_env()
    with Store(s.db_path) as store:
        one = run_bench(s, store, suites.select("quick", ["concurrency"], None, (4,)), TargetSpec(srv.url))
        two = run_bench(s, store, suites.select("quick", ["concurrency"], None, (1, 4)), TargetSpec(srv.url))
        html_one, html_two = report_html(store, one.run_id), report_html(store, two.run_id)
    assert 'data-plot="concurrency-throughput"' not in html_one
    assert 'data-plot="concurrency-throughput"' in html_two
