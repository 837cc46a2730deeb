# tests/fuzz/: libFuzzer harnesses (clang) for the parsers of hostile
# bytes, beside the channel's (sandbox/scout.mk): the multipart intake,
# the output.tar reader and result building. Each starts from its seed
# corpus in tests/fuzz/corpus/<name>/ (read only; what the fuzzer finds
# goes to build/fuzz/corpus-<name>/). `make test` runs each for
# FUZZ_SMOKE_SECONDS; `make fuzz` for FUZZ_SECONDS (default 600).
# FUZZ_CC, FUZZ_FLAGS: sandbox/scout.mk.

FUZZ_SMOKE_SECONDS ?= 10
FUZZ_TARGETS := intake output_tar result

fuzz_intake_SRCS := server/intake.c sandbox/utf8.c $(COMMON_SRCS)
fuzz_output_tar_SRCS := sandbox/output_tar.c sandbox/output_set.c sandbox/utf8.c $(COMMON_SRCS)
fuzz_result_SRCS := sandbox/result.c sandbox/result_truncated.c sandbox/output_set.c sandbox/vmlog.c sandbox/utf8.c $(COMMON_SRCS)

define fuzz_target_rules
$(B)/fuzz/fuzz_$(1): tests/fuzz/fuzz_$(1).c $$(fuzz_$(1)_SRCS) $$(wildcard sandbox/*.h server/*.h common/*.h)
	@mkdir -p $$(dir $$@)
	$$(FUZZ_CC) $$(FUZZ_FLAGS) $$(PKG_CFLAGS) -o $$@ $$(filter %.c,$$^) $$(PKG_LIBS) -lm
.PHONY: fuzz-$(1) fuzz-$(1)-smoke
fuzz-$(1): $(B)/fuzz/fuzz_$(1)
	@mkdir -p $(B)/fuzz/corpus-$(1)
	$(B)/fuzz/fuzz_$(1) -max_total_time=$$$${FUZZ_SECONDS:-600} -max_len=65536 \
		$(B)/fuzz/corpus-$(1) tests/fuzz/corpus/$(1)
fuzz-$(1)-smoke: $(B)/fuzz/fuzz_$(1)
	@mkdir -p $(B)/fuzz/corpus-$(1)
	$(B)/fuzz/fuzz_$(1) -max_total_time=$(FUZZ_SMOKE_SECONDS) -max_len=65536 \
		$(B)/fuzz/corpus-$(1) tests/fuzz/corpus/$(1)
FUZZERS += fuzz-$(1)
INTEGRATION_TESTS += fuzz-$(1)-smoke
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call fuzz_target_rules,$(t))))
