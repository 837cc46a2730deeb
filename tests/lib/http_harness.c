/*
 * http_harness.c: the pieces the HTTP integration programs share (see
 * http_harness.h): the clock and check counter, the table of started
 * processes, the notify receiver, the libcurl client calls and a sandboxd
 * started on a socket this process bound.
 *
 * It must never loosen what a test checks: every bound and timeout that is
 * a test's choice is the caller's argument; the ones fixed here (10 s per
 * GET, 20 s for a daemon to answer /status.json) are the same for both.
 */
#define _GNU_SOURCE
#include "tests/lib/http_harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXPROC 32

int harness_checks_failed;
const char *harness_current_test;

double harness_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------ started processes */

/* Every child the harness starts, so that harness_procs_end() can end it
 * whatever happened. Signal-safe: only kill/waitpid on the fixed table. */
static volatile pid_t procs[MAXPROC];

void harness_proc_add(pid_t pid)
{
	for (int i = 0; i < MAXPROC; i++)
		if (procs[i] == 0) {
			procs[i] = pid;
			return;
		}
}

void harness_proc_del(pid_t pid)
{
	for (int i = 0; i < MAXPROC; i++)
		if (procs[i] == pid)
			procs[i] = 0;
}

/* TERM, up to 15 s for drains (sandboxd finishes its task; its UML has
 * parent-death SIGKILL), then KILL. */
void harness_procs_end(void)
{
	int left = 0;

	for (int i = 0; i < MAXPROC; i++)
		if (procs[i] > 0 && kill(procs[i], SIGTERM) == 0)
			left++;
	for (int t = 0; left > 0 && t < 150; t++) {
		left = 0;
		for (int i = 0; i < MAXPROC; i++) {
			if (procs[i] <= 0)
				continue;
			if (waitpid(procs[i], NULL, WNOHANG) == procs[i])
				procs[i] = 0;
			else
				left++;
		}
		if (left > 0)
			usleep(100000);
	}
	for (int i = 0; i < MAXPROC; i++)
		if (procs[i] > 0) {
			kill(procs[i], SIGKILL);
			waitpid(procs[i], NULL, 0);
			procs[i] = 0;
		}
}

/* One test: "-- name", then "ok   name (T s)" when it failed no check, else
 * "FAIL name (T s)"; 1 when it passed. */
int harness_run_test(const char *name, void (*fn)(void))
{
	int before = harness_checks_failed;
	double t0 = harness_now_s();

	harness_current_test = name;
	printf("-- %s\n", name);
	fn();
	if (harness_checks_failed == before) {
		printf("ok   %s (%.1fs)\n", name, harness_now_s() - t0);
		return 1;
	}
	printf("FAIL %s (%.1fs)\n", name, harness_now_s() - t0);
	return 0;
}

/* Whether the command line selects this test: no names select all. */
int harness_selected(const char *name, char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return 1;
	return n <= 0;
}

/* ---------------------------------------------------------------- receiver */

struct harness_receiver harness_rx = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

struct rx_req {
	char *body;
	size_t len;
	json_t *form;
	struct MHD_PostProcessor *pp;
};

static enum MHD_Result rx_form_field(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *filename, const char *ctype, const char *enc, const char *data, uint64_t off, size_t size)
{
	json_t *form = cls;
	json_t *old = json_object_get(form, key);
	char *joined;
	size_t oldlen = old ? json_string_length(old) : 0;

	(void)kind;
	(void)filename;
	(void)ctype;
	(void)enc;
	(void)off;
	joined = malloc(oldlen + size + 1);
	if (joined == NULL)
		return MHD_NO;
	if (old)
		memcpy(joined, json_string_value(old), oldlen);
	memcpy(joined + oldlen, data, size);
	joined[oldlen + size] = '\0';
	json_object_set_new(form, key, json_stringn_nocheck(joined, oldlen + size));
	free(joined);
	return MHD_YES;
}

static enum MHD_Result rx_handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
    const char *version, const char *data, size_t *size, void **con_cls)
{
	struct rx_req *r = *con_cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	unsigned code = 200;
	const char *ct;

	(void)cls;
	(void)url;
	(void)version;
	if (r == NULL) {
		r = calloc(1, sizeof(*r));
		if (r == NULL)
			return MHD_NO;
		*con_cls = r;
		ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
		if (ct != NULL && strncmp(ct, "application/x-www-form-urlencoded", 33) == 0) {
			r->form = json_object();
			r->pp = MHD_create_post_processor(c, 65536, rx_form_field, r->form);
		}
		return MHD_YES;
	}
	if (*size > 0) {
		char *nb = realloc(r->body, r->len + *size + 1);

		if (nb == NULL)
			return MHD_NO;
		memcpy(nb + r->len, data, *size);
		r->body = nb;
		r->len += *size;
		r->body[r->len] = '\0';
		if (r->pp != NULL)
			MHD_post_process(r->pp, data, *size);
		*size = 0;
		return MHD_YES;
	}
	pthread_mutex_lock(&harness_rx.lock);
	harness_rx.attempts++;
	if (strcmp(method, "POST") != 0) {
		code = 405;
	} else if (harness_rx.fail_next > 0) {
		harness_rx.fail_next--;
		code = 500;
	} else if (harness_rx.nnotes < HARNESS_RX_MAX) {
		struct harness_note *n = &harness_rx.notes[harness_rx.nnotes++];

		ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
		snprintf(n->ctype, sizeof(n->ctype), "%s", ct ? ct : "");
		n->body = r->body;
		n->len = r->len;
		r->body = NULL;
		n->at = harness_now_s();
		if (r->form != NULL)
			n->fields = json_incref(r->form);
		else
			n->fields = json_loadb(n->body ? n->body : "", n->len, 0, NULL);
		pthread_cond_broadcast(&harness_rx.cond);
	}
	pthread_mutex_unlock(&harness_rx.lock);
	resp = MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(c, code, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void rx_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
	struct rx_req *r = *con_cls;

	(void)cls;
	(void)c;
	(void)t;
	if (r == NULL)
		return;
	if (r->pp != NULL)
		MHD_destroy_post_processor(r->pp);
	json_decref(r->form);
	free(r->body);
	free(r);
	*con_cls = NULL;
}

/* port 0: any free port (remembered in harness_rx.port); else that port
 * again. */
int harness_rx_start(unsigned port)
{
	const union MHD_DaemonInfo *info;

	harness_rx.mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, (uint16_t)port, NULL,
	    NULL, rx_handler, NULL, MHD_OPTION_NOTIFY_COMPLETED, rx_done, NULL,
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, 1U, MHD_OPTION_END);
	if (harness_rx.mhd == NULL)
		return -1;
	info = MHD_get_daemon_info(harness_rx.mhd, MHD_DAEMON_INFO_BIND_PORT);
	harness_rx.port = info ? info->port : port;
	return 0;
}

void harness_rx_stop(void)
{
	if (harness_rx.mhd != NULL)
		MHD_stop_daemon(harness_rx.mhd);
	harness_rx.mhd = NULL;
}

void harness_rx_reset(void)
{
	pthread_mutex_lock(&harness_rx.lock);
	for (size_t i = 0; i < harness_rx.nnotes; i++) {
		free(harness_rx.notes[i].body);
		json_decref(harness_rx.notes[i].fields);
	}
	harness_rx.nnotes = 0;
	harness_rx.attempts = 0;
	harness_rx.fail_next = 0;
	pthread_mutex_unlock(&harness_rx.lock);
}

/* Waits until `count` notifications are in; returns how many are. */
size_t harness_rx_wait(size_t count, double timeout)
{
	double until = harness_now_s() + timeout;
	size_t n;

	pthread_mutex_lock(&harness_rx.lock);
	while (harness_rx.nnotes < count && harness_now_s() < until) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&harness_rx.cond, &harness_rx.lock, &ts);
	}
	n = harness_rx.nnotes;
	pthread_mutex_unlock(&harness_rx.lock);
	return n;
}

/* A string field of note i, or NULL. */
const char *harness_rx_str(size_t i, const char *key)
{
	json_t *v = json_object_get(harness_rx.notes[i].fields, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The index of the last note whose field key is value, or -1. */
long harness_rx_find(const char *key, const char *value)
{
	long found = -1;

	pthread_mutex_lock(&harness_rx.lock);
	for (size_t i = 0; i < harness_rx.nnotes; i++) {
		const char *s = harness_rx_str(i, key);

		if (s != NULL && strcmp(s, value) == 0)
			found = (long)i;
	}
	pthread_mutex_unlock(&harness_rx.lock);
	return found;
}

void harness_notify_url(char *buf, size_t len, unsigned port)
{
	snprintf(buf, len, "http://127.0.0.1:%u/notify", port);
}

/* ------------------------------------------------------------------ client */

struct buf {
	char *p;
	size_t len;
};

static size_t buf_write(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	char *np = realloc(b->p, b->len + size * n + 1);

	if (np == NULL)
		return 0;
	memcpy(np + b->len, p, size * n);
	b->p = np;
	b->len += size * n;
	b->p[b->len] = '\0';
	return size * n;
}

/* The answer of a body the caller wants, "" when none came. */
static void take_body(struct buf *b, char **body)
{
	if (body != NULL)
		*body = b->p ? b->p : strdup("");
	else
		free(b->p);
}

/* GET http://127.0.0.1:port/path within 10 s; the status code (0: no
 * answer). *body (if asked for) is never NULL; the caller frees it. */
long harness_http_get(unsigned port, const char *path, char **body)
{
	CURL *c = curl_easy_init();
	char url[512];
	struct buf b = { 0 };
	long code = 0;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	take_body(&b, body);
	return code;
}

/* The tmc-server way: multipart/form-data built by libcurl, tar parts as
 * application/x-tar. Same contract as harness_http_get. */
long harness_post_task(unsigned port, const char *path, const struct harness_part *parts, long timeout_s,
    char **body)
{
	CURL *c = curl_easy_init();
	curl_mime *m = curl_mime_init(c);
	char url[512];
	struct buf b = { 0 };
	long code = 0;

	for (; parts->name != NULL; parts++) {
		curl_mimepart *p = curl_mime_addpart(m);

		curl_mime_name(p, parts->name);
		if (parts->is_file) {
			curl_mime_filedata(p, parts->value);
			curl_mime_type(p, "application/x-tar");
		} else {
			curl_mime_data(p, parts->value, parts->len ? parts->len : CURL_ZERO_TERMINATED);
		}
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_MIMEPOST, m);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_mime_free(m);
	curl_easy_cleanup(c);
	take_body(&b, body);
	return code;
}

/* ------------------------------------------------------------------ daemon */

/* A listening socket on 127.0.0.1, port picked by the OS; -1 on failure. */
int harness_bind_any(unsigned *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

/* root/name as work dir, root/name.log as log; no socket yet. */
void harness_daemon_init(struct harness_daemon *d, const char *root, const char *name)
{
	memset(d, 0, sizeof(*d));
	d->pid = -1;
	d->fd = -1;
	snprintf(d->work, sizeof(d->work), "%s/%s", root, name);
	mkdir(d->work, 0755);
	snprintf(d->log, sizeof(d->log), "%s/%s.log", root, name);
}

/* Starts (or restarts) bin on d's socket (bound on first use) with the
 * harness's flags, then these (NULL-terminated; flags given twice: the
 * later wins), and waits up to 20 s for /status.json to answer 200. */
int harness_daemon_start(struct harness_daemon *d, const char *bin, const char *const *extra)
{
	const char *argv[64];
	char fdarg[16];
	size_t n = 0;
	double until;

	if (d->fd < 0 && (d->fd = harness_bind_any(&d->port)) < 0)
		return -1;
	snprintf(fdarg, sizeof(fdarg), "%d", d->fd);
	argv[n++] = bin;
	argv[n++] = "--listen-fd";
	argv[n++] = fdarg;
	argv[n++] = "--work-dir";
	argv[n++] = d->work;
	argv[n++] = "--log";
	argv[n++] = d->log;
	argv[n++] = "--timeout";
	argv[n++] = "60";
	argv[n++] = "--retry-initial";
	argv[n++] = "200ms";
	for (; extra != NULL && *extra != NULL && n < 63; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	d->pid = fork();
	if (d->pid < 0)
		return -1;
	if (d->pid == 0) {
		int fl = fcntl(d->fd, F_GETFD);

		fcntl(d->fd, F_SETFD, fl & ~FD_CLOEXEC);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	harness_proc_add(d->pid);
	for (until = harness_now_s() + 20; harness_now_s() < until; usleep(20000)) {
		int st;

		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			printf("    sandboxd exited at start (status %d); log %s\n", st, d->log);
			harness_proc_del(d->pid);
			d->pid = -1;
			return -1;
		}
		if (harness_http_get(d->port, "/status.json", NULL) == 200)
			return 0;
	}
	return -1;
}

/* Sends sig and reaps; the wait status, -1 when it was not running.
 * SIGTERM drains: the running task finishes first (--timeout bounds it). */
int harness_daemon_stop(struct harness_daemon *d, int sig)
{
	int st = -1;

	if (d->pid <= 0)
		return -1;
	kill(d->pid, sig);
	waitpid(d->pid, &st, 0);
	harness_proc_del(d->pid);
	d->pid = -1;
	return st;
}

void harness_daemon_fini(struct harness_daemon *d)
{
	harness_daemon_stop(d, SIGTERM);
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}
