# sandbox/: the host side as a library (libsandbox objects), the
# `sandbox-run` CLI and `tmc-unpack`, the confined parser of hostile
# archives (privsep.c).
# policy.c, channel.c, command_center.c (Scout's host end, see scout.mk)
# serve the guest's serial line during a run.
# SANDBOX_SRCS has no archive code: sandboxd links it without libarchive.
# The parsers themselves (SANDBOX_ARCHIVE_SRCS) run in tmc-unpack; task_tar.c
# packs a trusted exercise dir for sandbox-run.
SANDBOX_SRCS := sandbox/sandbox.c sandbox/result.c sandbox/uml.c sandbox/cgroup.c \
	sandbox/vmlog.c sandbox/output_set.c sandbox/utf8.c sandbox/privsep.c \
	sandbox/policy.c sandbox/channel.c sandbox/command_center.c sandbox/jail.c \
	sandbox/host_filter.c sandbox/uid_slot.c sandbox/cpu_affinity.c sandbox/preboot.c \
	sandbox/layer.c sandbox/huge_pages.c sandbox/result_truncated.c
SANDBOX_ARCHIVE_SRCS := sandbox/upload_tar.c sandbox/output_tar.c sandbox/task_tar.c sandbox/tar_rules.c

PROGRAMS += sandbox-run tmc-unpack
$(B)/sandbox-run: $(B)/obj/sandbox/sandbox_run_main.o $(B)/obj/sandbox/crash_cause.o $(patsubst %.c,$(B)/obj/%.o,$(SANDBOX_SRCS) $(SANDBOX_ARCHIVE_SRCS) $(COMMON_SRCS)) | $(B)/tmc-unpack
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

UNPACK_SRCS := sandbox/upload_tar.c sandbox/tar_rules.c sandbox/output_tar.c sandbox/output_set.c sandbox/utf8.c \
	sandbox/privsep.c $(COMMON_SRCS)
$(B)/tmc-unpack: $(B)/obj/sandbox/unpack_main.o $(patsubst %.c,$(B)/obj/%.o,$(UNPACK_SRCS))
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

UNIT_TESTS += check_cpu_affinity
check_cpu_affinity_SRCS := sandbox/cpu_affinity.c $(COMMON_SRCS)

UNIT_TESTS += check_huge_pages
check_huge_pages_SRCS := sandbox/huge_pages.c

UNIT_TESTS += check_prewarm
check_prewarm_SRCS := sandbox/guest/prewarm.c

UNIT_TESTS += check_crash_cause
check_crash_cause_SRCS := sandbox/crash_cause.c

UNIT_TESTS += check_utf8 check_vmlog check_output_tar check_result check_sandbox
check_utf8_SRCS := sandbox/utf8.c $(COMMON_SRCS)
check_vmlog_SRCS := sandbox/vmlog.c sandbox/utf8.c $(COMMON_SRCS)
check_output_tar_SRCS := sandbox/output_tar.c sandbox/output_set.c sandbox/utf8.c $(COMMON_SRCS)
check_result_SRCS := sandbox/result.c sandbox/result_truncated.c sandbox/output_tar.c sandbox/output_set.c sandbox/vmlog.c \
	sandbox/utf8.c $(COMMON_SRCS)
# Boots the real images when they exist (and says so when they do not);
# output.tar is read by build/tmc-unpack.
check_sandbox_SRCS := $(SANDBOX_SRCS) $(SANDBOX_ARCHIVE_SRCS) $(COMMON_SRCS) tests/lib/proc_scan.c
$(B)/tests/check_sandbox $(B)/asan/tests/check_sandbox: | $(B)/tmc-unpack

# The confinement and the answer's caps with test parsers in the forked
# child, and the real build/tmc-unpack against the in-process parsers.
UNIT_TESTS += check_privsep
check_privsep_SRCS := $(SANDBOX_SRCS) $(SANDBOX_ARCHIVE_SRCS) $(COMMON_SRCS)
$(B)/tests/check_privsep $(B)/asan/tests/check_privsep: | $(B)/tmc-unpack

# An upload's path from the intake's check to the guest's unpacker
# (sandbox/guest/task_unpack.c, which tmc-init links statically), with
# tars made by GNU tar, bsdtar, Python's tarfile and the Gem layout.
UNIT_TESTS += check_task_unpack
check_task_unpack_SRCS := sandbox/guest/task_unpack.c sandbox/tar_rules.c sandbox/upload_tar.c \
	sandbox/privsep.c sandbox/output_set.c sandbox/utf8.c $(COMMON_SRCS) tests/lib/gem_tar.c

# The host uid slots (held by flock; no uid is ever handed out twice).
UNIT_TESTS += check_uid_slot
check_uid_slot_SRCS := sandbox/uid_slot.c $(COMMON_SRCS)
# Layers: the name rule, NAME=FILE with real images from tools/make-layer,
# a task's `layers` list, and the kernel command line (uml.c).
UNIT_TESTS += check_layer
check_layer_SRCS := sandbox/layer.c sandbox/uml.c sandbox/jail.c sandbox/host_filter.c $(COMMON_SRCS)
