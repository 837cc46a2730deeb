# sandbox/: the host side as a library (libsandbox objects) and the
# `sandbox-run` CLI. upload_tar.c belongs to the HTTP intake work and is
# linked in as soon as it exists.
SANDBOX_SRCS := sandbox/sandbox.c sandbox/result.c sandbox/uml.c sandbox/cgroup.c \
	sandbox/vmlog.c sandbox/output_tar.c sandbox/task_tar.c sandbox/utf8.c \
	$(wildcard sandbox/upload_tar.c)

PROGRAMS += sandbox-run
$(B)/sandbox-run: $(B)/obj/sandbox/sandbox_run_main.o $(patsubst %.c,$(B)/obj/%.o,$(SANDBOX_SRCS) $(COMMON_SRCS))
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

