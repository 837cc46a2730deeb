/*
 * notify.c: delivers spooled results to the client's notify URL.
 *
 * Owns: the pool of delivery threads and their queue of spooled result ids
 * (at most one attempt in flight per destination); the check of a notify
 * URL against notify_acl.c at intake and again at every attempt, against
 * the address actually connected to (resolved once, then pinned); one
 * libcurl POST per attempt (JSON, or form-encoded for legacy clients);
 * exponential backoff with jitter between attempts; the verdict on each
 * answer (2xx delivered; connection errors, timeouts, 408, 429 and 5xx are
 * retried; anything else is permanent); the total time bound after which a
 * result is given up and moved to spool/dead.
 * Never: holds the runner's busy slot (results are spooled first, so the
 * instance takes new tasks while old results are still being delivered),
 * removes a result from the spool without a 2xx, follows redirects, uses a
 * proxy, connects to an address it has not checked, or speaks anything but
 * http(s).
 */
#define _GNU_SOURCE
#include "server/sandboxd.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"

#define NOTIFY_URL_MAX 2048
#define PIN_MAX 8

/* Set once by notify_start (before the HTTP side takes requests), read
 * by every thread after; NULL: the built-in denied ranges only. */
static struct notify_acl *nacl;

int notify_policy_set(const char *allow, const char *deny, char *err, size_t errlen)
{
	struct notify_acl *acl = notify_acl_new(allow, deny, err, errlen);

	if (acl == NULL)
		return -1;
	notify_acl_free(nacl);
	nacl = acl;
	return 0;
}

/* Where a notify URL leads: its host (as curl will look it up), the name
 * the lists are matched against, the port, and the address when the host
 * is a literal. curl has already normalised numeric IPv4 forms
 * (0x7f000001, 2130706433, 127.1) to dotted quads. */
struct dest {
	CURLU *u;
	char host[256];		/* without brackets */
	char name[256];		/* lower case, no trailing dot; "" for a literal */
	long port;
	struct sockaddr_storage lit;	/* ss_family 0: a name */
};

/* The addresses a transfer may connect to: checked, then pinned. */
struct pin {
	size_t n;
	struct sockaddr_storage a[PIN_MAX];
	int refused;		/* curl tried another address: never connected */
};

static void dest_free(struct dest *d)
{
	curl_url_cleanup(d->u);
	d->u = NULL;
}

static int dest_parse(const char *url, struct dest *d, char *err, size_t errlen)
{
	char *scheme = NULL, *host = NULL, *port = NULL;
	size_t hl = 0;
	int rc = 0;
	uint64_t pv;

	memset(d, 0, sizeof(*d));
	if (url == NULL || url[0] == '\0')
		return errbuf_set(err, errlen, "notify URL is empty");
	if (strlen(url) > NOTIFY_URL_MAX)
		return errbuf_set(err, errlen, "notify URL longer than %d bytes", NOTIFY_URL_MAX);
	for (const char *p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return errbuf_set(err, errlen, "notify URL contains spaces, control or non-ASCII bytes");
	if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
		return errbuf_set(err, errlen, "notify URL must be http:// or https://");
	d->u = curl_url();
	if (d->u == NULL)
		return errbuf_set(err, errlen, "out of memory");
	if (curl_url_set(d->u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(d->u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(d->u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0' ||
	    curl_url_get(d->u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
	    parse_u64(port, 1, 65535, &pv) < 0)
		rc = errbuf_set(err, errlen, "notify URL is not a valid URL");
	else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
		rc = errbuf_set(err, errlen, "notify URL must be http:// or https://");
	else if ((hl = strlen(host)) >= sizeof(d->host))
		rc = errbuf_set(err, errlen, "notify URL host is too long");
	if (rc == 0) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&d->lit;
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&d->lit;

		d->port = (long)pv;
		if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
			memcpy(d->host, host + 1, hl - 2);
			d->host[hl - 2] = '\0';
			if (inet_pton(AF_INET6, d->host, &s6->sin6_addr) == 1)
				s6->sin6_family = AF_INET6;
			else
				rc = errbuf_set(err, errlen, "notify URL host is not a valid IPv6 address");
		} else {
			memcpy(d->host, host, hl + 1);
			if (inet_pton(AF_INET, d->host, &s4->sin_addr) == 1) {
				s4->sin_family = AF_INET;
			} else {
				size_t i;

				for (i = 0; i < hl; i++) {
					unsigned char c = (unsigned char)host[i];

					if (!isalnum(c) && c != '-' && c != '.' && c != '_')
						break;
					d->name[i] = (char)tolower(c);
				}
				d->name[i] = '\0';
				if (i < hl)
					rc = errbuf_set(err, errlen, "notify URL host is not a valid host name");
				else if (i > 0 && d->name[i - 1] == '.')
					d->name[i - 1] = '\0';
			}
		}
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	if (rc < 0)
		dest_free(d);
	return rc;
}

static void pin_add(struct pin *pin, const struct sockaddr *sa, socklen_t len)
{
	for (size_t i = 0; i < pin->n; i++)
		if (memcmp(&pin->a[i], sa, len) == 0)
			return;
	if (pin->n < PIN_MAX && len <= sizeof(pin->a[0])) {
		memset(&pin->a[pin->n], 0, sizeof(pin->a[0]));
		memcpy(&pin->a[pin->n++], sa, len);
	}
}

/*
 * Every address the destination resolves to must be allowed (a name that
 * resolves to one denied address among allowed ones is a probe); the
 * checked addresses are the only ones the transfer may use. Returns 0;
 * -1 when denied or unusable; -2 when the lookup failed in a way that may
 * pass (a retry may succeed).
 */
static int dest_resolve(const struct dest *d, struct pin *pin, char *err, size_t errlen)
{
	struct addrinfo hints = { 0 }, *ai = NULL;
	int rc;

	memset(pin, 0, sizeof(*pin));
	if (d->lit.ss_family != 0) {
		if (notify_acl_check(nacl, NULL, (const struct sockaddr *)&d->lit, err, errlen) < 0)
			return -1;
		pin_add(pin, (const struct sockaddr *)&d->lit,
		    d->lit.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
		return 0;
	}
	if (notify_acl_check_name(nacl, d->name, err, errlen) < 0)
		return -1;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(d->host, NULL, &hints, &ai);
	if (rc != 0) {
		errbuf_set(err, errlen, "notify host %s does not resolve: %s", d->name, gai_strerror(rc));
		return rc == EAI_NONAME ? -1 : -2;
	}
	for (struct addrinfo *a = ai; a != NULL; a = a->ai_next) {
		if (a->ai_family != AF_INET && a->ai_family != AF_INET6)
			continue;
		if (notify_acl_check(nacl, d->name, a->ai_addr, err, errlen) < 0) {
			freeaddrinfo(ai);
			return -1;
		}
		pin_add(pin, a->ai_addr, a->ai_addrlen);
	}
	freeaddrinfo(ai);
	if (pin->n == 0)
		return errbuf_set(err, errlen, "notify host %s has no IPv4 or IPv6 address", d->name);
	return 0;
}

/* No DNS: the syntax, and an address literal or a denied name. Returns
 * 0 when the URL is allowed, 1 when its host is a name whose addresses
 * notify_url_resolve_check must still judge, -1 when it is refused. */
int notify_url_check(const char *url, char *err, size_t errlen)
{
	struct dest d;
	int rc;

	if (dest_parse(url, &d, err, errlen) < 0)
		return -1;
	if (d.lit.ss_family != 0)
		rc = notify_acl_check(nacl, NULL, (const struct sockaddr *)&d.lit, err, errlen);
	else
		rc = notify_acl_check_name(nacl, d.name, err, errlen) < 0 ? -1 : 1;
	dest_free(&d);
	return rc;
}

/* Blocks on DNS. A lookup that fails for a reason other than "no such
 * name" passes here: the delivery looks up again and retries. */
int notify_url_resolve_check(const char *url, char *err, size_t errlen)
{
	struct dest d;
	struct pin pin;
	int rc;

	if (dest_parse(url, &d, err, errlen) < 0)
		return -1;
	rc = dest_resolve(&d, &pin, err, errlen);
	dest_free(&d);
	return rc == -1 ? -1 : 0;
}

/* Delay before retry number `attempt` (1-based): the exponential step,
 * capped, with "equal jitter" (half fixed, half random) so that a fleet of
 * instances does not hammer a recovering receiver in lockstep. */
double notify_backoff(unsigned attempt, double initial, double max, double rand01)
{
	double d = initial * pow(2.0, attempt > 0 ? (double)(attempt - 1) : 0.0);

	if (!(d <= max))
		d = max;
	return d / 2 + d / 2 * rand01;
}

/* libcurl's global state (its TLS stack above all) costs an idle instance
 * ~2 MB of RSS, so it is set up on the first delivery, not at start. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_ready;

static void curl_setup(void)
{
	curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

static int curl_lazy_init(void)
{
	pthread_once(&curl_once, curl_setup);
	return curl_ready ? 0 : -1;
}

void notify_curl_cleanup(void)
{
	if (curl_ready)
		curl_global_cleanup();
}

/* Form encoding like the original sandbox: one key per result field, each
 * value as text; nested values (time, files, ...) as compact JSON. */
char *notify_encode_form(json_t *payload)
{
	const char *key;
	json_t *v;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	CURL *c = curl_lazy_init() == 0 ? curl_easy_init() : NULL;
	int first = 1;

	if (f == NULL || c == NULL) {
		if (f != NULL)
			fclose(f);
		free(out);
		if (c != NULL)
			curl_easy_cleanup(c);
		return NULL;
	}
	json_object_foreach(payload, key, v) {
		char *text = NULL, *ek, *ev;
		const char *s;
		size_t slen;
		char num[64];

		switch (json_typeof(v)) {
		case JSON_STRING:
			s = json_string_value(v);
			slen = json_string_length(v);
			break;
		case JSON_INTEGER:
			slen = (size_t)snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			s = num;
			break;
		case JSON_REAL:
			slen = (size_t)snprintf(num, sizeof(num), "%.6f", json_real_value(v));
			s = num;
			break;
		case JSON_TRUE:
			s = "true";
			slen = 4;
			break;
		case JSON_FALSE:
			s = "false";
			slen = 5;
			break;
		case JSON_NULL:
			s = "";
			slen = 0;
			break;
		default:
			text = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(9));
			s = text ? text : "";
			slen = strlen(s);
			break;
		}
		ek = curl_easy_escape(c, key, 0);
		ev = curl_easy_escape(c, s, (int)slen);
		if (ek != NULL && ev != NULL)
			fprintf(f, "%s%s=%s", first ? "" : "&", ek, ev);
		first = 0;
		curl_free(ek);
		curl_free(ev);
		free(text);
	}
	curl_easy_cleanup(c);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

static atomic_int notify_stopping;
static _Atomic double notify_abort_at;	/* mono_now() after which an attempt is cut */

static size_t discard_body(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static int abort_on_stop(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	(void)arg;
	(void)a;
	(void)b;
	(void)c;
	(void)d;
	/* A shutdown lets the attempt in flight finish for a moment, so that a
	 * receiver that already answered is not sent the result again. */
	return atomic_load(&notify_stopping) && mono_now() > atomic_load(&notify_abort_at) ? 1 : 0;
}

static int same_addr(const struct sockaddr_storage *pinned, const struct sockaddr *sa)
{
	if (pinned->ss_family != sa->sa_family)
		return 0;
	if (sa->sa_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)pinned)->sin_addr,
		    &((const struct sockaddr_in *)(const void *)sa)->sin_addr, sizeof(struct in_addr)) == 0;
	if (sa->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)pinned)->sin6_addr,
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, sizeof(struct in6_addr)) == 0;
	return 0;
}

/* The last word on where a transfer goes: whatever curl was about to
 * connect to (a proxy, a second lookup, an address from a redirect) is
 * refused unless it is one of the addresses checked for this attempt. */
static curl_socket_t open_pinned(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct pin *pin = arg;

	(void)purpose;
	for (size_t i = 0; i < pin->n; i++)
		if (same_addr(&pin->a[i], &a->addr))
			return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	pin->refused = 1;
	return CURL_SOCKET_BAD;
}

/* "host:port:addr,addr": curl takes these instead of looking the name up
 * again, so a DNS answer that changes between check and connect (DNS
 * rebinding) cannot move the transfer. */
static struct curl_slist *pin_resolve_list(const struct dest *d, const struct pin *pin)
{
	char line[512 + PIN_MAX * (INET6_ADDRSTRLEN + 3)];
	size_t off;
	struct curl_slist *l;

	off = (size_t)snprintf(line, sizeof(line), "%s:%ld:", d->host, d->port);
	for (size_t i = 0; i < pin->n && off < sizeof(line); i++) {
		char a[INET6_ADDRSTRLEN];
		const void *src = pin->a[i].ss_family == AF_INET ?
		    (const void *)&((const struct sockaddr_in *)&pin->a[i])->sin_addr :
		    (const void *)&((const struct sockaddr_in6 *)&pin->a[i])->sin6_addr;

		if (inet_ntop(pin->a[i].ss_family, src, a, sizeof(a)) == NULL)
			return NULL;
		off += (size_t)snprintf(line + off, sizeof(line) - off, pin->a[i].ss_family == AF_INET6 ?
		    "%s[%s]" : "%s%s", i > 0 ? "," : "", a);
	}
	if (off >= sizeof(line))
		return NULL;
	l = curl_slist_append(NULL, line);
	return l;
}

enum notify_outcome notify_post(const char *url, enum notify_format fmt, json_t *payload,
    double timeout, long *http_code, char *err, size_t errlen)
{
	CURL *c;
	struct curl_slist *hdrs = NULL, *resolve = NULL;
	struct dest d;
	struct pin pin;
	char *body;
	char ebuf[CURL_ERROR_SIZE] = "";
	CURLcode rc;
	enum notify_outcome out;
	int r;

	*http_code = 0;
	/* Checked again at each attempt: the lists may have changed since the
	 * result was spooled, and the name may resolve elsewhere now. */
	if (dest_parse(url, &d, err, errlen) < 0)
		return NOTIFY_PERMANENT;
	r = dest_resolve(&d, &pin, err, errlen);
	if (r < 0) {
		dest_free(&d);
		return r == -2 ? NOTIFY_RETRY : NOTIFY_PERMANENT;
	}
	if (d.lit.ss_family == 0 && (resolve = pin_resolve_list(&d, &pin)) == NULL) {
		dest_free(&d);
		errbuf_set(err, errlen, "cannot pin the address of %s", d.name);
		return NOTIFY_RETRY;
	}
	body = fmt == NOTIFY_FORM ? notify_encode_form(payload) : json_dumps(payload, JSON_COMPACT | JSON_REAL_PRECISION(9));
	c = body != NULL && curl_lazy_init() == 0 ? curl_easy_init() : NULL;
	if (c == NULL) {
		errbuf_set(err, errlen, body == NULL ? "cannot encode the result" : "curl_easy_init failed");
		free(body);
		curl_slist_free_all(resolve);
		dest_free(&d);
		return NOTIFY_RETRY;
	}
	hdrs = curl_slist_append(hdrs, fmt == NOTIFY_FORM ?
	    "Content-Type: application/x-www-form-urlencoded" : "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(c, CURLOPT_CURLU, d.u);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");	/* no proxy from the environment: the check is on the receiver */
	curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_pinned);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &pin);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "sandboxd/" SANDBOXD_VERSION);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout * 1000 < 10000 ? timeout * 1000 : 10000));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, abort_on_stop);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK && pin.refused) {
		errbuf_set(err, errlen, "notify host %s: the connection went to an address that was not checked",
		    d.host);
		out = NOTIFY_PERMANENT;
	} else if (rc != CURLE_OK) {
		errbuf_set(err, errlen, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
		out = NOTIFY_RETRY;
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, http_code);
		if (*http_code >= 200 && *http_code < 300) {
			out = NOTIFY_DELIVERED;
		} else {
			errbuf_set(err, errlen, "HTTP %ld", *http_code);
			out = *http_code >= 500 || *http_code == 429 || *http_code == 408 ?
			    NOTIFY_RETRY : NOTIFY_PERMANENT;
		}
	}
	curl_slist_free_all(hdrs);
	curl_slist_free_all(resolve);
	curl_easy_cleanup(c);
	dest_free(&d);
	free(body);
	return out;
}

/*
 * The delivery pool: ncfg->notify_workers threads share one queue of
 * spooled result ids, each entry with its next attempt time. A worker
 * takes the entry due first among those whose destination (host:port) no
 * other worker is posting to, so a receiver that never answers (a tar pit)
 * holds one worker for one attempt at a time, and the others keep
 * delivering. An entry's destination is learnt from its spool file on the
 * first take; if another worker is already there, it goes back, due as it
 * was.
 */
struct pending {
	char *id;
	char *dest;		/* "host:port"; NULL until first loaded */
	double first, next;	/* mono_now() */
	unsigned attempts;
	struct pending *link;
};

#define NOTIFY_WORKERS_MAX 64

static pthread_t notify_threads[NOTIFY_WORKERS_MAX];
static const char *inflight[NOTIFY_WORKERS_MAX];	/* the dest each worker posts to */
static unsigned nthreads;
static pthread_mutex_t notify_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t notify_cond;
static struct pending *queue;
static const struct config *ncfg;
static int cond_ready;

static double rand01(void)
{
	uint32_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)rand();
	return (double)r / 4294967296.0;
}

void notify_enqueue(const char *id)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (p == NULL || (p->id = strdup(id)) == NULL) {
		free(p);
		log_warnx("%s: out of memory; task %s stays spooled until restart", __func__, id);
		return;
	}
	p->first = p->next = mono_now();
	pthread_mutex_lock(&notify_lock);
	p->link = queue;
	queue = p;
	pthread_cond_broadcast(&notify_cond);
	pthread_mutex_unlock(&notify_lock);
	status_backlog_changed();
}

/* Under notify_lock. */
static int dest_busy(const char *dest)
{
	for (unsigned i = 0; i < nthreads; i++)
		if (inflight[i] != NULL && strcmp(inflight[i], dest) == 0)
			return 1;
	return 0;
}

/* Under notify_lock: unlinks and returns the entry due first whose
 * destination is free, if it is due by `now`; otherwise sets *wake to
 * when it will be (0: nothing to wait for but a signal). */
static struct pending *take_due(double now, double *wake)
{
	struct pending **best = NULL;

	*wake = 0;
	for (struct pending **pp = &queue; *pp != NULL; pp = &(*pp)->link)
		if (((*pp)->dest == NULL || !dest_busy((*pp)->dest)) && (best == NULL || (*pp)->next < (*best)->next))
			best = pp;
	if (best == NULL)
		return NULL;
	if ((*best)->next > now) {
		*wake = (*best)->next;
		return NULL;
	}
	{
		struct pending *p = *best;

		*best = p->link;
		p->link = NULL;
		return p;
	}
}

static void requeue(struct pending *p)
{
	p->link = queue;
	queue = p;
}

static void free_pending(struct pending *p)
{
	free(p->id);
	free(p->dest);
	free(p);
}

/* "host:port" of a spooled URL; a URL that does not parse gets its own
 * key (the attempt then fails permanently). */
static char *dest_key(const char *url)
{
	struct dest d;
	char err[256], *key = NULL;

	if (dest_parse(url, &d, err, sizeof(err)) < 0)
		return strdup(url);
	if (asprintf(&key, "%s:%ld", d.host, d.port) < 0)
		key = NULL;
	dest_free(&d);
	return key;
}

/* One attempt with a loaded result (url and payload are consumed);
 * returns 1 when the entry is finished with (delivered or given up), 0
 * when it was rescheduled. Runs without notify_lock. */
static int attempt(struct pending *p, char *url, json_t *payload)
{
	char err[512] = "";
	long code = 0;
	enum notify_outcome o;
	double delay, now;

	p->attempts++;
	o = notify_post(url, ncfg->notify_format, payload, ncfg->notify_timeout, &code, err, sizeof(err));
	free(url);
	json_decref(payload);
	now = mono_now();
	if (o == NOTIFY_DELIVERED) {
		if (spool_remove(p->id) < 0)
			log_warn("notify: task %s: delivered but not removed from the spool", p->id);
		log_info("notify: task %s delivered: HTTP %ld, attempt %u, %.3fs after the first",
		    p->id, code, p->attempts, now - p->first);
		status_notify_attempt(p->id, 1, 0, code, now - p->first);
		return 1;
	}
	if (atomic_load(&notify_stopping)) {
		log_info("notify: task %s: attempt %u interrupted by shutdown; stays spooled", p->id, p->attempts);
		return 1;
	}
	delay = notify_backoff(p->attempts, ncfg->retry_initial, ncfg->retry_max, rand01());
	if (o == NOTIFY_PERMANENT || now + delay - p->first > ncfg->retry_total) {
		log_warnx("notify: task %s: attempt %u failed (%s); giving up %s; moved to spool/dead",
		    p->id, p->attempts, err, o == NOTIFY_PERMANENT ? "(not retryable)" : "(retry time exhausted)");
		spool_bury(p->id);
		status_notify_attempt(p->id, 0, 1, code, now - p->first);
		return 1;
	}
	log_info("notify: task %s: attempt %u failed (%s); retry in %.2fs", p->id, p->attempts, err, delay);
	status_notify_attempt(p->id, 0, 0, code, now - p->first);
	p->next = now + delay;
	return 0;
}

static void wait_until(double wake)
{
	struct timespec ts;
	double until, now = mono_now();

	if (wake <= 0) {
		pthread_cond_wait(&notify_cond, &notify_lock);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	until = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + (wake - now);
	ts.tv_sec = (time_t)until;
	ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
	pthread_cond_timedwait(&notify_cond, &notify_lock, &ts);
}

static void *notify_worker(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;

	pthread_mutex_lock(&notify_lock);
	while (!atomic_load(&notify_stopping)) {
		double wake;
		struct pending *p = take_due(mono_now(), &wake);
		char err[512] = "", *url = NULL;
		json_t *payload = NULL;
		int done;

		if (p == NULL) {
			wait_until(wake);
			continue;
		}
		pthread_mutex_unlock(&notify_lock);
		if (spool_load(p->id, &url, &payload, err, sizeof(err)) < 0) {
			log_warnx("notify: task %s: %s; moved to spool/dead", p->id, err);
			spool_bury(p->id);
			status_notify_attempt(p->id, 0, 1, -1, mono_now() - p->first);
			free_pending(p);
			pthread_mutex_lock(&notify_lock);
			continue;
		}
		if (p->dest == NULL)
			p->dest = dest_key(url);
		pthread_mutex_lock(&notify_lock);
		if (p->dest == NULL || dest_busy(p->dest)) {
			/* Another worker is at this destination (or no memory for
			 * the key): back in the queue, due as before. */
			int nomem = p->dest == NULL;

			requeue(p);
			pthread_mutex_unlock(&notify_lock);
			free(url);
			json_decref(payload);
			pthread_mutex_lock(&notify_lock);
			if (nomem)
				wait_until(mono_now() + 1);
			continue;
		}
		inflight[me] = p->dest;
		pthread_mutex_unlock(&notify_lock);
		done = attempt(p, url, payload);
		pthread_mutex_lock(&notify_lock);
		inflight[me] = NULL;
		if (done)
			free_pending(p);
		else
			requeue(p);
		/* The destination is free again: a worker waiting on it may go. */
		pthread_cond_broadcast(&notify_cond);
	}
	pthread_mutex_unlock(&notify_lock);
	return NULL;
}

int notify_start(const struct config *cfg)
{
	pthread_condattr_t ca;
	char err[512];

	ncfg = cfg;
	if (notify_policy_set(cfg->notify_allow, cfg->notify_deny, err, sizeof(err)) < 0) {
		log_warnx("notify: %s", err);
		return -1;
	}
	if (!notify_acl_has_allow(nacl))
		log_warnx("notify: no --notify-allow: results may be posted to any host but the built-in denied "
		    "ranges (link-local, multicast, unspecified, cloud metadata) and --notify-deny, loopback and "
		    "private networks included; set --notify-allow to your course servers");
	atomic_store(&notify_stopping, 0);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&notify_cond, &ca);
	pthread_condattr_destroy(&ca);
	cond_ready = 1;
	nthreads = 0;
	for (unsigned i = 0; i < cfg->notify_workers && i < NOTIFY_WORKERS_MAX; i++) {
		if (pthread_create(&notify_threads[i], NULL, notify_worker, (void *)(uintptr_t)i) != 0) {
			notify_stop();
			return -1;
		}
		nthreads++;
	}
	return 0;
}

/* No new attempts; those in flight get up to 5 s more. What is not
 * delivered stays spooled and is sent again on the next start. */
void notify_stop(void)
{
	if (!cond_ready)
		return;
	pthread_mutex_lock(&notify_lock);
	atomic_store(&notify_abort_at, mono_now() + 5);
	atomic_store(&notify_stopping, 1);
	pthread_cond_broadcast(&notify_cond);
	pthread_mutex_unlock(&notify_lock);
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(notify_threads[i], NULL);
	pthread_cond_destroy(&notify_cond);
	cond_ready = 0;
	nthreads = 0;
	while (queue != NULL) {
		struct pending *p = queue;

		queue = p->link;
		free_pending(p);
	}
	notify_acl_free(nacl);
	nacl = NULL;
}
