# bt_library(), bt_test(), bt_fuzz(): the three shapes every part is built in.

set(BT_WARNINGS -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
    -Wvla -Wformat=2 -Wimplicit-fallthrough -Wno-unused-parameter)
if(BT_WERROR)
  list(APPEND BT_WARNINGS -Werror)
endif()

if(BT_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(BT_SANITIZE=1)
endif()

# bt_library(core SOURCES a.c b.c LIBS bt_os PkgConfig::X)
# makes the static library bt_<name> with the public include/ and its own
# folder on the include path; LIBS are linked PRIVATE unless listed as PUBLIC.
function(bt_library name)
  cmake_parse_arguments(L "" "" "SOURCES;LIBS;PUBLIC_LIBS" ${ARGN})
  add_library(bt_${name} STATIC ${L_SOURCES})
  target_include_directories(bt_${name}
    PUBLIC ${CMAKE_SOURCE_DIR}/include
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_options(bt_${name} PRIVATE ${BT_WARNINGS} -fvisibility=hidden)
  target_compile_definitions(bt_${name} PRIVATE _GNU_SOURCE)
  # Static libraries carry their dependencies to whoever links them, so
  # PRIVATE here still orders the link; the include rule is what it guards.
  target_link_libraries(bt_${name} PRIVATE ${L_LIBS} PUBLIC ${L_PUBLIC_LIBS})
endfunction()

# bt_test(blk.journal SOURCES journal_test.c LIBS bt_blk [LABELS unit]
#         [TIMEOUT 120] [ARGS ...])
function(bt_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS;ARGS" ${ARGN})
  string(REPLACE "." "_" exe "test_${name}")
  add_executable(${exe} ${T_SOURCES})
  target_compile_options(${exe} PRIVATE ${BT_WARNINGS} -Wno-missing-prototypes)
  target_compile_definitions(${exe} PRIVATE _GNU_SOURCE
    BT_SOURCE_DIR="${CMAKE_SOURCE_DIR}" BT_BINARY_DIR="${CMAKE_BINARY_DIR}"
    BT_SHARED_DIR="${BT_SHARED_DIR}")
  target_include_directories(${exe} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(${exe} PRIVATE ${T_LIBS} bt_testing PkgConfig::CMOCKA)
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_test(NAME ${name} COMMAND ${exe} ${T_ARGS})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}")
endfunction()

# bt_script_test(wasm.spectest SCRIPT path/to/test.sh [LABELS integration]
#                [TIMEOUT 600] [ARGS ...]): a shell test given BT=build/bt.
function(bt_script_test name)
  cmake_parse_arguments(T "" "SCRIPT;TIMEOUT" "LABELS;ARGS" ${ARGN})
  if(NOT T_LABELS)
    set(T_LABELS integration)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  add_test(NAME ${name} COMMAND sh ${T_SCRIPT} ${T_ARGS})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}"
    ENVIRONMENT "BT=${CMAKE_BINARY_DIR}/bt;BT_SOURCE_DIR=${CMAKE_SOURCE_DIR};BT_BINARY_DIR=${CMAKE_BINARY_DIR};BT_SHARED_DIR=${BT_SHARED_DIR}")
endfunction()

if(BT_FUZZ)
  # Every library gets coverage instrumentation; the targets add the driver.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# bt_fuzz(serde.decode SOURCES ${CMAKE_SOURCE_DIR}/fuzz/serde_fuzz.c LIBS bt_serde
#         [CORPUS tests/data/corpus/serde])
# With -DBT_FUZZ=ON (clang): the libFuzzer binary fuzz_<name>. In every
# build: fuzz_<name>_replay, which runs the same LLVMFuzzerTestOneInput over
# each file of the corpus folder, registered as the CTest "fuzz.<name>", so
# the seeds and every crash once found stay fixed.
function(bt_fuzz name)
  cmake_parse_arguments(F "" "CORPUS" "SOURCES;LIBS" ${ARGN})
  string(REPLACE "." "_" exe "fuzz_${name}")
  if(BT_FUZZ)
    add_executable(${exe} ${F_SOURCES})
    target_compile_options(${exe} PRIVATE -fsanitize=fuzzer,address,undefined -g)
    target_link_options(${exe} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_compile_definitions(${exe} PRIVATE _GNU_SOURCE)
    target_link_libraries(${exe} PRIVATE ${F_LIBS})
  else()
    add_executable(${exe}_replay ${F_SOURCES} ${CMAKE_SOURCE_DIR}/fuzz/replay_main.c)
    target_compile_options(${exe}_replay PRIVATE ${BT_WARNINGS} -Wno-missing-prototypes)
    target_compile_definitions(${exe}_replay PRIVATE _GNU_SOURCE)
    target_link_libraries(${exe}_replay PRIVATE ${F_LIBS})
    if(F_CORPUS)
      add_test(NAME fuzz.${name} COMMAND ${exe}_replay ${CMAKE_SOURCE_DIR}/${F_CORPUS})
      set_tests_properties(fuzz.${name} PROPERTIES TIMEOUT 300 LABELS "fuzz")
    endif()
  endif()
endfunction()
