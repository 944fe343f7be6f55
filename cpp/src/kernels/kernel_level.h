// Included first by every kernel source. Each is compiled once per SIMD level
// (CMakeLists.txt: -march=x86-64-vN -DTWINSCORE_SIMD_NS=simd_vN) and puts
// everything it defines in that namespace, so the copies never meet at link
// time. Inside, `#ifdef __AVX2__` / `__AVX512F__` select the code of the level
// being compiled.
//
// A kernel source must not instantiate an inline function or template that
// lives outside its level namespace and is not inlined away (a std::vector
// member, an Eigen expression, a header helper): the linker keeps one copy of
// such a function for the whole library, perhaps the AVX2 one, and the
// baseline code would call it on a CPU without AVX2. The KernelSymbols test
// (tests/cpp/check_kernel_symbols.sh) checks the objects for any.
#pragma once

#ifndef TWINSCORE_SIMD_NS
#error "kernel sources are compiled once per SIMD level with -DTWINSCORE_SIMD_NS=simd_vN (see CMakeLists.txt)"
#endif
