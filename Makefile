# A thin front for CMake + Ninja + CTest. Every target first installs what
# is missing (scripts/deps.sh asks dpkg, then apt-get only for the rest).
#   make          build build/bt
#   make run      build, then run `bt node` on its embedded defaults
#   make test     build, then the whole suite through CTest
#   make asan     the suite again with -fsanitize=address,undefined
#   make bench    the benchmarks in bench/ (they report; they never fail)
#   make fuzz     the libFuzzer targets in fuzz/ (clang)
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?=

.PHONY: all deps run test asan bench fuzz clean

all: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@sh scripts/deps.sh build

run: all
	./$(BUILD)/bt node

test:
	@sh scripts/deps.sh test
	$(MAKE) all
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) -LE slow $(CTEST_ARGS)

asan:
	@sh scripts/deps.sh test
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBT_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS) -LE 'slow|noasan' $(CTEST_ARGS)

bench:
	@sh scripts/deps.sh bench
	$(MAKE) all
	sh bench/run.sh $(BUILD)

fuzz:
	@sh scripts/deps.sh fuzz
	CC=clang cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBT_FUZZ=ON
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
