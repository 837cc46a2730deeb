# server/: sandboxd, the HTTP task service (see server/main.c), its unit
# suites and the HTTP integration tests against the real daemon.
SERVER_SRCS := server/config.c server/http.c server/intake.c server/runner.c server/preboot.c \
	server/notify.c server/notify_acl.c server/spool.c server/status.c server/history.c \
	server/status_page.c server/status_layers.c

# The status page's files, built into sandboxd (the assembler's .incbin
# reads them from the top of the tree); one object for both builds.
PAGE_DATA := $(B)/obj/server/status_page_data.o
$(PAGE_DATA): server/status_page_data.S web/status/index.html web/status/status.js web/status/status.css | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) -c -o $@ $<

# The upload limits' defaults and caps live in privsep.c (no archive code).
PRIVSEP_SRCS := sandbox/privsep.c sandbox/output_set.c sandbox/utf8.c

UNIT_TESTS += check_upload_tar
check_upload_tar_SRCS := sandbox/upload_tar.c sandbox/tar_rules.c $(PRIVSEP_SRCS) $(COMMON_SRCS)

UNIT_TESTS += check_intake
check_intake_SRCS := server/intake.c sandbox/utf8.c $(COMMON_SRCS)

# No archive code in sandboxd: uploads and output.tar are parsed by
# tmc-unpack (sandbox/privsep.c), which it needs next to its images.
PROGRAMS += sandboxd
$(B)/sandboxd: $(patsubst %.c,$(B)/obj/%.o,server/main.c $(SERVER_SRCS) $(SANDBOX_SRCS) $(COMMON_SRCS)) $(PAGE_DATA) | $(B)/tmc-unpack
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread -lm

# The same daemon with ASan/UBSan, for the leak run of the HTTP tests.
$(B)/asan/sandboxd: $(patsubst %.c,$(B)/asan/%.o,server/main.c $(SERVER_SRCS) $(SANDBOX_SRCS) $(COMMON_SRCS)) $(PAGE_DATA) | $(B)/tmc-unpack
	$(CC) $(SAN) -o $@ $^ $(PKG_LIBS) -lpthread -lm

# HTTP integration tests: the real daemon, real UML, a real receiver.
# HTTP_TESTS=name... runs a subset; HTTP_TEST_ARGS (environment) adds
# daemon flags, e.g. HTTP_TEST_ARGS="--scout off". Needs root.
$(B)/tests/http_test: $(B)/obj/tests/http/http_test.o $(B)/obj/tests/lib/http_harness.o $(B)/obj/tests/lib/gem_tar.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

.PHONY: http-test
INTEGRATION_TESTS += http-test
http-test: $(B)/tests/http_test $(B)/sandboxd $(B)/asan/sandboxd $(IMAGES)
	$(B)/tests/http_test $(B)/sandboxd $(B) $(HTTP_TESTS)

UNIT_TESTS += check_config check_spool check_notify check_history
check_config_SRCS := server/config.c server/notify_acl.c sandbox/cpu_affinity.c sandbox/layer.c $(PRIVSEP_SRCS) $(COMMON_SRCS)
check_spool_SRCS := server/spool.c sandbox/result_truncated.c $(COMMON_SRCS)
check_history_SRCS := server/history.c
check_notify_SRCS := server/notify.c server/notify_acl.c server/spool.c server/status.c server/history.c \
	server/status_layers.c server/config.c sandbox/cpu_affinity.c sandbox/layer.c sandbox/result_truncated.c \
	$(PRIVSEP_SRCS) \
	$(COMMON_SRCS)

.PHONY: http-bench
BENCHES += http-bench
http-bench: $(B)/tests/http_test $(B)/sandboxd $(IMAGES)
	$(B)/tests/http_test --bench $(B)/sandboxd $(B)
