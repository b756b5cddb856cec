// The backend registry: CPU always; CUDA when this build was compiled with it (ENGINE_WITH_CUDA).
#include <stdexcept>

#include "backend.h"

namespace engine {

std::unique_ptr<Backend> make_cpu_backend();
#ifdef ENGINE_WITH_CUDA
std::unique_ptr<Backend> make_cuda_backend();  // throws, naming a missing driver or GPU
#endif

std::vector<std::string> backend_names() {
#ifdef ENGINE_WITH_CUDA
  return {"cpu", "cuda"};
#else
  return {"cpu"};
#endif
}

std::unique_ptr<Backend> make_backend(const std::string& name) {
  if (name == "cpu") return make_cpu_backend();
#ifdef ENGINE_WITH_CUDA
  if (name == "cuda") return make_cuda_backend();
#else
  if (name == "cuda")
    throw std::runtime_error(
        "this build has no CUDA backend: it is built where nvcc and cuBLAS are found (see README, 'GPU')");
#endif
  throw std::runtime_error("unknown device '" + name + "' (known: cpu, cuda)");
}

}  // namespace engine
