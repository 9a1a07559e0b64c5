# event-issuer build.
#
#   make              release build: build/event-issuer
#   make check        unit tests, then end-to-end tests, under ASan + UBSan
#   make unit         unit tests only (ASan + UBSan)
#   make e2e          end-to-end tests against the sanitizer build of the server
#   make fuzz         each libFuzzer target for FUZZ_SECONDS (default 60); needs clang
#   make fuzz-replay  the saved fuzz inputs of fuzz/regressions, once each (ASan + UBSan)
#   make valgrind     the unit tests without sanitizers under valgrind memcheck
#   make clean
#
# Every build uses -Wall -Wextra -Werror; the sanitizer build lives in build/asan.

CC      ?= cc
PKGS    := libmicrohttpd sqlite3 libcrypto rdkafka
CSTD    := -std=c17 -D_GNU_SOURCE
WARN    := -Wall -Wextra -Werror -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes \
           -Wshadow -Wvla -Wpointer-arith
INC     := -Isrc
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS)) -lpthread -lm

RELEASE_FLAGS := -O2 -g -DNDEBUG
ASAN_FLAGS    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                 -fno-sanitize-recover=undefined

# Library sources: everything in src/ except the command-line entry point.
LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*/*.c))
MAIN_SRC := src/main.c
UNIT_SRC := $(wildcard tests/unit/test_*.c)
HEADERS  := $(wildcard src/*/*.h)

REL_OBJ  := $(patsubst src/%.c,build/release/%.o,$(LIB_SRC) $(MAIN_SRC))
ASAN_LIB := $(patsubst src/%.c,build/asan/%.o,$(LIB_SRC))
ASAN_MAIN := build/asan/main.o
UNIT_BIN := $(patsubst tests/unit/%.c,build/asan/tests/%,$(UNIT_SRC))
MOCK_KAFKA := build/asan/tests/mock-kafka

.PHONY: all asan unit e2e check clean deps

all: build/event-issuer

build/event-issuer: $(REL_OBJ)
	$(CC) $(RELEASE_FLAGS) -o $@ $^ $(PKG_LIBS)

build/release/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(RELEASE_FLAGS) $(INC) $(PKG_CFLAGS) -c -o $@ $<

asan: build/asan/event-issuer $(UNIT_BIN) $(MOCK_KAFKA)

build/asan/event-issuer: $(ASAN_LIB) $(ASAN_MAIN)
	$(CC) $(ASAN_FLAGS) -o $@ $^ $(PKG_LIBS)

build/asan/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(ASAN_FLAGS) $(INC) $(PKG_CFLAGS) -c -o $@ $<

build/asan/tests/%: tests/unit/%.c $(ASAN_LIB) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(ASAN_FLAGS) $(INC) $(PKG_CFLAGS) $$(pkg-config --cflags cmocka) \
		-o $@ $< $(ASAN_LIB) $(PKG_LIBS) $$(pkg-config --libs cmocka)

# A Kafka mock cluster driven over stdin, for the Kafka end-to-end tests.
$(MOCK_KAFKA): tests/kafka/mock_cluster.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(ASAN_FLAGS) $$(pkg-config --cflags rdkafka) -o $@ $< \
		$$(pkg-config --libs rdkafka)

# Unit tests: each binary is one cmocka group; the script prints a summary line.
unit: $(UNIT_BIN)
	@tests/run-unit.sh $(UNIT_BIN)

e2e: build/asan/event-issuer $(MOCK_KAFKA)
	@cd tests/e2e && EVENT_ISSUER_BIN=$(CURDIR)/build/asan/event-issuer node --test --test-concurrency=1 .

check: unit fuzz-replay e2e

.PHONY: bench
bench: all
	bench/run.sh

# Fuzzing (fuzz/README.md). The library is built again with clang and
# libFuzzer's coverage instrumentation; each target links it with
# -fsanitize=fuzzer. The replay programs link the same targets with
# fuzz/replay.c and the ASan library instead, so replaying needs no clang.
FUZZ_CC      ?= clang
FUZZ_FLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=undefined
FUZZ_TARGETS ?= ce_binary ce_structured ce_batch json problem schema server
FUZZ_SECONDS ?= 60
FUZZ_LIB     := $(patsubst src/%.c,build/fuzz/obj/%.o,$(LIB_SRC))
FUZZ_COMMON  := fuzz/check.c
FUZZ_HEADERS := fuzz/fuzz.h fuzz/check.h
FUZZ_BIN     := $(addprefix build/fuzz/bin/,$(FUZZ_TARGETS))
REPLAY_BIN   := $(addprefix build/asan/fuzz/replay-,$(FUZZ_TARGETS))

.PHONY: fuzz fuzz-build fuzz-replay valgrind

build/fuzz/obj/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CSTD) $(WARN) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(INC) $(PKG_CFLAGS) \
		-c -o $@ $<

build/fuzz/bin/%: fuzz/%.c $(FUZZ_COMMON) $(FUZZ_HEADERS) $(FUZZ_LIB)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CSTD) $(WARN) $(FUZZ_FLAGS) -fsanitize=fuzzer $(INC) $(PKG_CFLAGS) \
		-o $@ $< $(FUZZ_COMMON) $(FUZZ_LIB) $(PKG_LIBS)

build/asan/fuzz/replay-%: fuzz/%.c fuzz/replay.c $(FUZZ_COMMON) $(FUZZ_HEADERS) $(ASAN_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(ASAN_FLAGS) $(INC) $(PKG_CFLAGS) \
		-o $@ $< fuzz/replay.c $(FUZZ_COMMON) $(ASAN_LIB) $(PKG_LIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh $(FUZZ_TARGETS)

fuzz-replay: $(REPLAY_BIN)
	@fuzz/replay.sh $(FUZZ_TARGETS)

# Memcheck: the unit tests built without sanitizers, which valgrind cannot
# run beside.
VG_FLAGS := -O1 -g
VG_LIB   := $(patsubst src/%.c,build/valgrind/%.o,$(LIB_SRC))
VG_UNIT  := $(patsubst tests/unit/%.c,build/valgrind/tests/%,$(UNIT_SRC))

# Kept between runs, although only pattern rules name them.
.SECONDARY: $(FUZZ_LIB) $(VG_LIB)

build/valgrind/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(VG_FLAGS) $(INC) $(PKG_CFLAGS) -c -o $@ $<

build/valgrind/tests/%: tests/unit/%.c $(VG_LIB) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(VG_FLAGS) $(INC) $(PKG_CFLAGS) $$(pkg-config --cflags cmocka) \
		-o $@ $< $(VG_LIB) $(PKG_LIBS) $$(pkg-config --libs cmocka)

# The throughput test compares with kcat, which valgrind does not slow.
valgrind: $(VG_UNIT)
	@failed=0; for test in $(VG_UNIT); do \
		EI_TEST_SKIP='throughput_*' valgrind -q --error-exitcode=1 --leak-check=full \
			--errors-for-leak-kinds=definite,indirect $$test >/dev/null \
			|| { echo "valgrind: $$test failed"; failed=$$((failed + 1)); }; \
	done; echo "valgrind: $(words $(VG_UNIT)) test programs, $$failed failed"; [ $$failed -eq 0 ]

clean:
	rm -rf build
