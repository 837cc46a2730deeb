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

# The jail of the UML process (tests/jail/): a real UML run looked at from
# the host while a hostile program runs in place of linux.uml in a second
# instance. Its sandbox-run is build/tests/sandbox-run-test: the same
# sources built with SANDBOX_TEST_HOOKS (--exec-instead, --exec-arg), into
# build/hooks/, never into build/sandbox-run. Needs root.
HOOKS_SRCS := sandbox/sandbox_run_main.c sandbox/crash_cause.c $(SANDBOX_SRCS) \
	$(SANDBOX_ARCHIVE_SRCS) $(COMMON_SRCS)
$(B)/hooks/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DSANDBOX_TEST_HOOKS -MMD -MP -c -o $@ $<
$(B)/tests/sandbox-run-test: $(patsubst %.c,$(B)/hooks/%.o,$(HOOKS_SRCS)) | $(B)/tmc-unpack
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm
# Static: the jail holds no libc for it.
$(B)/tests/jail-hostile: tests/jail/hostile.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(STATIC_CFLAGS) -static -o $@ $<
$(B)/tests/jail_test: $(B)/obj/tests/jail/jail_test.o $(patsubst %.c,$(B)/obj/%.o,sandbox/huge_pages.c $(COMMON_SRCS))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CHECK_LIBS)

.PHONY: jail-test
INTEGRATION_TESTS += jail-test
jail-test: $(B)/tests/jail_test $(B)/tests/sandbox-run-test $(B)/tests/jail-hostile \
		$(B)/sandbox-run $(IMAGES)
	$(B)/tests/jail_test $(B)
-include $(shell find $(B)/hooks -name '*.d' 2>/dev/null)
