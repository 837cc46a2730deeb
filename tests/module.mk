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

# Debian 13 as a host (tests/debian13/run.sh): the host programs, guest
# programs and tests built in a Debian 13 chroot against its libraries, the
# unit suites and the e2e cases run there on these images. Needs root.
# `make test` runs it last, after every other suite (see the Makefile).
.PHONY: test-debian13
DEBIAN13_TEST = tests/debian13/run.sh $(B)
test-debian13: $(IMAGES)
	$(DEBIAN13_TEST)
