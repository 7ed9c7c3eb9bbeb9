"""GPU energy through NVML's documented calls, tested through a stand-in for the library (no GPU here)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from dyno.metrics.energy import Nvml, window


class FakeNvml(types.ModuleType):
    """NVML as nvidia-ml-py exposes it: nvmlInit, nvmlDeviceGetCount, nvmlDeviceGetHandleByIndex,
    nvmlDeviceGetTotalEnergyConsumption (mJ since the driver loaded), nvmlDeviceGetPowerUsage (mW)."""

    def __init__(self, gpus: int = 2, watts: float = 50.0) -> None:
        super().__init__("pynvml")
        self.energy_mj = [1_000_000 * (i + 1) for i in range(gpus)]
        self.mw = int(watts * 1000)
        self.shut = False

    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        self.shut = True

    def nvmlDeviceGetCount(self) -> int:
        return len(self.energy_mj)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetTotalEnergyConsumption(self, h: int) -> int:
        return self.energy_mj[h]

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        return self.mw


def test_a_window_is_the_counters_delta_over_every_gpu() -> None:
    lib = FakeNvml(gpus=2, watts=40.0)
    nv = Nvml.open(lib)
    assert nv is not None and nv.gpus == 2
    before = nv.energy_mj()
    lib.energy_mj = [e + 3_000 for e in lib.energy_mj]  # 3 J on each GPU
    w = window(before, nv.energy_mj(), 2.0)
    assert w.joules == pytest.approx(6.0) and w.gpus == 2
    assert w.per_token(300) == (pytest.approx(0.02), pytest.approx(50.0))
    assert nv.power_w() == pytest.approx(80.0)
    assert nv.idle_w(seconds=0.01, samples=2) == pytest.approx(80.0)
    nv.close()
    assert lib.shut


def test_a_counter_reset_drops_the_figure_instead_of_guessing() -> None:
    w = window([5_000, 9_000], [6_000, 100], 1.0)  # GPU 1's counter went back: a driver reload
    assert w.joules is None and w.per_token(100) is None


def test_no_nvml_is_not_measured_and_no_error() -> None:
    # This box has no NVIDIA driver: the real nvidia-ml-py raises NVMLError_LibraryNotFound in nvmlInit.
    assert Nvml.open() is None

    class NoCounter(FakeNvml):
        def nvmlDeviceGetTotalEnergyConsumption(self, h: int) -> int:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")  # a pre-Volta GPU

    assert Nvml.open(NoCounter()) is None
    assert Nvml.open(FakeNvml(gpus=0)) is None


def test_a_bench_run_stores_energy_per_scenario_and_reports_it_as_the_gpu_rail(
    monkeypatch: pytest.MonkeyPatch, dyno_home: Path
) -> None:
    from dyno.bench import suites
    from dyno.bench.runner import run_bench
    from dyno.bench.summary import summarize_run
    from dyno.engine.target import TargetSpec
    from dyno.report.render import to_markdown
    from dyno.settings import Settings
    from dyno.store import Store
    from tests.fixtures.pacing_server import PacingConfig, PacingServer

    class Burning(FakeNvml):
        def nvmlDeviceGetTotalEnergyConsumption(self, h: int) -> int:
            self.energy_mj[h] += 2_000  # 2 J more at every reading
            return self.energy_mj[h]

    monkeypatch.setitem(sys.modules, "pynvml", Burning(gpus=1, watts=30.0))
    s = Settings.from_env()
    with PacingServer(PacingConfig(ttft_s=0.01, itl_s=0.002)) as srv, Store(s.db_path) as store:
        res = run_bench(s, store, suites.select("quick", ["decode"]), TargetSpec(srv.url))
        rep = summarize_run(store, res.run_id)
        run = store.get_run(res.run_id)
    assert run is not None and run.method is not None
    assert run.method["energy"]["source"] == "nvml" and run.method["energy"]["idle_w"] == 30.0
    decode = rep.scenario("decode")
    assert decode is not None and decode.facts["energy"]["joules"] == pytest.approx(2.0)
    per = next(r for r in decode.rows if r.metric == "energy_j_per_tok")
    tokens = sum(r.output_tokens or 0 for r in decode.data.requests if r.ok and r.label != "warmup")
    assert per.mean == pytest.approx(2.0 / tokens)
    assert "GPU rail, not wall power" in to_markdown(rep).split("| engine")[0]
