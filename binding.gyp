{
  "target_defaults": {
    "include_dirs": ["/usr/include/x86_64-linux-gnu/openblas-openmp"],
    "cflags_cc": ["-O3", "-march=native", "-mprefer-vector-width=512", "-fno-math-errno", "-fopenmp", "-std=c++17", "-Wall", "-Wextra"],
    "defines": ["ENGINE_WITH_ONEDNN"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
    "ldflags": [
      "-fopenmp",
      "-L/usr/lib/x86_64-linux-gnu/openblas-openmp",
      "-Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-openmp"
    ],
    "libraries": ["-l:libopenblas.so.0", "-ldnnl"]
  },
  "targets": [
    {
      "target_name": "engine_core",
      "type": "static_library",
      "sources": ["<!@(grep '[.]cc$' native/sources.txt | grep -v '^#' | sed 's|^|native/|')"]
    },
    {
      "target_name": "engine",
      "dependencies": ["engine_core"],
      "sources": ["native/addon.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"]
    },
    {
      "target_name": "test_backend_ops",
      "type": "executable",
      "dependencies": ["engine_core"],
      "sources": ["native/tests/test_backend_ops.cc"]
    },
    {
      "target_name": "test_attention_emulated",
      "type": "executable",
      "sources": ["native/tests/test_attention_emulated.cc"],
      "ldflags": ["-pthread"]
    },
    {
      "target_name": "engine_check",
      "type": "executable",
      "dependencies": ["engine_core"],
      "sources": ["native/tools/engine_check.cc"]
    }
  ]
}
