# event-issuer build.
#
#   make              release build: build/event-issuer
#   make check        unit tests, then end-to-end tests, under ASan + UBSan
#   make unit         unit tests only (ASan + UBSan)
#   make e2e          end-to-end tests against the sanitizer build of the server
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

check: unit e2e

.PHONY: bench
bench: all
	bench/run.sh

clean:
	rm -rf build
