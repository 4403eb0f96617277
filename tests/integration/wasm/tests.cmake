# tests/integration/wasm/tests.cmake: the WASI integration tests, the
# `bt wasm run` fuzz target, registered from the top-level CMakeLists.txt
# with
#   include(${CMAKE_SOURCE_DIR}/tests/integration/wasm/tests.cmake OPTIONAL)
# (after the parts are added, so that bt_wasm exists). The scripts compile
# C programs to wasm32-wasi at test time with clang (docs/wasi.md).

if(TARGET bt_wasm)
  set(_bt_wasi_dir ${CMAKE_SOURCE_DIR}/tests/integration/wasm)
  bt_script_test(wasm.wasi_run SCRIPT ${_bt_wasi_dir}/wasi_run.sh
    LABELS integration TIMEOUT 300)
  bt_script_test(wasm.wasi_files SCRIPT ${_bt_wasi_dir}/wasi_files.sh
    LABELS integration TIMEOUT 300)
  bt_script_test(wasm.wasi_escape SCRIPT ${_bt_wasi_dir}/wasi_escape.sh
    LABELS integration TIMEOUT 300)
  bt_script_test(wasm.wasi_bench_small
    SCRIPT ${_bt_wasi_dir}/wasi_bench_small.sh
    LABELS integration TIMEOUT 600)

  if(EXISTS ${CMAKE_SOURCE_DIR}/fuzz/wasm_run_fuzz.c)
    bt_fuzz(wasm.run
      SOURCES ${CMAKE_SOURCE_DIR}/fuzz/wasm_run_fuzz.c
      LIBS bt_wasm
      CORPUS tests/data/corpus/wasm_run)
  endif()
endif()
