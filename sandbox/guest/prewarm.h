/*
 * prewarm.h: the page-cache warm-up of a pre-booted guest (prewarm.c).
 */
#ifndef TMC_GUEST_PREWARM_H
#define TMC_GUEST_PREWARM_H

#include <sys/types.h>

/* Forks the reader; its pid, or -1 when fork failed (nothing to stop). */
pid_t prewarm_start(void);
/* Kills and reaps it; a finished reader is reaped the same way. */
void prewarm_stop(pid_t pid);
/* The files it reads, in order (for tests: a missing one is skipped
 * silently in the guest). */
const char *const *prewarm_list(size_t *count);

#endif
