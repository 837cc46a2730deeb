# sandbox/: the host side as a library (libsandbox objects) and the
# `sandbox-run` CLI. upload_tar.c belongs to the HTTP intake work and is
# linked in as soon as it exists.
# policy.c, channel.c, command_center.c (Scout's host end, see scout.mk)
# serve the guest's serial line during a run.
SANDBOX_SRCS := sandbox/sandbox.c sandbox/result.c sandbox/uml.c sandbox/cgroup.c \
	sandbox/vmlog.c sandbox/output_tar.c sandbox/task_tar.c sandbox/utf8.c \
	sandbox/policy.c sandbox/channel.c sandbox/command_center.c \
	$(wildcard sandbox/upload_tar.c)

PROGRAMS += sandbox-run
$(B)/sandbox-run: $(B)/obj/sandbox/sandbox_run_main.o $(patsubst %.c,$(B)/obj/%.o,$(SANDBOX_SRCS) $(COMMON_SRCS))
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

UNIT_TESTS += check_utf8 check_vmlog check_output_tar check_result check_sandbox
check_utf8_SRCS := sandbox/utf8.c $(COMMON_SRCS)
check_vmlog_SRCS := sandbox/vmlog.c sandbox/utf8.c $(COMMON_SRCS)
check_output_tar_SRCS := sandbox/output_tar.c sandbox/utf8.c $(COMMON_SRCS)
check_result_SRCS := sandbox/result.c sandbox/output_tar.c sandbox/vmlog.c sandbox/utf8.c $(COMMON_SRCS)
# Boots the real images when they exist (and says so when they do not).
check_sandbox_SRCS := $(SANDBOX_SRCS) $(COMMON_SRCS)
