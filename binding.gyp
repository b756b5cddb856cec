{
  "targets": [
    {
      "target_name": "engine",
      "sources": [
        "native/addon.cc",
        "native/linear.cc",
        "native/layernorm.cc",
        "native/attention.cc",
        "native/elementwise.cc",
        "native/embedding.cc",
        "native/loss.cc",
        "native/adam.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "/usr/include/x86_64-linux-gnu/openblas-openmp"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-O3", "-march=native", "-fno-math-errno", "-fopenmp", "-std=c++17", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions"],
      "ldflags": [
        "-fopenmp",
        "-L/usr/lib/x86_64-linux-gnu/openblas-openmp",
        "-Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-openmp"
      ],
      "libraries": ["-l:libopenblas.so.0"]
    }
  ]
}
