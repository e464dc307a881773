#ifndef LEUK_CLIBFUZZER_SHIM_H
#define LEUK_CLIBFUZZER_SHIM_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's entry for programs that keep their own `main` (compiler-rt's `libclang_rt.fuzzer_no_main`):
/// parses libFuzzer's flags from argv and runs `callback` on every input. Only the sanitized build
/// (`make fuzz`) links it; nothing in a normal build refers to it.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
