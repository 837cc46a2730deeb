# sandbox/scout.mk: Scout (sandbox/SCOUT.md): the static `carrier` for the
# guest and the plain host, the Command Center library, their unit tests,
# the host-level carrier tests, the channel fuzzer and the trap benchmark.

SCOUT_LIB_SRCS := sandbox/policy.c sandbox/channel.c sandbox/command_center.c
CARRIER_SRCS := sandbox/guest/carrier_main.c sandbox/guest/flight_deck.c \
	sandbox/guest/scout_filter.c sandbox/guest/scout_supervisor.c \
	$(SCOUT_LIB_SRCS) common/log.c common/util.c

GUEST_PROGRAMS += carrier
$(B)/carrier: $(patsubst %.c,$(B)/static/%.o,$(CARRIER_SRCS)) $(B)/static/sandbox/guest/scout_filter_data.o
	@mkdir -p $(dir $@)
	$(CC) -static -o $@ $^ -lseccomp -ljansson

# The filter's BPF program, made once here by libseccomp and built into the
# Carrier (scout_filter_gen.c says why).
SCOUT_FILTER_BPF := $(B)/scout-filter.bpf
$(B)/scout-filter-gen: $(patsubst %.c,$(B)/obj/%.o,sandbox/guest/scout_filter_gen.c \
    sandbox/guest/scout_filter.c $(COMMON_SRCS))
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)
$(SCOUT_FILTER_BPF): $(B)/scout-filter-gen
	$< $@
$(B)/static/sandbox/guest/scout_filter_data.o: sandbox/guest/scout_filter_data.S $(SCOUT_FILTER_BPF)
	@mkdir -p $(dir $@)
	$(CC) -c -DSCOUT_FILTER_BPF='"$(SCOUT_FILTER_BPF)"' -o $@ $<

UNIT_TESTS += check_policy check_channel check_command_center
check_policy_SRCS := sandbox/policy.c $(COMMON_SRCS)
check_channel_SRCS := sandbox/channel.c $(COMMON_SRCS)
check_command_center_SRCS := $(SCOUT_LIB_SRCS) $(COMMON_SRCS)

# Host-level tests: the real carrier against small programs (tests/carrier/).
SCOUT_TEST_PROGS := $(patsubst tests/carrier/%.c,$(B)/tests/carrier/%,$(wildcard tests/carrier/*.c))
$(B)/tests/carrier/channel_host: $(patsubst %.c,$(B)/obj/%.o,$(SCOUT_LIB_SRCS) $(COMMON_SRCS))
$(B)/tests/carrier/threads $(B)/tests/carrier/probe: CARRIER_TEST_LIBS := -pthread
$(B)/tests/carrier/channel_host: CARRIER_TEST_LIBS := $(PKG_LIBS)
$(B)/tests/carrier/%: tests/carrier/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O1 -g $(WARN) -I. -o $@ $(filter %.c %.o,$^) $(CARRIER_TEST_LIBS)

.PHONY: carrier-test fuzz-channel fuzz-channel-smoke bench-scout
carrier-test: $(B)/carrier $(SCOUT_TEST_PROGS)
	tests/carrier/run.sh $(B)/carrier $(B)/tests/carrier
INTEGRATION_TESTS += carrier-test

# libFuzzer harness for the host end of the channel (clang only).
FUZZ_CC ?= clang
FUZZ_FLAGS := -std=gnu11 -g -O1 -I. -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
$(B)/fuzz/fuzz_channel: tests/fuzz/fuzz_channel.c $(SCOUT_LIB_SRCS) $(COMMON_SRCS) sandbox/scout.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(filter %.c,$^) $(PKG_LIBS)
fuzz-channel: $(B)/fuzz/fuzz_channel
	@mkdir -p $(B)/fuzz/corpus-channel
	$(B)/fuzz/fuzz_channel -max_total_time=$${FUZZ_SECONDS:-600} -max_len=16384 $(B)/fuzz/corpus-channel tests/fuzz/corpus/channel
fuzz-channel-smoke: $(B)/fuzz/fuzz_channel
	@mkdir -p $(B)/fuzz/corpus-channel
	$(B)/fuzz/fuzz_channel -max_total_time=20 -max_len=16384 $(B)/fuzz/corpus-channel tests/fuzz/corpus/channel
FUZZERS += fuzz-channel
INTEGRATION_TESTS += fuzz-channel-smoke

# The cost of one trapped open on the host (the guest figure is the lead's
# bench, running the same program inside UML).
bench-scout: $(B)/carrier $(B)/tests/carrier/bench_open
	tests/carrier/bench.sh $(B)/carrier $(B)/tests/carrier/bench_open
BENCHES += bench-scout
