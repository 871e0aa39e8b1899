# ztun - top-level build.
#
#   make          release build (-O2 -g) into build/rel
#   make check    sanitizer build (ASan+UBSan) into build/san, then every test
#                 and every scenarios/*.scn twice (same trace hashes)
#   make valgrind valgrind memcheck of scenarios, replays and e2e (build/vg)
#   make afl      AFL++ on one fuzz target (tools/fuzz/README.md)
#   make deps     install every build/test dependency (Debian, apt-get, idempotent)
#
# Layout (see docs/architecture.md):
#   ref/    the pure core, built as libztun.a (no clock, no I/O, no globals)
#   sim/    the hosts of the core: I/O drivers (sim/io), simulator, real mode
#   tests/  CUnit suites (tests/unit) and end-to-end scripts

CC       ?= cc
BUILD    ?= build/rel
SAN      ?= 0
OPT      ?= -O2

PCAP_CFLAGS := $(shell pkg-config --cflags libpcap 2>/dev/null)
PCAP_LIBS   := $(shell pkg-config --libs libpcap 2>/dev/null || echo -lpcap)
SLIRP_LIBS  := $(shell pkg-config --libs slirp glib-2.0 2>/dev/null)

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wvla
CPPFLAGS := -Iref/include -MMD -MP
CFLAGS   := -std=gnu11 $(WARN) -g
LDFLAGS  :=
ifeq ($(SAN),1)
CFLAGS   += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=address,undefined
else ifeq ($(FUZZ),1)
# `make fuzz` only: clang, coverage for libFuzzer, ASan+UBSan, and the
# fuzz-build behaviour of sim/engine/fuzzrec.c (ZT_FUZZING).
CFLAGS   += -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
            -fno-sanitize-recover=all -DZT_FUZZING
LDFLAGS  += -fsanitize=fuzzer,address,undefined
else ifeq ($(AFL),1)
# `make afl` only: CC is afl-clang-lto or afl-clang-fast (coverage for
# AFL++), ZT_FUZZING as for libFuzzer; ASan+UBSan unless AFL_SAN=0.
CFLAGS   += -O1 -fno-omit-frame-pointer -DZT_FUZZING
ifneq ($(AFL_SAN),0)
CFLAGS   += -fsanitize=address,undefined -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=address,undefined
endif
else
# OPT=-O1 for a valgrind build (tools/valgrind.sh: no sanitizer, -O1 -g)
CFLAGS   += $(OPT)
endif

REF_SRC   := $(sort $(wildcard ref/*/*.c))
HOST_SRC  := $(sort $(wildcard sim/io/*.c) $(wildcard sim/engine/*.c) $(wildcard sim/slirp/*.c))
UNIT_SRC  := $(sort $(wildcard tests/unit/*.c))
# sim/real: the real-mode host (TUN, epoll, sockets, netlink) as its own
# library; ztun_ref.c holds main() and stays out of it. It shares the
# software segmentation of sim/io/gso.c (no libpcap/libslirp needed).
REAL_SRC  := $(sort $(filter-out sim/real/ztun_ref.c,$(wildcard sim/real/*.c)) sim/io/gso.c)

REF_OBJ   := $(REF_SRC:%.c=$(BUILD)/%.o)
HOST_OBJ  := $(HOST_SRC:%.c=$(BUILD)/%.o)
UNIT_OBJ  := $(UNIT_SRC:%.c=$(BUILD)/%.o)
REAL_OBJ  := $(REAL_SRC:%.c=$(BUILD)/%.o)

LIBZTUN   := $(BUILD)/libztun.a
LIBHOST   := $(BUILD)/libztun-host.a
UNIT      := $(BUILD)/unit-tests
SIM       := $(BUILD)/ztun-sim
LIBREAL   := $(BUILD)/libztun-real.a
REFBIN    := $(BUILD)/ztun-ref

.PHONY: FORCE all check deps unit purity fixtures clean lint fuzz fuzz-bins fuzz-corpus \
	afl afl-bins
all: $(LIBZTUN) $(LIBHOST) $(UNIT) $(SIM) $(LIBREAL) $(REFBIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/sim/%.o: CPPFLAGS += -Isim $(PCAP_CFLAGS)
$(BUILD)/tests/%.o: CPPFLAGS += -Isim -Itests/unit $(PCAP_CFLAGS)

# A file's removal must rebuild the archive too: each archive depends on a
# list of its sources that changes only when that list does.
$(BUILD)/%.srclist: FORCE
	@mkdir -p $(dir $@)
	@echo '$(SRCLIST_$*)' | cmp -s - $@ || echo '$(SRCLIST_$*)' > $@
SRCLIST_ref  = $(REF_SRC)
SRCLIST_host = $(HOST_SRC)
SRCLIST_unit = $(UNIT_SRC)
SRCLIST_real = $(REAL_SRC)
FORCE:

$(LIBZTUN): $(REF_OBJ) $(BUILD)/ref.srclist
	@rm -f $@
	$(AR) rcs $@ $(REF_OBJ)

$(LIBHOST): $(HOST_OBJ) $(BUILD)/host.srclist
	@rm -f $@
	$(AR) rcs $@ $(HOST_OBJ)

# libztun-real.a only for its pure parts (the --auto-route state file).
# malloc is wrapped so that a test can make one allocation fail
# (zt_test_fail_malloc(), tests/unit/main.c); otherwise it passes through.
$(UNIT): $(UNIT_OBJ) $(LIBREAL) $(LIBHOST) $(LIBZTUN) $(BUILD)/unit.srclist
	$(CC) $(LDFLAGS) -Wl,--wrap=malloc -pthread -o $@ $(UNIT_OBJ) $(LIBREAL) $(LIBHOST) $(LIBZTUN) -lcunit $(PCAP_LIBS) $(SLIRP_LIBS)

# The simulator's command line; its main file sits outside sim/engine/ so
# that it stays out of libztun-host.a.
$(SIM): $(BUILD)/sim/ztun_sim.o $(LIBHOST) $(LIBZTUN)
	$(CC) $(LDFLAGS) -o $@ $(BUILD)/sim/ztun_sim.o $(LIBHOST) $(LIBZTUN) $(PCAP_LIBS) $(SLIRP_LIBS)

$(LIBREAL): $(REAL_OBJ) $(BUILD)/real.srclist
	@rm -f $@
	$(AR) rcs $@ $(REAL_OBJ)

# The real-mode binary (docs/cli.md, ztun-ref).
$(REFBIN): $(BUILD)/sim/real/ztun_ref.o $(LIBREAL) $(LIBZTUN)
	$(CC) $(LDFLAGS) -pthread -o $@ $(BUILD)/sim/real/ztun_ref.o $(LIBREAL) $(LIBZTUN)

# The core's purity, checked on the object code: libztun.a may call only the
# allow-listed libc functions (no clock, no I/O, no randomness) and may hold
# no writable global data.
purity: $(LIBZTUN)
	@tools/check-purity.sh $(LIBZTUN)

unit: all
	ZT_SRCDIR=$(CURDIR) $(UNIT)

# fault_inject.sh runs ztun-ref under strace: LeakSanitizer cannot work in a
# traced process (it stops the world with ptrace), so leaks are left to the
# other real-mode tests there.
check:
	$(MAKE) BUILD=build/rel all
	$(MAKE) SAN=1 BUILD=build/san all
	$(MAKE) BUILD=build/rel purity
	$(MAKE) lint
	ZT_SRCDIR=$(CURDIR) ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	  UBSAN_OPTIONS=print_stacktrace=1 build/san/unit-tests
	tests/cli/docs_refs.sh
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  tests/cli/ztun_sim_cli.sh build/san/ztun-sim
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  tests/cli/ztun_ref_cli.sh build/san/ztun-ref
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  tests/e2e/ztun_ref_e2e.sh build/san/ztun-ref
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  tests/e2e/scenario_real.sh build/san/ztun-ref
	ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  tests/e2e/fault_inject.sh build/san/ztun-ref
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  tests/e2e/lossy_path.sh build/san/ztun-ref
	$(MAKE) SAN=1 BUILD=build/san build/san/pcap2records
	ASAN_OPTIONS=detect_leaks=1 tools/fuzz/make-corpus.sh --check build/san/pcap2records
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  tests/cli/scenarios_twice.sh build/san/ztun-sim
	$(MAKE) SAN=1 BUILD=build/san afl-bins
	for t in $(FUZZ_TARGETS); do \
	  extra=; [ $$t = records ] && extra=tools/fuzz/regressions; \
	  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    build/san/afl_$$t tools/fuzz/corpus/$$t $$extra || exit 1; \
	done
	tools/valgrind.sh --quick build/rel

# Valgrind memcheck (tools/valgrind.sh): every scenario, every fixture
# replayed, the records corpus and regressions, and the e2e suite with
# ztun-ref under valgrind; a build without sanitizers at -O1 -g in build/vg.
# A few minutes; `make check` runs only the scenarios part, on build/rel.
.PHONY: valgrind
valgrind:
	$(MAKE) BUILD=build/vg OPT=-O1 all build/vg/afl_records
	tools/valgrind.sh build/vg

# Performance benchmark (root; docs/performance.md): ztun-ref through danted
# and tinyproxy vs the same proxies without the TUN, in network namespaces.
# Always a release build; results in build/bench/results.{txt,md}. Not part
# of `make check` (timing-dependent).
.PHONY: bench bench-sim
bench: bench-sim
	$(MAKE) BUILD=build/rel build/rel/ztun-ref
	tools/bench/bench.sh build/rel/ztun-ref build/bench

# The core alone, no root: ztun-sim replay of a 100,000-packet synthetic
# capture (frames/s) and callgrind instructions per data segment.
bench-sim:
	$(MAKE) BUILD=build/rel build/rel/ztun-sim
	tools/bench/sim_bench.sh build/rel/ztun-sim build/bench

# Regenerate pcap-fixtures/ from real traffic in network namespaces (root).
fixtures:
	tools/make-fixtures.sh pcap-fixtures

# Fuzzing (tools/fuzz/): every target is a libFuzzer LLVMFuzzerTestOneInput,
# built into build/fuzz by clang. `make fuzz FUZZ_SECONDS=N` runs each for N
# seconds on its seed corpus (tools/fuzz/corpus/<target>, read-only; new
# inputs go to build/fuzz/corpus/<target>), crashes go to
# tools/fuzz/crashes/<target>/ (not committed). `make check` never fuzzes:
# the unit suite `fuzzrec` replays the corpus and tools/fuzz/regressions/.
# FUZZ_FLAGS adds libFuzzer flags; FUZZ_TARGETS="records" picks targets.
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   ?=
FUZZ_TARGETS ?= packet records socks5 http_connect pcap scenario dns rules
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(BUILD)/fuzz_%)

$(BUILD)/fuzz_%: tools/fuzz/fuzz_%.c $(LIBHOST) $(LIBZTUN)
	$(CC) $(CPPFLAGS) -Isim $(PCAP_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< \
	  $(LIBHOST) $(LIBZTUN) $(PCAP_LIBS) $(SLIRP_LIBS)

# The pcap -> records converter that makes the records seed corpus.
$(BUILD)/pcap2records: tools/fuzz/pcap2records.c $(LIBHOST) $(LIBZTUN)
	$(CC) $(CPPFLAGS) -Isim $(PCAP_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< \
	  $(LIBHOST) $(LIBZTUN) $(PCAP_LIBS) $(SLIRP_LIBS)

fuzz-bins: $(FUZZ_BINS)

# The same targets with tools/fuzz/afl_driver.c as main(): AFL++ persistent
# mode when CC is afl-clang-*, else a replayer of the files and directories
# on its command line (`make check` builds and runs these in build/san).
AFL_BINS := $(FUZZ_TARGETS:%=$(BUILD)/afl_%)

$(BUILD)/afl_%: tools/fuzz/afl_driver.c tools/fuzz/fuzz_%.c $(LIBHOST) $(LIBZTUN)
	$(CC) $(CPPFLAGS) -Isim $(PCAP_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ \
	  tools/fuzz/afl_driver.c tools/fuzz/fuzz_$*.c \
	  $(LIBHOST) $(LIBZTUN) $(PCAP_LIBS) $(SLIRP_LIBS)

afl-bins: $(AFL_BINS)

# `make afl AFL_SECONDS=N AFL_TARGET=records`: build the target with AFL++'s
# compiler into build/afl (afl-clang-lto when it works, else afl-clang-fast;
# llvm-ar for the LTO bitcode archives) and run afl-fuzz for N seconds on
# tools/fuzz/corpus/<target> (seeds over AFL_MAX_SEED bytes left out),
# output in build/afl/out/<target>; prints exec/s, edges and crashes from
# fuzzer_stats (tools/fuzz/afl.sh). AFL_SAN=0 builds without ASan+UBSan;
# the flags are not tracked, so give it its own AFL_BUILD (build/afl-nosan).
AFL_SECONDS  ?= 60
AFL_TARGET   ?= records
AFL_MAX_SEED ?= 65536
AFL_SAN      ?= 1
AFL_BUILD    ?= build/afl
AFL_CC       ?= $(shell if command -v afl-clang-lto >/dev/null 2>&1 && \
	command -v llvm-ar >/dev/null 2>&1; then echo afl-clang-lto; else echo afl-clang-fast; fi)
AFL_AR       ?= $(if $(findstring lto,$(AFL_CC)),llvm-ar,ar)
# These are make's settings, not AFL++'s: afl-cc itself reads AFL_CC as
# the compiler to wrap (AFL_CC=afl-clang-fast on the command line would make
# it call itself for ever), and afl-fuzz warns about unknown AFL_* names.
unexport AFL_SECONDS AFL_TARGET AFL_MAX_SEED AFL_SAN AFL_BUILD AFL_CC AFL_AR
afl:
	@command -v afl-fuzz >/dev/null 2>&1 || { echo "afl-fuzz is missing (make deps)"; exit 1; }
	$(MAKE) AFL=1 AFL_SAN=$(AFL_SAN) CC=$(AFL_CC) AR=$(AFL_AR) BUILD=$(AFL_BUILD) \
	  FUZZ_TARGETS="$(AFL_TARGET)" afl-bins
	AFL_MAX_SEED=$(AFL_MAX_SEED) tools/fuzz/afl.sh $(AFL_BUILD) $(AFL_SECONDS) $(AFL_TARGET)

fuzz:
	$(MAKE) FUZZ=1 CC=clang BUILD=build/fuzz fuzz-bins
	FUZZ_FLAGS="$(FUZZ_FLAGS)" tools/fuzz/run.sh build/fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Regenerate tools/fuzz/corpus/records/pcap-* from pcap-fixtures/.
fuzz-corpus: $(BUILD)/pcap2records
	tools/fuzz/make-corpus.sh $(BUILD)/pcap2records

DEPS := build-essential pkg-config libpcap-dev libcunit1-dev libslirp-dev \
        libglib2.0-dev tcpdump tshark iproute2 iputils-ping curl dnsutils socat \
        iperf3 dante-server microsocks tinyproxy dnsmasq traceroute python3 valgrind \
        clang cppcheck afl++ strace
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
deps:
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEPS)

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --inline-suppr --suppress=missingIncludeSystem -Iref/include ref sim tests/unit

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
