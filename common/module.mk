# common/: logging and small utilities shared by every program.
COMMON_SRCS := common/log.c common/util.c
UNIT_TESTS += check_util
check_util_SRCS := $(COMMON_SRCS)
