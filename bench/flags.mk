# Included after the Makefile by bench/run.sh, to build the benchmark's C
# programs with the compiler flags of the release build:
#   make -s -f Makefile -f bench/flags.mk bench-flags
.PHONY: bench-flags
bench-flags:
	@echo $(CSTD) $(WARN) $(RELEASE_FLAGS)

# The validation scenario's program, linked with the release objects of
# src/ except main.c, so that it runs the validator as the server does:
#   make -s -f Makefile -f bench/flags.mk build/bench/validate_bench
BENCH_LIB_OBJ := $(patsubst src/%.c,build/release/%.o,$(LIB_SRC))

build/bench/validate_bench: bench/validate_bench.c $(BENCH_LIB_OBJ) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(RELEASE_FLAGS) $(INC) $(PKG_CFLAGS) -o $@ $< $(BENCH_LIB_OBJ) \
		$(PKG_LIBS)
