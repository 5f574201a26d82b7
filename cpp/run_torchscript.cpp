// Run a TorchScript model from C++ with libtorch (no Python): print the logits of each row.
//
//   rows file: int32 n, int32 d, then n * d little-endian float32 values, row-major.
//   output:    one line per row, the model's outputs separated by spaces.
//
// libtorch's headers and libraries ship inside the torch wheel, so this builds offline:
//   T=$(python -c "import torch, os; print(os.path.dirname(torch.__file__))")
//   g++ -std=c++17 run_torchscript.cpp -I$T/include -I$T/include/torch/csrc/api/include \
//       -L$T/lib -ltorch -ltorch_cpu -lc10 -Wl,-rpath,$T/lib -o run_torchscript
//   ./run_torchscript model.pt rows.bin
// (tests/test_cpp_torchscript.py does exactly this and compares with PyTorch.)
#include <torch/script.h>

#include <cstdio>
#include <iostream>
#include <vector>

int main(int argc, char **argv) {
    if (argc != 3) {
        std::cerr << "usage: run_torchscript MODEL.pt ROWS.bin\n";
        return 2;
    }
    torch::jit::script::Module model = torch::jit::load(argv[1]);
    model.eval();
    std::FILE *f = std::fopen(argv[2], "rb");
    int dims[2];
    if (!f || std::fread(dims, sizeof(int), 2, f) != 2) {
        std::cerr << "cannot read the row count and width from " << argv[2] << "\n";
        return 1;
    }
    std::vector<float> x(static_cast<size_t>(dims[0]) * dims[1]);
    if (std::fread(x.data(), sizeof(float), x.size(), f) != x.size()) {
        std::cerr << argv[2] << " is shorter than " << dims[0] << " x " << dims[1] << "\n";
        return 1;
    }
    std::fclose(f);
    torch::NoGradGuard no_grad;
    at::Tensor X = torch::from_blob(x.data(), {dims[0], dims[1]}, torch::kFloat32);
    at::Tensor out = model.forward({X}).toTensor().contiguous();
    const float *p = out.data_ptr<float>();
    for (int64_t i = 0; i < out.size(0); i++) {
        for (int64_t j = 0; j < out.size(1); j++) std::printf("%.9g ", p[i * out.size(1) + j]);
        std::printf("\n");
    }
    return 0;
}
