/* Shared by the libFuzzer targets in this folder and their replay main.
 *
 * Each target defines LLVMFuzzerInitialize and LLVMFuzzerTestOneInput.
 * Built with clang -fsanitize=fuzzer they run under libFuzzer (make fuzz);
 * linked with replay.c instead they run saved inputs once each (make
 * fuzz-replay), which needs no clang. A target reports a broken property
 * through FUZZ_CHECK, which aborts so that libFuzzer saves the input. */
#ifndef EI_FUZZ_H
#define EI_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with the failed condition and a message when cond is false. */
#define FUZZ_CHECK(cond, ...)                                                    \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "fuzz: %s:%d: check failed: %s: ", __FILE__, __LINE__, \
                    #cond);                                                      \
            fprintf(stderr, __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                 \
            abort();                                                             \
        }                                                                        \
    } while (0)

#endif
