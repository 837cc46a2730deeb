# tests/: the end-to-end runner over tests/cases/ (real UML boots through
# the real sandbox-run) and the guest checks that need a root shell.

$(B)/tests/run_cases: $(B)/obj/tests/e2e/run_cases.o $(patsubst %.c,$(B)/obj/%.o,$(COMMON_SRCS) tests/lib/proc_scan.c)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CHECK_LIBS)

.PHONY: e2e-test
INTEGRATION_TESTS += e2e-test
e2e-test: $(B)/tests/run_cases all
	$(B)/tests/run_cases $(B) tests/cases tests/exercises $(CASES)

.PHONY: guest-shell-test
INTEGRATION_TESTS += guest-shell-test
guest-shell-test: images
	tests/guest/shell_test.sh
-include tests/fuzz/module.mk
