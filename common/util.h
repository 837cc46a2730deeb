/*
 * util.h: small helpers every part needs: strict number parsing, whole
 * reads and writes that survive EINTR and short counts, monotonic time.
 * Library-like: never logs; returns 0 / -1 (errno set) or fills err.
 */
#ifndef TMC_UTIL_H
#define TMC_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* util.c */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int parse_size(const char *s, uint64_t max, uint64_t *out);
ssize_t read_full(int fd, void *buf, size_t len);
int write_full(int fd, const void *buf, size_t len);
double mono_now(void);
int mkdir_p(const char *path, mode_t mode);
int rm_rf(const char *path);
char *self_dir(void);
int drop_ids(uid_t uid, gid_t gid);
#define FDS_PASS_MAX 4
int send_fds(int sock, const int *fds, size_t n);
int recv_fds(int sock, int *fds, size_t n);

#endif
