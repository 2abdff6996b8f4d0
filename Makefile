# weft: one plain GNU Makefile (no autotools, no CMake). `make help` lists the targets;
# doc/building.md explains them and every variable below.

.DEFAULT_GOAL := all
SHELL := /bin/sh
.SUFFIXES:
.DELETE_ON_ERROR:

# ---------------------------------------------------------------- version (from the header)
VERSION_H := common/version.h
version_part = $(shell sed -n 's/^\#define WEFT_VERSION_$(1)  *\([0-9][0-9]*\).*/\1/p' $(VERSION_H))
MAJOR := $(call version_part,MAJOR)
MINOR := $(call version_part,MINOR)
PATCH := $(call version_part,PATCH)
VERSION := $(MAJOR).$(MINOR).$(PATCH)

# ---------------------------------------------------------------- user-settable variables
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR ?=
CFLAGS ?= -O2 -g
LDFLAGS ?=
WERROR ?= 1
VARIANT ?= default
PROVE_FLAGS ?= -j2
PKG_CONFIG ?= pkg-config
PROVE ?= prove
CLANG_FORMAT ?= clang-format
INSTALL ?= install
# Seconds each TEST may run before the TAP watchdog fails it (t/tap.h).
TAP_TIMEOUT ?= 60

# ---------------------------------------------------------------- what weft requires
# Added to the user's CFLAGS, never replacing them (the user's come last and win).
WEFT_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes \
	-Wshadow -Wvla -fvisibility=hidden -fPIC -pthread -Ibuild/include -Iinclude
ifeq ($(WERROR),1)
WEFT_CFLAGS += -Werror
endif

VARIANTS := default debug asan ubsan tsan fuzz
ifeq ($(filter $(VARIANT),$(VARIANTS)),)
$(error VARIANT must be one of: $(VARIANTS))
endif
SAN_FLAGS :=
DEBUG_FLAGS :=
# The debug and asan builds can fail the Nth allocation or thread creation on demand
# (common/fault-internal.h; t/81, t/82); release builds have no counter at all.
ifeq ($(VARIANT),debug)
DEBUG_FLAGS := -DWEFT_DEBUG=1 -DWEFT_FAULT_INJECTION=1
endif
ifeq ($(VARIANT),asan)
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
DEBUG_FLAGS := -DWEFT_DEBUG=1 -DWEFT_FAULT_INJECTION=1
endif
ifeq ($(VARIANT),ubsan)
SAN_FLAGS := -fsanitize=undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
DEBUG_FLAGS := -DWEFT_DEBUG=1
endif
ifeq ($(VARIANT),tsan)
SAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer
DEBUG_FLAGS := -DWEFT_DEBUG=1
endif
# libFuzzer (t/fuzz/README.md): clang only; the library gets coverage instrumentation and
# ASan + UBSan, the harnesses link libFuzzer's main.
ifeq ($(VARIANT),fuzz)
SAN_FLAGS := -fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
DEBUG_FLAGS := -DWEFT_DEBUG=1
endif

# Objects of different variants and compilers never mix: build/default, build/asan,
# build/default-clang ...
CC_NAME := $(notdir $(firstword $(CC)))
BUILD := build/$(VARIANT)$(if $(filter cc gcc,$(CC_NAME)),,-$(CC_NAME))

# pkg-config is asked once, lazily, at recipe time: after `deps` may have installed it.
UV_CFLAGS = $(eval UV_CFLAGS := $$(shell $(PKG_CONFIG) --cflags libuv))$(UV_CFLAGS)
UV_LIBS = $(eval UV_LIBS := $$(shell $(PKG_CONFIG) --libs libuv))$(UV_LIBS)
# The database pool's drivers (bridge/db-sqlite.c, bridge/db-postgres.c). weft.pc names
# their libraries in Libs.private rather than Requires.private: Debian's libpq.pc asks
# --static users for archives (libpgcommon, libpgport) that libpq-dev does not ship.
DB_PKGS := sqlite3 libpq
DB_CFLAGS = $(eval DB_CFLAGS := $$(shell $(PKG_CONFIG) --cflags $(DB_PKGS)))$(DB_CFLAGS)
DB_LIBS = $(eval DB_LIBS := $$(shell $(PKG_CONFIG) --libs $(DB_PKGS)))$(DB_LIBS)

ALL_CFLAGS = $(WEFT_CFLAGS) $(DEBUG_FLAGS) $(SAN_FLAGS) $(UV_CFLAGS) $(DB_CFLAGS) $(CPPFLAGS) \
	$(CFLAGS)
# The HTTP parser (reactor/web) is Debian's libhttp-parser-dev: no pkg-config file, plain -l.
HTTP_PARSER_LIBS := -lhttp_parser
LIB_DEPS = $(UV_LIBS) $(DB_LIBS) $(HTTP_PARSER_LIBS) -lpthread -lm
ALL_LDFLAGS = $(SAN_FLAGS) -pthread $(LDFLAGS)

# ---------------------------------------------------------------- Debian packages
# What each target needs; `mk/deps.sh` installs what is missing when run as root and names
# the apt-get command otherwise. Later issues add their packages here.
CC_PKG := $(if $(filter clang%,$(CC_NAME)),clang,gcc)
# libssl-dev: libcrypto's PBKDF2 for examples/cpu_server (the demo) and examples/http_hash.
DEPS_BUILD := $(CC_PKG) libc6-dev pkg-config libuv1-dev libsqlite3-dev libpq-dev \
	libhttp-parser-dev libssl-dev
# postgresql: t/51-dbpool-postgres starts a private server of its own (initdb, pg_ctl).
# curl: t/73-http-curl talks to the HTTP examples with it.
DEPS_CHECK := $(DEPS_BUILD) perl python3-twisted postgresql curl
ifneq ($(SAN_FLAGS),)
ifeq ($(CC_PKG),clang)
DEPS_CHECK += libclang-rt-14-dev
endif
endif
DEPS_VALGRIND := $(DEPS_CHECK) valgrind
# python3-twisted: the demo's Twisted row (examples/cpu_server_twisted.py).
DEPS_DEMO := $(DEPS_BUILD) python3-twisted
DEPS_LINT := $(DEPS_BUILD) clang-format binutils
# make bench: the plots of doc/bench.md (mk/bench-report.sh); Twisted for its comparison.
DEPS_BENCH := $(DEPS_BUILD) gnuplot-nox python3-twisted
# clang -fsanitize=fuzzer takes libFuzzer from compiler-rt (libclang-rt-14-dev on Debian 12;
# the separate libfuzzer-14-dev package is only for linking libFuzzer by hand).
DEPS_FUZZ := clang libclang-rt-14-dev
DEPS_SOAK := $(DEPS_BUILD) gnuplot-nox

# ---------------------------------------------------------------- sources
ROOMS := common reactor threadpool bridge
LIB_SRCS := $(sort $(wildcard $(addsuffix /*.c,$(ROOMS)) $(addsuffix /*/*.c,$(ROOMS))))
ALL_HEADERS := $(sort $(wildcard $(addsuffix /*.h,$(ROOMS)) $(addsuffix /*/*.h,$(ROOMS))))
PUBLIC_HEADERS := $(filter-out %-internal.h %/private/%,$(ALL_HEADERS))
UMBRELLA := include/weft.h
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)

# Public headers are staged flat under build/include/weft/, the shape they install in, so
# the tree and users' programs both write #include <weft/deferred.h>.
HDR_DIR := build/include/weft
STAGED_HEADERS := $(addprefix $(HDR_DIR)/,$(notdir $(PUBLIC_HEADERS)))
define stage_header
$(HDR_DIR)/$(notdir $(1)): $(1)
	@mkdir -p $$(@D)
	@ln -sfn $$(abspath $$<) $$@
endef
$(foreach h,$(PUBLIC_HEADERS),$(eval $(call stage_header,$(h))))

STATIC_LIB := $(BUILD)/libweft.a
SONAME := libweft.so.$(MAJOR)
SHARED_LIB := $(BUILD)/libweft.so.$(VERSION)
PC_FILE := $(BUILD)/weft.pc

PROGRAM_SRCS := $(wildcard programs/*.c)
PROGRAMS := $(PROGRAM_SRCS:programs/%.c=$(BUILD)/%)

# Examples (examples/*.c), each one program linked against the static library.
EXAMPLE_SRCS := $(sort $(wildcard examples/*.c))
EXAMPLES := $(EXAMPLE_SRCS:examples/%.c=$(BUILD)/examples/%)

# The guide's programs (doc/guide/*.c, quoted by doc/guide.md), built like the examples and
# run by t/95-guide.
GUIDE_SRCS := $(sort $(wildcard doc/guide/*.c))
GUIDES := $(GUIDE_SRCS:doc/guide/%.c=$(BUILD)/guide/%)

# Plugins (reactor/app/plugin.h): the example's and the tests', built as shared objects into
# $(BUILD)/plugins/ with their sidecars. They take weft from the program that loads them
# (weft-run exports the whole library), so they are linked without libweft.
PLUGIN_SRCS := $(wildcard examples/*-plugin/*.c t/plugins/*.c)
PLUGINS := $(addprefix $(BUILD)/plugins/,$(notdir $(PLUGIN_SRCS:.c=.so) $(PLUGIN_SRCS:.c=.plugin)))

TEST_SRCS := $(sort $(wildcard t/[0-9][0-9]-*.c))
TESTS := $(TEST_SRCS:.c=.t)
TEST_HELPER_SRCS := $(filter-out $(TEST_SRCS),$(wildcard t/*.c))
TEST_HELPER_OBJS := $(TEST_HELPER_SRCS:%.c=$(BUILD)/obj/%.o)
# t/*.t is shared by all variants; this stamp names the build it was linked from, so
# switching variant (make check, then make asan) relinks the tests.
TEST_STAMP := build/tests-linked-from

# Fuzz harnesses (t/fuzz/<name>.c, libFuzzer): built into $(BUILD)/fuzz/<name> by `make fuzz`,
# and built again without libFuzzer into t/80-fuzz-regressions.t, which replays the corpora.
FUZZ_COMMON_SRCS := t/fuzz/fuzz-fail.c
FUZZ_HARNESS_SRCS := $(filter-out $(FUZZ_COMMON_SRCS),$(sort $(wildcard t/fuzz/*.c)))
FUZZ_NAMES := $(notdir $(FUZZ_HARNESS_SRCS:.c=))
FUZZERS := $(FUZZ_NAMES:%=$(BUILD)/fuzz/%)
FUZZ_REPLAY_OBJS := $(FUZZ_HARNESS_SRCS:%.c=$(BUILD)/obj/%-replay.o) \
	$(FUZZ_COMMON_SRCS:%.c=$(BUILD)/obj/%.o)
FUZZ_SECONDS ?= 30
FUZZ_RSS_MB ?= 1024
FUZZ_MAX_LEN ?= 4096
FUZZ_FLAGS ?=

BENCH_SRCS := $(wildcard t/bench/*.c)
BENCHES := $(BENCH_SRCS:t/bench/%.c=$(BUILD)/bench/%)

# ---------------------------------------------------------------- top-level targets
.PHONY: all lib check tests asan ubsan tsan debug valgrind bench demo install uninstall \
	lint format clean help deps-build deps-check deps-valgrind deps-lint deps-demo deps-bench \
	deps-fuzz \
	fuzz fuzz-run deps-soak soak FORCE

all: lib $(PROGRAMS) $(EXAMPLES) $(PC_FILE)
	@echo "built $(STATIC_LIB), $(SHARED_LIB), $(PC_FILE), $(PROGRAMS) and $(EXAMPLES)"

lib: $(STATIC_LIB) $(SHARED_LIB) $(BUILD)/$(SONAME) $(BUILD)/libweft.so

help:
	@echo "targets: all check asan ubsan tsan debug valgrind bench demo install uninstall lint format clean fuzz soak"
	@echo "variables: PREFIX DESTDIR LIBDIR INCLUDEDIR BINDIR CC CFLAGS LDFLAGS WERROR VARIANT PROVE_FLAGS TAP_TIMEOUT FUZZ_SECONDS FUZZ_RSS_MB FUZZ_MAX_LEN FUZZ_FLAGS SOAK_SECONDS SOAK_SAMPLE"

deps-build:
	@sh mk/deps.sh $(DEPS_BUILD)
deps-check:
	@sh mk/deps.sh $(DEPS_CHECK)
deps-valgrind:
	@sh mk/deps.sh $(DEPS_VALGRIND)
deps-lint:
	@sh mk/deps.sh $(DEPS_LINT)
deps-demo:
	@sh mk/deps.sh $(DEPS_DEMO)
deps-bench:
	@sh mk/deps.sh $(DEPS_BENCH)
deps-fuzz:
	@sh mk/deps.sh $(DEPS_FUZZ)
deps-soak:
	@sh mk/deps.sh $(DEPS_SOAK)

TEST_ENV = TAP_TIMEOUT=$(TAP_TIMEOUT) WEFT_TOP=$(CURDIR) WEFT_BUILD=$(BUILD) MAKE="$(MAKE)" \
	CC="$(CC)" PKG_CONFIG="$(PKG_CONFIG)" \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/t/tsan.supp"

tests: $(TESTS)

# TSan in gcc 12 / clang 14 cannot map its shadow memory under the high mmap ASLR entropy
# of newer kernels ("unexpected memory mapping"); running the tests without ASLR avoids it.
NO_ASLR := $(if $(filter tsan,$(VARIANT)),$(shell command -v setarch >/dev/null 2>&1 && \
	echo setarch $$(uname -m) -R))

check: deps-check
	@$(MAKE) --no-print-directory lib $(PROGRAMS) $(EXAMPLES) $(GUIDES) $(PLUGINS) tests
	$(TEST_ENV) $(NO_ASLR) $(PROVE) $(PROVE_FLAGS) t/

asan ubsan tsan debug:
	@$(MAKE) --no-print-directory VARIANT=$@ check

VALGRIND_CMD := valgrind -q --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect
valgrind: deps-valgrind
	@$(MAKE) --no-print-directory lib $(PROGRAMS) $(EXAMPLES) $(GUIDES) $(PLUGINS) tests
	$(TEST_ENV) TAP_TIMEOUT=600 WEFT_UNDER_VALGRIND=1 \
		$(PROVE) $(PROVE_FLAGS) --exec '$(VALGRIND_CMD)' t/

# Runs every t/bench program, keeps their output in $(BENCH_OUT) and writes doc/bench.md and
# its plots from it (mk/bench-report.sh). BENCH_DOC=dir writes them somewhere else.
BENCH_OUT := $(BUILD)/bench/results.txt
BENCH_DOC ?= doc
bench: deps-bench
	@$(MAKE) --no-print-directory $(BENCHES)
	@set -e; : > $(BENCH_OUT).tmp; for b in $(BENCHES); do \
		echo "== $$b" | tee -a $(BENCH_OUT).tmp; \
		$$b > $(BENCH_OUT).one; cat $(BENCH_OUT).one; cat $(BENCH_OUT).one >> $(BENCH_OUT).tmp; \
	done; rm -f $(BENCH_OUT).one; mv $(BENCH_OUT).tmp $(BENCH_OUT)
	@CC="$(CC)" PKG_CONFIG="$(PKG_CONFIG)" \
		BENCH_CMD="make bench$(if $(filter cc gcc,$(CC_NAME)),, CC=$(CC))$(if $(filter default,$(VARIANT)),, VARIANT=$(VARIANT))" \
		sh mk/bench-report.sh $(BENCH_OUT) $(BENCH_DOC)

# Each harness for FUZZ_SECONDS, memory bounded by FUZZ_RSS_MB, inputs by FUZZ_MAX_LEN bytes.
# New inputs go to $(BUILD)/fuzz/corpus-<name>/ (not committed); the seeds in
# t/fuzz/corpus/<name>/ are only read. A crash leaves $(BUILD)/fuzz/<name>-crash-* behind.
fuzz: deps-fuzz
	@$(MAKE) --no-print-directory VARIANT=fuzz CC=clang fuzz-run

fuzz-run:
	@$(MAKE) --no-print-directory $(FUZZERS)
	@set -e; for n in $(FUZZ_NAMES); do \
		mkdir -p $(BUILD)/fuzz/corpus-$$n; \
		echo "== fuzz $$n for $(FUZZ_SECONDS)s"; \
		$(TEST_ENV) $(BUILD)/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) \
			-rss_limit_mb=$(FUZZ_RSS_MB) -max_len=$(FUZZ_MAX_LEN) -print_final_stats=1 \
			-artifact_prefix=$(BUILD)/fuzz/$$n- $(FUZZ_FLAGS) \
			$(BUILD)/fuzz/corpus-$$n t/fuzz/corpus/$$n 2>$(BUILD)/fuzz/$$n.log || \
			{ tail -n 40 $(BUILD)/fuzz/$$n.log; exit 1; }; \
		grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done)' \
			$(BUILD)/fuzz/$$n.log; \
	done

# Minutes of echo and offload load from several threads (t/soak/soak.c; not in CI). Fails on
# RSS or descriptor growth over 5% after the warm-up or on a lost request; plots doc/soak.png.
SOAK_SECONDS ?= 600
SOAK_SAMPLE ?= 10
SOAK_PLOT ?= doc/soak.png
soak: deps-soak
	@$(MAKE) --no-print-directory $(BUILD)/soak/soak
	$(BUILD)/soak/soak $(SOAK_SECONDS) $(BUILD)/soak/soak.dat $(SOAK_SAMPLE)
	gnuplot -e "data='$(BUILD)/soak/soak.dat'; out='$(SOAK_PLOT)'" t/soak/soak.gp
	@echo "plot: $(SOAK_PLOT)"

$(BUILD)/soak/soak: t/soak/soak.c $(STATIC_LIB) | deps-build $(STAGED_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(STATIC_LIB) $(LIB_DEPS)

# DEMO_SECONDS, DEMO_ITERATIONS and DEMO_CONNECTIONS from the environment change the run.
# The build uses every CPU unless make was given its own -j.
demo: deps-demo
	@$(MAKE) --no-print-directory $(if $(findstring jobserver,$(MAKEFLAGS)),,-j$(shell nproc)) all
	@sh mk/demo.sh $(BUILD)

# ---------------------------------------------------------------- compiling and linking
$(BUILD)/obj/%.o: %.c | deps-build $(STAGED_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(STATIC_LIB): $(LIB_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

$(SHARED_LIB): $(LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined $(ALL_LDFLAGS) -o $@ $^ $(LIB_DEPS)

$(BUILD)/$(SONAME) $(BUILD)/libweft.so: $(SHARED_LIB)
	ln -sfn $(notdir $<) $@

$(PC_FILE): weft.pc.in $(VERSION_H) FORCE
	@mkdir -p $(@D)
	@sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
		-e 's|@LIBS_PRIVATE@|$(strip $(DB_LIBS)) $(HTTP_PARSER_LIBS) -lpthread -lm|g' $< > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

# weft-run loads plugins that call weft: it links the whole library and exports its symbols.
PROGRAM_LIB = $(STATIC_LIB)
$(BUILD)/weft-run: PROGRAM_LIB = -rdynamic -Wl,--whole-archive $(STATIC_LIB) -Wl,--no-whole-archive

$(PROGRAMS): $(BUILD)/%: programs/%.c $(STATIC_LIB) | deps-build $(STAGED_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(PROGRAM_LIB) $(LIB_DEPS)

define plugin_rules
$(BUILD)/plugins/$(notdir $(1:.c=.so)): $(1) | deps-build $(STAGED_HEADERS)
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_CFLAGS) -shared $$(ALL_LDFLAGS) -o $$@ $$<
$(BUILD)/plugins/$(notdir $(1:.c=.plugin)): $(1:.c=.plugin)
	@mkdir -p $$(@D)
	cp $$< $$@
endef
$(foreach p,$(PLUGIN_SRCS),$(eval $(call plugin_rules,$(p))))

# Libraries an example needs beyond weft's (its `Build:` line names the same pkg-config names):
# cpu_server and http_hash take PBKDF2 from libcrypto (libssl-dev).
CRYPTO_CFLAGS = $(eval CRYPTO_CFLAGS := $$(shell $(PKG_CONFIG) --cflags libcrypto))$(CRYPTO_CFLAGS)
CRYPTO_LIBS = $(eval CRYPTO_LIBS := $$(shell $(PKG_CONFIG) --libs libcrypto))$(CRYPTO_LIBS)
EXAMPLE_CFLAGS =
EXAMPLE_LIBS =
$(BUILD)/examples/cpu_server $(BUILD)/examples/http_hash: EXAMPLE_CFLAGS = $(CRYPTO_CFLAGS)
$(BUILD)/examples/cpu_server $(BUILD)/examples/http_hash: EXAMPLE_LIBS = $(CRYPTO_LIBS)

$(EXAMPLES): $(BUILD)/examples/%: examples/%.c $(STATIC_LIB) | deps-build $(STAGED_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(EXAMPLE_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(STATIC_LIB) $(EXAMPLE_LIBS) \
		$(LIB_DEPS)

$(GUIDES): $(BUILD)/guide/%: doc/guide/%.c $(STATIC_LIB) | deps-build $(STAGED_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(STATIC_LIB) $(LIB_DEPS)

$(TEST_STAMP): FORCE
	@mkdir -p $(@D)
	@[ "`cat $@ 2>/dev/null`" = "$(BUILD)" ] || echo "$(BUILD)" > $@

t/%.t: $(BUILD)/obj/t/%.o $(TEST_HELPER_OBJS) $(STATIC_LIB) $(TEST_STAMP)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(TEST_EXTRA_OBJS) $(TEST_HELPER_OBJS) $(STATIC_LIB) $(LIB_DEPS)

# The fuzz regression test links the harnesses, built without libFuzzer.
t/80-fuzz-regressions.t: TEST_EXTRA_OBJS = $(FUZZ_REPLAY_OBJS)
t/80-fuzz-regressions.t: $(FUZZ_REPLAY_OBJS)
$(BUILD)/obj/t/fuzz/%-replay.o: t/fuzz/%.c | deps-build $(STAGED_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -DWEFT_FUZZ_NO_MAIN -MMD -MP -c $< -o $@

$(FUZZERS): $(BUILD)/fuzz/%: t/fuzz/%.c $(FUZZ_COMMON_SRCS) $(STATIC_LIB) | $(STAGED_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer $(ALL_LDFLAGS) -o $@ $< $(FUZZ_COMMON_SRCS) \
		$(STATIC_LIB) $(LIB_DEPS)

$(BENCHES): $(BUILD)/bench/%: t/bench/%.c t/bench/report.h $(STATIC_LIB) | deps-build $(STAGED_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(STATIC_LIB) $(LIB_DEPS)

# ---------------------------------------------------------------- install
install: all
	$(INSTALL) -d $(DESTDIR)$(INCLUDEDIR)/weft $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(BINDIR)
	$(INSTALL) -m 644 $(PUBLIC_HEADERS) $(DESTDIR)$(INCLUDEDIR)/weft/
	$(INSTALL) -m 644 $(UMBRELLA) $(DESTDIR)$(INCLUDEDIR)/
	$(INSTALL) -m 644 $(STATIC_LIB) $(DESTDIR)$(LIBDIR)/
	$(INSTALL) -m 755 $(SHARED_LIB) $(DESTDIR)$(LIBDIR)/
	ln -sfn libweft.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sfn $(SONAME) $(DESTDIR)$(LIBDIR)/libweft.so
	$(INSTALL) -m 644 $(PC_FILE) $(DESTDIR)$(PKGCONFIGDIR)/weft.pc
	$(INSTALL) -m 755 $(PROGRAMS) $(DESTDIR)$(BINDIR)/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(INCLUDEDIR)/weft/,$(notdir $(PUBLIC_HEADERS)))
	-rmdir $(DESTDIR)$(INCLUDEDIR)/weft 2>/dev/null
	rm -f $(DESTDIR)$(INCLUDEDIR)/weft.h
	rm -f $(DESTDIR)$(LIBDIR)/libweft.a $(DESTDIR)$(LIBDIR)/libweft.so.$(VERSION) \
		$(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libweft.so
	rm -f $(DESTDIR)$(PKGCONFIGDIR)/weft.pc
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(PROGRAMS)))

# ---------------------------------------------------------------- lint and format
FORMAT_FILES = $(sort $(wildcard $(addsuffix /*.[ch],$(ROOMS)) $(addsuffix /*/*.[ch],$(ROOMS)) \
	$(addsuffix /*/*/*.[ch],$(ROOMS)) include/*.h programs/*.c t/*.[ch] t/bench/*.[ch] \
	t/plugins/*.[ch] t/fuzz/*.[ch] t/soak/*.[ch] examples/*.[ch] examples/*/*.[ch] \
	doc/guide/*.c))

lint: deps-lint
	@$(MAKE) --no-print-directory lib
	@CC="$(CC)" BUILD="$(BUILD)" CLANG_FORMAT="$(CLANG_FORMAT)" UV_CFLAGS="$(UV_CFLAGS)" \
		PUBLIC_HEADERS="$(PUBLIC_HEADERS)" UMBRELLA="$(UMBRELLA)" \
		FORMAT_FILES="$(FORMAT_FILES)" sh mk/lint.sh

format:
	$(CLANG_FORMAT) -i $(FORMAT_FILES)

clean:
	rm -rf build $(wildcard t/*.t)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
