/*
 * http_harness.h: what the two HTTP integration programs
 * (tests/http/http_test.c, tests/deploy/deploy_test.c) share.
 *
 *   harness_now_s, CHECK      the monotonic clock and the failed-check count
 *   harness_run_test          one test with its "-- ", "ok " or "FAIL " lines
 *   harness_proc_*            every child started, so that it can be ended
 *   harness_rx_*              the notify receiver (libmicrohttpd, this process)
 *   harness_http_get/post_task  the client side (libcurl)
 *   harness_daemon_*          a sandboxd on a socket bound here (port 0: the
 *                             OS picks) and handed over with --listen-fd
 *
 * It owns no policy: what a test expects, its timeouts and the daemon's
 * extra flags stay in the program that runs it. Not thread-safe except the
 * receiver, whose notes are guarded by harness_rx.lock.
 */
#ifndef TESTS_LIB_HTTP_HARNESS_H
#define TESTS_LIB_HTTP_HARNESS_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

extern int harness_checks_failed;
extern const char *harness_current_test;

/* One line per failed check, named after the test that runs. */
#define CHECK(cond, ...) do {                                           \
		if (!(cond)) {                                          \
			harness_checks_failed++;                        \
			printf("    FAIL %s:%d [%s] ", __FILE__, __LINE__, harness_current_test); \
			printf(__VA_ARGS__);                            \
			printf("\n");                                   \
			fflush(stdout);                                 \
		}                                                       \
	} while (0)

double harness_now_s(void);
int harness_run_test(const char *name, void (*fn)(void));
int harness_selected(const char *name, char *const *names, int n);

/* Started processes. harness_procs_end is async-signal-safe. */
void harness_proc_add(pid_t pid);
void harness_proc_del(pid_t pid);
void harness_procs_end(void);

/* The receiver: every POST to it is counted; the first fail_next are
 * answered 500, the others recorded (up to HARNESS_RX_MAX) and answered
 * 200. JSON bodies and form bodies are decoded into fields. */
#define HARNESS_RX_MAX 512

struct harness_note {
	char ctype[128];
	char *body;
	size_t len;
	json_t *fields;		/* the decoded notification, NULL if not decodable */
	double at;		/* harness_now_s() on arrival */
};

struct harness_receiver {
	struct MHD_Daemon *mhd;
	unsigned port;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct harness_note notes[HARNESS_RX_MAX];
	size_t nnotes;
	unsigned attempts;	/* every POST, answered 2xx or not */
	int fail_next;		/* answer 500 this many times */
};

extern struct harness_receiver harness_rx;

int harness_rx_start(unsigned port);
void harness_rx_stop(void);
void harness_rx_reset(void);
size_t harness_rx_wait(size_t count, double timeout);
const char *harness_rx_str(size_t i, const char *key);
long harness_rx_find(const char *key, const char *value);
void harness_notify_url(char *buf, size_t len, unsigned port);

/* A field of a multipart POST; file parts name a path. */
struct harness_part {
	const char *name;
	const char *value;	/* NULL ends the list */
	size_t len;		/* 0: strlen(value) */
	int is_file;
};

long harness_http_get(unsigned port, const char *path, char **body);
long harness_post_task(unsigned port, const char *path, const struct harness_part *parts, long timeout_s,
    char **body);

struct harness_daemon {
	pid_t pid;
	int fd;			/* bound on first start, kept across restarts */
	unsigned port;
	char work[300];
	char log[320];
	const char *bin;	/* for the program's own use (a default binary) */
};

int harness_bind_any(unsigned *port);
void harness_daemon_init(struct harness_daemon *d, const char *root, const char *name);
int harness_daemon_start(struct harness_daemon *d, const char *bin, const char *const *extra);
int harness_daemon_stop(struct harness_daemon *d, int sig);
void harness_daemon_fini(struct harness_daemon *d);

#endif
