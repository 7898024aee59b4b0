"""The noxfile's choice of torch build: CPU-only from PyTorch's CPU index where it answers, else
the default index with a notice; the default (CUDA) build where a GPU is present or asked for.
The probe and the GPU check are injected; one real probe must give up within seconds. The
package session's wheel check names each thing a wheel lacks (the compiled kernels built against
the 3.11 stable ABI, tagged cp311-abi3)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def noxfile() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_signalinject_noxfile", ROOT / "noxfile.py")
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def choose(noxfile: ModuleType, env: dict[str, str], gpu: bool, up: bool) -> tuple[list[str], str]:
    probed: list[str] = []

    def probe(url: str) -> bool:
        probed.append(url)
        return up

    args, notice = noxfile.torch_install(env=env, gpu=lambda: gpu, probe=probe)
    assert probed in ([], [noxfile.CPU_INDEX])
    return args, notice


class TestChoice:
    def test_cpu_machine_index_reachable(self, noxfile: ModuleType) -> None:
        args, notice = choose(noxfile, {}, gpu=False, up=True)
        assert args == ["torch==2.13.0", "--index-url", "https://download.pytorch.org/whl/cpu"]
        assert notice == (
            "torch==2.13.0: the CPU-only build from https://download.pytorch.org/whl/cpu"
        )

    def test_cpu_machine_index_unreachable(self, noxfile: ModuleType) -> None:
        args, notice = choose(noxfile, {}, gpu=False, up=False)
        assert args == ["torch==2.13.0"]
        assert notice.startswith(
            "torch==2.13.0: https://download.pytorch.org/whl/cpu is not reachable; installing "
            "from the default index"
        )
        assert "\n" not in notice

    @pytest.mark.parametrize("up", [True, False])
    def test_gpu_present(self, noxfile: ModuleType, up: bool) -> None:
        args, notice = choose(noxfile, {}, gpu=True, up=up)
        assert args == ["torch==2.13.0"]
        assert notice == "torch==2.13.0: the default (CUDA) build, a GPU is present"

    @pytest.mark.parametrize("gpu", [True, False])
    def test_forced(self, noxfile: ModuleType, gpu: bool) -> None:
        args, notice = choose(noxfile, {"SIGNALINJECT_TORCH": "cuda"}, gpu=gpu, up=True)
        assert args == ["torch==2.13.0"]
        assert notice.endswith("the default (CUDA) build, SIGNALINJECT_TORCH=cuda")
        args, _ = choose(noxfile, {"SIGNALINJECT_TORCH": " CPU "}, gpu=gpu, up=True)
        assert args[1:] == ["--index-url", noxfile.CPU_INDEX]  # a GPU machine can ask for CPU
        args, _ = choose(noxfile, {"SIGNALINJECT_TORCH": "cpu"}, gpu=gpu, up=False)
        assert args == ["torch==2.13.0"]

    def test_bad_choice(self, noxfile: ModuleType) -> None:
        with pytest.raises(
            ValueError, match="SIGNALINJECT_TORCH must be 'cpu' or 'cuda', got 'rocm'"
        ):
            choose(noxfile, {"SIGNALINJECT_TORCH": "rocm"}, gpu=False, up=True)

    def test_companions_come_from_the_same_index(self, noxfile: ModuleType) -> None:
        args, _ = noxfile.torch_install(
            noxfile.TORCHVISION, env={}, gpu=lambda: False, probe=lambda url: True
        )
        assert args == [*noxfile.TORCHVISION, "--index-url", noxfile.CPU_INDEX]

    def test_every_torch_install_goes_through_the_helper(self) -> None:
        text = (ROOT / "noxfile.py").read_text(encoding="utf-8")
        assert "session.install(TORCH" not in text
        assert "session.install(*TORCHVISION" not in text


class TestBuildNotice:
    """After the install, the session says which build came (the plan before it may be wrong:
    an index may hold either build), never "several GB" for the CPU one."""

    def test_the_cpu_build(self, noxfile: ModuleType) -> None:
        notice = noxfile.build_notice("2.13.0+cpu cpu\n")
        assert notice == "installed: torch 2.13.0+cpu, the CPU-only build"
        assert "GB" not in notice

    def test_the_cuda_build(self, noxfile: ModuleType) -> None:
        notice = noxfile.build_notice("2.13.0 12.8\n")
        assert notice == "installed: torch 2.13.0, the CUDA 12.8 build (several GB)"

    def test_bad_output(self, noxfile: ModuleType) -> None:
        with pytest.raises(ValueError, match="probe_output must be 'VERSION CUDA-or-cpu', got ''"):
            noxfile.build_notice("")

    def test_the_probe_reads_the_torch_installed_here(self, noxfile: ModuleType) -> None:
        import torch

        proc = subprocess.run(
            [sys.executable, "-c", noxfile.TORCH_BUILD_PROBE], capture_output=True, text=True,
            check=True, timeout=120,
        )  # fmt: skip
        notice = noxfile.build_notice(proc.stdout)
        assert notice.startswith(f"installed: torch {torch.__version__}, ")
        assert ("CPU-only" in notice) == (torch.version.cuda is None)

    def test_install_torch_says_what_came(self) -> None:
        text = (ROOT / "noxfile.py").read_text(encoding="utf-8")
        body = text.split("def install_torch", 1)[1].split("\ndef ", 1)[0]
        assert body.index("session.install(*args)") < body.index("TORCH_BUILD_PROBE")
        assert "session.log(build_notice(" in body


class TestProbe:
    def test_real_probe_is_quick(self, noxfile: ModuleType) -> None:
        """The real check against PyTorch's index, whatever the network here: an answer within
        seconds (the development machines cannot reach it and get False)."""
        t0 = time.monotonic()
        got = noxfile.reachable(noxfile.CPU_INDEX)
        assert isinstance(got, bool)
        assert time.monotonic() - t0 < 3 * noxfile.PROBE_TIMEOUT_S

    def test_unreachable_address(self, noxfile: ModuleType) -> None:
        t0 = time.monotonic()
        assert noxfile.reachable("http://127.0.0.1:9/", timeout=1.0) is False  # discard port
        assert noxfile.reachable("not a url") is False
        assert time.monotonic() - t0 < 5

    def test_has_gpu_is_a_bool(self, noxfile: ModuleType) -> None:
        assert isinstance(noxfile.has_gpu(), bool)


class TestWheelCheck:
    """`nox -s package` refuses a wheel that lacks what a user's install needs."""

    GOOD = frozenset(
        {
            "signalinject/__init__.py",
            "signalinject/py.typed",
            "signalinject/_native.pyi",
            "signalinject/_native.abi3.so",
            "signalinject/benchmarks/cli.py",
            "signalinject-0.2.0.dist-info/licenses/LICENSE",
        }
    )
    NAME = "signalinject-0.2.0-cp311-abi3-linux_x86_64.whl"

    def test_a_complete_abi3_wheel_passes(self, noxfile: ModuleType) -> None:
        assert noxfile.wheel_problems(self.GOOD, "0.2.0", self.NAME, True) == []

    @pytest.mark.parametrize(
        ("missing", "problem"),
        [
            ("signalinject/py.typed", "no signalinject/py.typed"),
            ("signalinject/_native.pyi", "no signalinject/_native.pyi"),
            (
                "signalinject-0.2.0.dist-info/licenses/LICENSE",
                "no signalinject-0.2.0.dist-info/licenses/LICENSE",
            ),
            ("signalinject/_native.abi3.so", "no signalinject/_native*.so (the compiled kernels)"),
        ],
    )
    def test_each_missing_file_is_named(
        self, noxfile: ModuleType, missing: str, problem: str
    ) -> None:
        assert noxfile.wheel_problems(self.GOOD - {missing}, "0.2.0", self.NAME, True) == [problem]

    def test_the_kernels_are_optional_unless_required(self, noxfile: ModuleType) -> None:
        names = self.GOOD - {"signalinject/_native.abi3.so"}
        assert (
            noxfile.wheel_problems(names, "0.2.0", "signalinject-0.2.0-py3-none-any.whl", False)
            == []
        )

    def test_a_version_specific_build_is_refused(self, noxfile: ModuleType) -> None:
        names = (self.GOOD - {"signalinject/_native.abi3.so"}) | {
            "signalinject/_native.cpython-311-x86_64-linux-gnu.so"
        }
        name = "signalinject-0.2.0-cp311-cp311-linux_x86_64.whl"
        assert noxfile.wheel_problems(names, "0.2.0", name, True) == [
            "the compiled kernels are ['signalinject/_native.cpython-311-x86_64-linux-gnu.so'], "
            "not _native.abi3.so",
            f"{name} is not tagged cp311-abi3",
        ]

    def test_another_version_is_refused(self, noxfile: ModuleType) -> None:
        name = "signalinject-0.1.0-cp311-abi3-linux_x86_64.whl"
        problems = noxfile.wheel_problems(self.GOOD, "0.2.0", name, True)
        assert problems == [f"{name} is not version 0.2.0"]

    def test_the_package_session_checks_with_twine_and_abi3audit(self) -> None:
        text = (ROOT / "noxfile.py").read_text(encoding="utf-8")
        assert '"twine", "check", "--strict"' in text
        assert '"abi3audit", "--strict", "--assume-minimum-abi3", "3.11"' in text


def test_setup_builds_the_kernels_against_the_311_stable_abi() -> None:
    text = (ROOT / "setup.py").read_text(encoding="utf-8")
    assert "LIMITED_API = 0x030B0000" in text
    assert "py_limited_api=ABI3" in text
    assert '{"bdist_wheel": {"py_limited_api": "cp311"}}' in text


class TestTestsSession:
    """``nox -s tests``: two processes and the CI selection first, the user's arguments last."""

    def test_default_command(self, noxfile: ModuleType) -> None:
        assert noxfile.pytest_command([]) == [
            "python", "-m", "pytest", "-n", "2", "-m", "not slow or ci"
        ]  # fmt: skip

    def test_arguments_after_the_defaults_win(self, noxfile: ModuleType) -> None:
        """pytest's options keep their last value: ``-- -m slow`` or ``-- -n 0`` override."""
        import argparse

        cmd = noxfile.pytest_command(["-m", "slow", "-n", "0", "tests/test_x.py"])
        parser = argparse.ArgumentParser()
        parser.add_argument("-n")
        parser.add_argument("-m")
        args, rest = parser.parse_known_args(cmd[3:])
        assert (args.n, args.m, rest) == ("0", "slow", ["tests/test_x.py"])

    def test_the_markers_are_declared(self) -> None:
        text = (ROOT / "pyproject.toml").read_text()
        assert '"slow: ' in text
        assert '"ci: ' in text
        assert '"pytest-xdist>=' in text
