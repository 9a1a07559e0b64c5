# Included after the Makefile by bench/run.sh, to build the benchmark's C
# programs with the compiler flags of the release build:
#   make -s -f Makefile -f bench/flags.mk bench-flags
.PHONY: bench-flags
bench-flags:
	@echo $(CSTD) $(WARN) $(RELEASE_FLAGS)
