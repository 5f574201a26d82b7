"""C++ without Python: a TorchScript model run by libtorch (headers and libraries from the
torch wheel) gives PyTorch's outputs. Compiled here when a C++ compiler is present."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[1]


def test_cpp_program_gives_pytorchs_predictions(tmp_path: Path) -> None:
    compiler = shutil.which("g++") or shutil.which("clang++") or shutil.which("c++")
    if compiler is None:
        pytest.skip("no C++ compiler (g++/clang++)")
    tdir = Path(torch.__file__).parent
    if not (tdir / "include" / "torch" / "script.h").exists():
        pytest.skip("this torch build ships no C++ headers")
    exe = tmp_path / "run_torchscript"
    abi = int(torch._C._GLIBCXX_USE_CXX11_ABI)
    build = subprocess.run(
        [compiler, "-std=c++17", "-O1", "-w", f"-D_GLIBCXX_USE_CXX11_ABI={abi}",
         str(ROOT / "cpp" / "run_torchscript.cpp"), f"-I{tdir / 'include'}",
         f"-I{tdir / 'include' / 'torch' / 'csrc' / 'api' / 'include'}", f"-L{tdir / 'lib'}",
         "-ltorch", "-ltorch_cpu", "-lc10", f"-Wl,-rpath,{tdir / 'lib'}", "-o", str(exe)],
        capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(),
                                torch.nn.Linear(32, 10)).eval()
    torch.jit.trace(model, torch.zeros(1, 64)).save(str(tmp_path / "mlp.pt"))
    X = np.random.default_rng(0).standard_normal((100, 64)).astype("<f4")
    with open(tmp_path / "rows.bin", "wb") as f:
        np.array(X.shape, dtype="<i4").tofile(f)
        X.tofile(f)
    run = subprocess.run([str(exe), str(tmp_path / "mlp.pt"), str(tmp_path / "rows.bin")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    cpp = np.array([line.split() for line in run.stdout.strip().splitlines()], dtype=np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(X)).numpy()
    assert cpp.shape == expected.shape == (100, 10)
    np.testing.assert_allclose(cpp, expected, rtol=1e-5, atol=1e-6)
    assert (cpp.argmax(1) == expected.argmax(1)).all()
