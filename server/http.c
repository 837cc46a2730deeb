/*
 * http.c: the HTTP face of sandboxd, on libmicrohttpd.
 *
 * Owns: the HTTP thread (it runs libmicrohttpd's event loop itself, so
 * that it can also cut requests over --request-timeout between two
 * rounds, on the one thread that may touch the connections); routing; the
 * answers of DESIGN 4 (200 ok, 500 busy, 400 bad_request with the reason,
 * 413, 404, 405, and 408 for a request over its deadline), one log line
 * per request; and the life of a POST: answer busy at once when a task
 * runs (before any body is read), stream the body through intake.c, check
 * the fields, look the notify host up off this thread when it is a name,
 * and only then claim the slot, hand the task to the runner and suspend
 * the connection until the runner gives its answer. A client still
 * uploading never makes the instance busy, and no request, however slowly
 * it trickles in, lives longer than --request-timeout.
 * Never: blocks (no task work, no archive parsing, no DNS and no delivery
 * happen on this thread), or logs request bytes other than a sanitised
 * path.
 */
#define _GNU_SOURCE
#include "server/sandboxd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#define BODY_SLACK (1ULL << 20)	/* the small fields and multipart framing */

enum route { R_NONE, R_TASK, R_STATUS_PAGE, R_STATUS_JSON, R_METRICS, R_HISTORY, R_PAGE_FILE };

/*
 * One per accepted socket (MHD's socket context), on a list walked by the
 * HTTP thread after each round of the event loop. The deadline of a
 * request runs from the end of the previous one on the socket (or the
 * accept) until its answer is queued or it is handed to the runner; a
 * request over it is answered 408 where the socket takes it, and closed.
 */
struct conn {
	struct MHD_Connection *c;
	double t0;
	int exempt;		/* answered, with the runner, or in a lookup */
	int cut;		/* over the deadline: closed, nothing more is done */
	struct conn *prev, *next;
};

struct req {
	double t0;
	char method[16];
	char path[96];		/* sanitised, for the log only */
	int slot;		/* this request holds the runner's slot */
	int failed;		/* an error answer is queued; discard the rest */
	int close;		/* a POST answered before its body was read */
	unsigned err_code;	/* a failure found midway, answered at the end */
	char err[256];
	int submitted;
	int lookup;		/* 1: the notify host is being looked up; 2: done */
	int lookup_rc;
	struct conn *ct;
	struct intake *in;
	struct task *task;	/* our reference */
	uint64_t body_bytes;
	unsigned code;
	size_t out_bytes;
	struct MHD_Connection *conn;
};

static struct MHD_Daemon *mhd;
static const struct config *hcfg;

/* The request no longer counts against --request-timeout (answered, with
 * the runner, or waiting for a lookup). An untracked connection (its
 * tracking could not be allocated) has only the idle timeout. */
static void conn_exempt(struct req *r)
{
	if (r->ct != NULL)
		r->ct->exempt = 1;
}
static char incoming_dir[4096];
static int listen_sock = -1;
static int wake_fd = -1;	/* eventfd: another thread resumed a connection */
static int mhd_epoll_fd = -1;	/* libmicrohttpd's, fixed for the daemon's life */
static pthread_t http_thread;
static atomic_int http_stopping;
static atomic_int lookups;	/* notify-host lookups in flight */
static struct conn *conns;	/* HTTP thread only */

static void sanitize(char *dst, size_t dstlen, const char *src)
{
	size_t i;

	for (i = 0; src != NULL && src[i] != '\0' && i + 1 < dstlen; i++)
		dst[i] = (src[i] > 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
}

/* Builds an answer; takes body (malloc'd). */
static struct MHD_Response *make_response(struct req *r, unsigned code, const char *ctype, char *body)
{
	struct MHD_Response *resp;
	size_t len;

	if (body == NULL)
		body = strdup("{\"status\":\"error\",\"error\":\"out of memory\"}");
	if (body == NULL)
		return NULL;
	len = strlen(body);
	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(body);
		return NULL;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
		    strcmp(r->path, "/") == 0 ? "GET, HEAD, POST" :
		    strcmp(r->path, "/tasks.json") == 0 ? "POST" : "GET, HEAD");
	if (r->close)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	r->code = code;
	r->out_bytes = len;
	return resp;
}

static enum MHD_Result reply(struct MHD_Connection *c, struct req *r, unsigned code,
    const char *ctype, char *body)
{
	struct MHD_Response *resp = make_response(r, code, ctype, body);
	enum MHD_Result ret;

	if (resp == NULL)
		return MHD_NO;
	ret = MHD_queue_response(c, code, resp);
	MHD_destroy_response(resp);
	if (ret != MHD_YES)
		r->code = 0;
	else
		conn_exempt(r);
	return ret;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, struct req *r, unsigned code,
    const char *status, const char *error)
{
	json_t *o = error ? json_pack("{s:s, s:s}", "status", status, "error", error) :
	    json_pack("{s:s}", "status", status);
	char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return reply(c, r, code, "application/json", body);
}

/* A POST turned down; it never holds the slot (claimed just before submit). */
static enum MHD_Result reject(struct MHD_Connection *c, struct req *r, unsigned code, const char *error);

/*
 * libmicrohttpd takes no response while it hands us body data (and one
 * queued on a suspended connection stalls it until the timeout), so a body
 * found bad midway (413, malformed) is remembered and the rest of it is
 * read and dropped, without parsing or storing, until the answer can be
 * given at its end. This costs at most the body cap: a Content-Length over
 * it was refused before any body was read, and a chunked body that goes
 * over it gets the connection closed.
 */
static void fail_midway(struct req *r, unsigned code, const char *error)
{
	r->failed = 1;
	r->close = 1;
	r->err_code = code;
	snprintf(r->err, sizeof(r->err), "%s", error);
	if (r->in != NULL) {
		intake_free(r->in);
		r->in = NULL;
	}
}

static enum MHD_Result reject(struct MHD_Connection *c, struct req *r, unsigned code, const char *error)
{
	r->failed = 1;
	r->close = 1;
	if (r->in != NULL) {
		intake_free(r->in);
		r->in = NULL;
	}
	if (code == 400 || code == 413)
		status_task_rejected();
	r->err_code = 0;
	return reply_json(c, r, code, code == 413 ? "too_large" : code == 400 ? "bad_request" : "error", error);
}

static enum route route_of(const char *url)
{
	if (strcmp(url, "/") == 0)
		return R_STATUS_PAGE;
	if (strcmp(url, "/tasks.json") == 0)
		return R_TASK;
	if (strcmp(url, "/status.json") == 0)
		return R_STATUS_JSON;
	if (strcmp(url, "/metrics") == 0)
		return R_METRICS;
	if (strcmp(url, "/history.json") == 0)
		return R_HISTORY;
	if (strcmp(url, "/index.html") == 0 || strcmp(url, "/status.js") == 0 || strcmp(url, "/status.css") == 0 ||
	    strcmp(url, "/pool/instances.json") == 0)
		return R_PAGE_FILE;
	return R_NONE;
}

static enum MHD_Result get(struct MHD_Connection *c, struct req *r, enum route rt)
{
	int busy = runner_busy();
	const char *ctype = NULL;
	char *body = NULL;

	switch (rt) {
	case R_STATUS_PAGE:
	case R_PAGE_FILE:
		if (status_page_file(r->path, &body, &ctype) == 0)
			return reply_json(c, r, 404, "not_found", NULL);
		return reply(c, r, 200, ctype, body);
	case R_HISTORY:
		return reply(c, r, 200, "application/json", status_history_json());
	case R_STATUS_JSON:
		return reply(c, r, 200, "application/json", status_json(busy));
	case R_METRICS:
		return reply(c, r, 200, "text/plain; version=0.0.4", status_metrics(busy));
	default:
		return reply_json(c, r, 405, "method_not_allowed", NULL);
	}
}

/* The headers of a task POST are in: busy at once when a task runs (the
 * body is not read), else check the framing. The slot is not taken here:
 * an upload that is still coming in must not make the instance busy. */
static enum MHD_Result post_begin(struct MHD_Connection *c, struct req *r)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	char path[4200], err[256], msg[128];
	uint64_t len;

	r->close = 1;
	if (runner_busy()) {
		r->failed = 1;
		return reply_json(c, r, 500, "busy", NULL);
	}
	if (runner_spool_full()) {
		r->failed = 1;
		return reply_json(c, r, 503, "busy", "spool full");
	}
	if (cl != NULL && parse_u64(cl, 0, UINT64_MAX, &len) == 0 && len > hcfg->upload_cap + BODY_SLACK) {
		snprintf(msg, sizeof(msg), "the body (%llu bytes) exceeds the upload cap of %llu bytes",
		    (unsigned long long)len, (unsigned long long)hcfg->upload_cap);
		return reject(c, r, 413, msg);
	}
	r->task = task_new();
	if (r->task == NULL)
		return reject(c, r, 500, "out of memory");
	snprintf(path, sizeof(path), "%s/%s.upload", incoming_dir, r->task->id);
	r->in = intake_new(ct, path, hcfg->upload_cap, err, sizeof(err));
	if (r->in == NULL)
		return reject(c, r, 400, err);
	return MHD_YES;
}

static int field_flag(const char *v, int *out)
{
	if (v == NULL || v[0] == '\0' || strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0) {
		*out = 0;
		return 0;
	}
	if (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0) {
		*out = 1;
		return 0;
	}
	return -1;
}

/* Completed body: check the fields and fill the task. Returns 0, or -1
 * with a message for a 400. */
static int post_fields(struct req *r, char *err, size_t errlen)
{
	struct task *t = r->task;
	const char *notify = intake_field(r->in, "notify", NULL);
	const char *timeout = intake_field(r->in, "timeout", NULL);
	const char *memory = intake_field(r->in, "memory", NULL);
	const char *wait = intake_field(r->in, "wait", NULL);
	size_t layers_len = 0;
	const char *layers = intake_field(r->in, "layers", &layers_len);
	struct sandbox_layer chosen[SANDBOX_LAYERS_MAX];
	size_t nchosen;
	size_t token_len = 0;
	const char *token = intake_field(r->in, "token", &token_len);
	uint64_t v;

	if (token != NULL && (memchr(token, '\0', token_len) != NULL || !intake_utf8_valid(token, token_len)))
		return errbuf_set(err, errlen, "token is not valid UTF-8 text");
	if (notify != NULL && notify[0] != '\0') {
		int rc = notify_url_check(notify, err, errlen);

		if (rc < 0)
			return -1;
		r->lookup = rc == 1 ? 1 : 0;
	}
	t->timeout_s = hcfg->timeout_s;
	if (timeout != NULL) {
		if (parse_u64(timeout, 1, hcfg->timeout_s, &v) < 0)
			return errbuf_set(err, errlen, "timeout must be whole seconds from 1 to %u (the instance's cap)",
			    hcfg->timeout_s);
		t->timeout_s = (unsigned)v;
	}
	t->memory = hcfg->memory;
	if (memory != NULL) {
		if (parse_size(memory, hcfg->memory, &v) < 0 || v < (32ULL << 20))
			return errbuf_set(err, errlen, "memory must be a size from 32M to %lluM (the instance's cap)",
			    (unsigned long long)(hcfg->memory >> 20));
		t->memory = v;
	}
	if (field_flag(wait, &t->wait) < 0)
		return errbuf_set(err, errlen, "wait must be 0 or 1");
	/* Checked here, so that an unknown layer is a 400 before the slot is
	 * taken; the runner resolves the same text again. */
	if (layers != NULL && memchr(layers, '\0', layers_len) != NULL)
		return errbuf_set(err, errlen, "layers: not a list of names");
	if (layers != NULL && layer_select(hcfg->layers, hcfg->nlayers, layers, chosen, &nchosen, err,
	    errlen) < 0)
		return -1;
	if (layers != NULL && nchosen > 0 && (t->layers = strdup(layers)) == NULL)
		return errbuf_set(err, errlen, "out of memory");
	if (token != NULL) {
		t->token = strdup(token);
		task_token_hash(token, token_len, t->token_hash);
	}
	if (notify != NULL && notify[0] != '\0')
		t->notify = strdup(notify);
	if ((token != NULL && t->token == NULL) || (notify != NULL && notify[0] != '\0' && t->notify == NULL))
		return errbuf_set(err, errlen, "out of memory");
	return 0;
}

/* Another thread resumed a connection: wake the HTTP thread's wait.
 * libmicrohttpd 0.9's own wake-up (its ITC) ends the wait, but the resumed
 * connection was only looked at after the next wait, the 250 ms timeout:
 * every wait=1 answer and every notify lookup came 250 ms late. */
static void http_wake(void)
{
	uint64_t one = 1;

	if (wake_fd >= 0 && write(wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("%s: eventfd", __func__);
}

/* Runner thread: the answer is in the task; wake the connection. */
static void answer_ready(struct task *t)
{
	MHD_resume_connection((struct MHD_Connection *)t->answer_arg);
	http_wake();
}

/* A lookup thread: the notify host's addresses against the lists
 * (getaddrinfo may take seconds), then the connection goes on. */
static void *lookup_main(void *arg)
{
	struct req *r = arg;

	r->lookup_rc = notify_url_resolve_check(r->task->notify, r->err, sizeof(r->err));
	r->lookup = 2;
	MHD_resume_connection(r->conn);
	http_wake();
	atomic_fetch_sub(&lookups, 1);
	return NULL;
}

static enum MHD_Result post_submit(struct MHD_Connection *c, struct req *r);

static enum MHD_Result post_end(struct MHD_Connection *c, struct req *r)
{
	char err[512];

	if (intake_finish(r->in) < 0) {
		char msg[256];

		snprintf(msg, sizeof(msg), "%s", intake_error(r->in));
		return reject(c, r, (unsigned)intake_error_code(r->in), msg);
	}
	if (post_fields(r, err, sizeof(err)) < 0)
		return reject(c, r, 400, err);
	if (r->lookup == 1) {
		pthread_t th;
		pthread_attr_t a;
		int rc;

		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		atomic_fetch_add(&lookups, 1);
		conn_exempt(r);
		MHD_suspend_connection(c);
		rc = pthread_create(&th, &a, lookup_main, r);
		pthread_attr_destroy(&a);
		if (rc != 0) {
			log_warnx("%s: no thread for the notify host lookup (%s); looking up here",
			    __func__, strerror(rc));
			lookup_main(r);
		}
		return MHD_YES;
	}
	return post_submit(c, r);
}

/* Upload complete and valid: now, and only now, the slot. */
static enum MHD_Result post_submit(struct MHD_Connection *c, struct req *r)
{
	struct task *t = r->task;
	char path[4200];
	int claim;

	snprintf(path, sizeof(path), "%s/%s.upload", incoming_dir, t->id);
	t->upload_path = strdup(path);
	snprintf(path, sizeof(path), "%s/%s.tar", incoming_dir, t->id);
	t->tar_path = strdup(path);
	if (t->upload_path == NULL || t->tar_path == NULL)
		return reject(c, r, 500, "out of memory");
	claim = runner_claim();
	if (claim < 0) {
		/* Another upload finished first, a drain began, or the spool
		 * filled up while this one came in. */
		r->failed = 1;
		intake_free(r->in);
		r->in = NULL;
		if (claim == RUNNER_SPOOL_FULL)
			return reply_json(c, r, 503, "busy", "spool full");
		return reply_json(c, r, 500, "busy", NULL);
	}
	r->slot = 1;
	intake_take_file(r->in, NULL);
	intake_free(r->in);
	r->in = NULL;
	t->t_received = r->t0;
	t->answer = answer_ready;
	t->answer_arg = c;
	r->submitted = 1;
	conn_exempt(r);
	task_ref(t);
	MHD_suspend_connection(c);
	runner_submit(t);
	return MHD_YES;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct req *r = *con_cls;
	enum route rt;
	int is_get, is_post;

	(void)cls;
	(void)version;
	if (r == NULL) {
		r = calloc(1, sizeof(*r));
		if (r == NULL)
			return MHD_NO;
		r->t0 = mono_now();
		r->conn = c;
		{
			const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c,
			    MHD_CONNECTION_INFO_SOCKET_CONTEXT);

			r->ct = ci != NULL ? ci->socket_context : NULL;
		}
		sanitize(r->method, sizeof(r->method), method);
		sanitize(r->path, sizeof(r->path), url);
		*con_cls = r;
		rt = route_of(url);
		is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
		is_post = strcmp(method, "POST") == 0;
		if (rt == R_NONE) {
			r->close = 1;
			r->failed = 1;
			return reply_json(c, r, 404, "not_found", NULL);
		}
		if (is_post && (rt == R_TASK || rt == R_STATUS_PAGE))
			return post_begin(c, r);
		if (is_get)
			return get(c, r, rt);
		r->close = 1;
		r->failed = 1;
		return reply_json(c, r, 405, "method_not_allowed", NULL);
	}
	if (r->ct != NULL && r->ct->cut)
		return MHD_NO;	/* over the deadline while its last bytes came in */
	if (r->lookup == 2 && r->in != NULL && !r->failed) {
		/* Resumed: the notify host's lookup is done. */
		r->lookup = 0;
		if (r->lookup_rc < 0) {
			char msg[256];

			snprintf(msg, sizeof(msg), "%s", r->err);
			return reject(c, r, 400, msg);
		}
		return post_submit(c, r);
	}
	if (r->lookup == 1)
		return MHD_YES;
	if (r->submitted) {
		/* Resumed: the runner has answered. */
		if (r->code == 0 && r->task->resp_body != NULL) {
			char *body = r->task->resp_body;

			r->task->resp_body = NULL;
			return reply(c, r, (unsigned)r->task->resp_code, "application/json", body);
		}
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		r->body_bytes += n;
		if (r->body_bytes > hcfg->upload_cap + BODY_SLACK) {
			char msg[128];

			if (r->failed)
				return MHD_NO;	/* chunked and over the cap: close */
			snprintf(msg, sizeof(msg), "the body exceeds the upload cap of %llu bytes",
			    (unsigned long long)hcfg->upload_cap);
			fail_midway(r, 413, msg);
			return MHD_YES;
		}
		if (r->failed || r->in == NULL)
			return MHD_YES;
		if (intake_feed(r->in, upload_data, n) < 0)
			fail_midway(r, (unsigned)intake_error_code(r->in), intake_error(r->in));
		return MHD_YES;
	}
	if (r->err_code != 0)
		return reject(c, r, r->err_code, r->err);
	if (r->failed || r->in == NULL)
		return MHD_YES;
	return post_end(c, r);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;

	(void)cls;
	(void)c;
	if (r == NULL)
		return;
	if (r->ct != NULL && r->ct->cut)
		r->code = 408;
	status_request(r->code ? r->code : 499);
	log_info("http %s %s -> %u (%llu bytes in, %zu out) %.3fs%s%s%s", r->method, r->path, r->code,
	    (unsigned long long)r->body_bytes, r->out_bytes, mono_now() - r->t0,
	    r->task && r->slot ? " task " : "", r->task && r->slot ? r->task->id : "",
	    toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" :
	    toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? " (client timed out)" :
	    r->ct != NULL && r->ct->cut ? " (cut: over --request-timeout)" :
	    toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT ? " (client went away)" : " (connection closed)");
	if (r->ct != NULL) {
		/* A next request on this socket gets its own deadline. */
		r->ct->t0 = mono_now();
		r->ct->exempt = 0;
	}
	if (r->in != NULL)
		intake_free(r->in);
	if (r->slot && !r->submitted)
		runner_release();
	if (r->task != NULL)
		task_unref(r->task);
	free(r);
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_debug("libmicrohttpd: %s", buf);
}

static void conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct conn *ct = *socket_context;

	(void)cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		ct = calloc(1, sizeof(*ct));
		if (ct == NULL)
			return;	/* untracked: only the idle timeout applies */
		ct->c = c;
		ct->t0 = mono_now();
		ct->next = conns;
		if (conns != NULL)
			conns->prev = ct;
		conns = ct;
		*socket_context = ct;
	} else if (ct != NULL) {
		if (ct->prev != NULL)
			ct->prev->next = ct->next;
		else
			conns = ct->next;
		if (ct->next != NULL)
			ct->next->prev = ct->prev;
		free(ct);
		*socket_context = NULL;
	}
}

/*
 * A request over its deadline. libmicrohttpd takes no response while a
 * body is coming in, and none has been queued on this socket (that would
 * have made it exempt), so the 408 is written straight to the socket,
 * best effort, before both directions are shut: the event loop then sees
 * the end of the stream and closes the connection the usual way.
 */
static void cut_request(struct conn *ct, double age)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(ct->c, MHD_CONNECTION_INFO_CONNECTION_FD);
	char body[160], msg[320];
	int blen, mlen;

	ct->cut = 1;
	if (ci == NULL)
		return;
	blen = snprintf(body, sizeof(body),
	    "{\"status\":\"request_timeout\",\"error\":\"the request took longer than %.0f s (request-timeout)\"}",
	    hcfg->request_timeout);
	mlen = snprintf(msg, sizeof(msg), "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
	    "Connection: close\r\nContent-Length: %d\r\n\r\n%s", blen, body);
	if (send(ci->connect_fd, msg, (size_t)mlen, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("%s: 408: %s", __func__, strerror(errno));
	shutdown(ci->connect_fd, SHUT_RDWR);
	log_info("http: a request cut after %.1fs: over --request-timeout", age);
}

/* The HTTP thread's wait: libmicrohttpd's epoll fd, our wake-up, or its
 * next timeout (at most 250 ms, for the request-timeout sweep). */
static void http_wait_events(void)
{
	MHD_UNSIGNED_LONG_LONG mhd_ms;
	struct pollfd pfd[2];
	int ms = 250;
	uint64_t n;

	if (MHD_get_timeout(mhd, &mhd_ms) == MHD_YES && mhd_ms < (MHD_UNSIGNED_LONG_LONG)ms)
		ms = (int)mhd_ms;
	pfd[0].fd = mhd_epoll_fd;
	pfd[0].events = POLLIN;
	pfd[1].fd = wake_fd;
	pfd[1].events = POLLIN;
	if (poll(pfd, 2, ms) < 0 && errno != EINTR)
		log_warn("%s: poll", __func__);
	if ((pfd[1].revents & POLLIN) && read(wake_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("%s: eventfd", __func__);
}

static void *http_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&http_stopping)) {
		double now;

		http_wait_events();
		MHD_run(mhd);
		now = mono_now();
		for (struct conn *ct = conns; ct != NULL; ct = ct->next)
			if (!ct->exempt && !ct->cut && now - ct->t0 > hcfg->request_timeout)
				cut_request(ct, now - ct->t0);
	}
	return NULL;
}

static int open_listener(const struct config *cfg)
{
	struct addrinfo hints = { 0 }, *ai = NULL;
	char port[16];
	int fd, one = 1, rc;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	snprintf(port, sizeof(port), "%u", cfg->port);
	rc = getaddrinfo(cfg->listen, port, &hints, &ai);
	if (rc != 0) {
		log_warnx("%s: listen address %s: %s", __func__, cfg->listen, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		log_warn("%s: bind %s port %u", __func__, cfg->listen, cfg->port);
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	return fd;
}

int http_start(const struct config *cfg)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[128] = "?", serv[16] = "?";
	const union MHD_DaemonInfo *info;

	hcfg = cfg;
	snprintf(incoming_dir, sizeof(incoming_dir), "%s/incoming", cfg->work_dir);
	listen_sock = cfg->listen_fd >= 0 ? cfg->listen_fd : open_listener(cfg);
	if (listen_sock < 0)
		return -1;
	if (getsockname(listen_sock, (struct sockaddr *)&ss, &sl) == 0)
		getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), serv, sizeof(serv),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	atomic_store(&http_stopping, 0);
	if (wake_fd < 0)
		wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (wake_fd < 0) {
		log_warn("%s: eventfd", __func__);
		return -1;
	}
	mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	    handler, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_LISTEN_SOCKET, listen_sock,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
	    MHD_OPTION_NOTIFY_CONNECTION, conn_notify, NULL,
	    MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(cfg->conn_timeout + 0.999),
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
	    MHD_OPTION_END);
	if (mhd == NULL) {
		log_warnx("%s: libmicrohttpd did not start", __func__);
		return -1;
	}
	info = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_EPOLL_FD);
	mhd_epoll_fd = info != NULL ? info->epoll_fd : -1;
	if (pthread_create(&http_thread, NULL, http_main, NULL) != 0) {
		log_warnx("%s: cannot start the HTTP thread", __func__);
		MHD_stop_daemon(mhd);
		mhd = NULL;
		return -1;
	}
	log_info("listening on %s port %s", host, serv);
	return 0;
}

/* After runner_drain(): every connection the runner held has been
 * resumed; lookups of notify hosts end by themselves (they resume theirs).
 * Stop accepting, give answers in flight a moment, then stop. */
void http_stop(void)
{
	const union MHD_DaemonInfo *info;
	double until = mono_now() + 5;

	if (mhd == NULL)
		return;
	MHD_quiesce_daemon(mhd);
	while (mono_now() < until) {
		info = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (info == NULL || info->num_connections == 0)
			break;
		usleep(20000);
	}
	/* A suspended connection must not outlive the daemon. */
	while (atomic_load(&lookups) > 0)
		usleep(20000);
	atomic_store(&http_stopping, 1);
	pthread_join(http_thread, NULL);
	MHD_stop_daemon(mhd);
	mhd = NULL;
	if (listen_sock >= 0)
		close(listen_sock);
	listen_sock = -1;
}
