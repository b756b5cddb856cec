// The backend registry. CPU is always compiled in: built without OpenBLAS (ENGINE_NO_CBLAS, as on
// GPU hosts) its products are plain loops, a reference for the per-kernel suite that the addon
// refuses to run (cpu_backend_is_reference). CUDA is either compiled in (ENGINE_WITH_CUDA:
// the CMake build of the GPU check) or loaded at run time from engine_cuda.so beside this
// library (the npm build, which compiles it only where nvcc and cuBLAS are found), so that the
// CPU build never needs CUDA.
#include <dlfcn.h>
#include <unistd.h>

#include <stdexcept>
#include <string>

#include "backend.h"

namespace engine {

std::unique_ptr<Backend> make_cpu_backend(const std::string& precision);
#ifdef ENGINE_WITH_CUDA
std::unique_ptr<Backend> make_cuda_backend(const std::string& precision, int device);
#endif

namespace {

#ifndef ENGINE_WITH_CUDA
// engine_cuda.so in the folder of the library that holds this code (build/Release/).
std::string cuda_library_path() {
  Dl_info info{};
  if (!dladdr(reinterpret_cast<void*>(&cuda_library_path), &info) || !info.dli_fname) return "engine_cuda.so";
  std::string self = info.dli_fname;
  const size_t slash = self.rfind('/');
  return (slash == std::string::npos ? std::string(".") : self.substr(0, slash)) + "/engine_cuda.so";
}

using MakeCuda = Backend* (*)(const char* precision, int device, char* error, size_t error_len);

std::unique_ptr<Backend> load_cuda_backend(const std::string& precision, int device) {
  const std::string path = cuda_library_path();
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const std::string why = dlerror();
    if (why.find("No such file") != std::string::npos && why.find(path) != std::string::npos)
      throw std::runtime_error("--device cuda: this install has no CUDA backend (" + path +
                               " was not built: nvcc and cuBLAS were not found at npm install; install the CUDA "
                               "toolkit and run npm rebuild, see docs/gpu.md)");
    throw std::runtime_error("--device cuda: cannot load the CUDA backend (" + why +
                             "): the CUDA toolkit's runtime libraries (libcudart, libcublas) are missing");
  }
  auto make = reinterpret_cast<MakeCuda>(dlsym(lib, "bert20news_make_cuda_device_backend"));
  if (!make) throw std::runtime_error("--device cuda: " + path + " is not a CUDA backend of this version");
  char error[512] = {0};
  Backend* be = make(precision.c_str(), device, error, sizeof error);
  if (!be) throw std::runtime_error(std::string("--device cuda: ") + error);
  return std::unique_ptr<Backend>(be);
}
#endif

// The GPU index of "cuda" (0) or "cuda:N" (N); -1 for any other name.
int cuda_index(const std::string& name) {
  if (name == "cuda") return 0;
  if (name.rfind("cuda:", 0) != 0 || name.size() == 5 || name.size() > 9) return -1;
  int n = 0;
  for (size_t i = 5; i < name.size(); i++) {
    if (name[i] < '0' || name[i] > '9' || (i == 5 && name[i] == '0' && name.size() > 6)) return -1;
    n = n * 10 + (name[i] - '0');
  }
  return n;
}

}  // namespace

std::vector<std::string> backend_names() {
#ifdef ENGINE_WITH_CUDA
  return {"cpu", "cuda"};
#else
  // The run-time loaded backend counts where its library was built.
  if (access(cuda_library_path().c_str(), R_OK) == 0) return {"cpu", "cuda"};
  return {"cpu"};
#endif
}

std::unique_ptr<Backend> make_backend(const std::string& name, const std::string& precision) {
  if (name == "cpu") return make_cpu_backend(precision);
  const int device = cuda_index(name);
  if (device >= 0) {
#ifdef ENGINE_WITH_CUDA
    return make_cuda_backend(precision, device);
#else
    return load_cuda_backend(precision, device);
#endif
  }
  throw std::runtime_error("unknown device '" + name + "' (known: cpu, cuda, cuda:N)");
}

bool cpu_backend_is_reference() {
#ifdef ENGINE_NO_CBLAS
  return true;
#else
  return false;
#endif
}

}  // namespace engine
