/*
 * notify.c: delivers spooled results to the client's notify URL.
 *
 * Owns: the delivery thread and its queue of spooled result ids; one
 * libcurl POST per attempt (JSON, or form-encoded for legacy clients);
 * exponential backoff with jitter between attempts; the verdict on each
 * answer (2xx delivered; connection errors, timeouts, 408, 429 and 5xx are
 * retried; anything else is permanent); the total time bound after which a
 * result is given up and moved to spool/dead.
 * Never: holds the runner's busy slot (results are spooled first, so the
 * instance takes new tasks while old results are still being delivered),
 * removes a result from the spool without a 2xx, follows redirects, or
 * speaks anything but http(s).
 */
#define _GNU_SOURCE
#include "server/sandboxd.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"

#define NOTIFY_URL_MAX 2048

int notify_url_check(const char *url, char *err, size_t errlen)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL;
	int rc = 0;

	if (url == NULL || url[0] == '\0')
		return errbuf_set(err, errlen, "notify URL is empty");
	if (strlen(url) > NOTIFY_URL_MAX)
		return errbuf_set(err, errlen, "notify URL longer than %d bytes", NOTIFY_URL_MAX);
	for (const char *p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return errbuf_set(err, errlen, "notify URL contains spaces, control or non-ASCII bytes");
	if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
		return errbuf_set(err, errlen, "notify URL must be http:// or https://");
	u = curl_url();
	if (u == NULL)
		return errbuf_set(err, errlen, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0')
		rc = errbuf_set(err, errlen, "notify URL is not a valid URL");
	else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
		rc = errbuf_set(err, errlen, "notify URL must be http:// or https://");
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
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

enum notify_outcome notify_post(const char *url, enum notify_format fmt, json_t *payload,
    double timeout, long *http_code, char *err, size_t errlen)
{
	CURL *c;
	struct curl_slist *hdrs = NULL;
	char *body;
	char ebuf[CURL_ERROR_SIZE] = "";
	CURLcode rc;
	enum notify_outcome out;

	*http_code = 0;
	body = fmt == NOTIFY_FORM ? notify_encode_form(payload) : json_dumps(payload, JSON_COMPACT | JSON_REAL_PRECISION(9));
	if (body == NULL) {
		errbuf_set(err, errlen, "cannot encode the result");
		return NOTIFY_RETRY;
	}
	c = curl_lazy_init() == 0 ? curl_easy_init() : NULL;
	if (c == NULL) {
		free(body);
		errbuf_set(err, errlen, "curl_easy_init failed");
		return NOTIFY_RETRY;
	}
	hdrs = curl_slist_append(hdrs, fmt == NOTIFY_FORM ?
	    "Content-Type: application/x-www-form-urlencoded" : "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
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
	if (rc != CURLE_OK) {
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
	curl_easy_cleanup(c);
	free(body);
	return out;
}

/* The delivery thread: a queue of ids, each with its next attempt time. */
struct pending {
	char *id;
	double first, next;	/* mono_now() */
	unsigned attempts;
	struct pending *link;
};

static pthread_t notify_thread;
static pthread_mutex_t notify_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t notify_cond;
static struct pending *queue;
static const struct config *ncfg;
static int notify_running;

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
	pthread_cond_signal(&notify_cond);
	pthread_mutex_unlock(&notify_lock);
}

/* Under notify_lock: unlinks and returns the entry due first. */
static struct pending *take_earliest(void)
{
	struct pending **best = NULL;

	for (struct pending **pp = &queue; *pp != NULL; pp = &(*pp)->link)
		if (best == NULL || (*pp)->next < (*best)->next)
			best = pp;
	if (best == NULL)
		return NULL;
	{
		struct pending *p = *best;

		*best = p->link;
		p->link = NULL;
		return p;
	}
}

static void free_pending(struct pending *p)
{
	free(p->id);
	free(p);
}

/* One attempt; returns 1 when the entry is finished with (delivered or
 * given up), 0 when it was rescheduled. Runs without notify_lock. */
static int attempt(struct pending *p)
{
	char err[512] = "", *url = NULL;
	json_t *payload = NULL;
	long code = 0;
	enum notify_outcome o;
	double delay, now;

	if (spool_load(p->id, &url, &payload, err, sizeof(err)) < 0) {
		log_warnx("notify: task %s: %s; moved to spool/dead", p->id, err);
		spool_bury(p->id);
		status_notify_attempt(0, 1);
		return 1;
	}
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
		status_notify_attempt(1, 0);
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
		status_notify_attempt(0, 1);
		return 1;
	}
	log_info("notify: task %s: attempt %u failed (%s); retry in %.2fs", p->id, p->attempts, err, delay);
	status_notify_attempt(0, 0);
	p->next = now + delay;
	return 0;
}

static void *notify_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&notify_lock);
	while (!atomic_load(&notify_stopping)) {
		struct pending *p = take_earliest();
		double now = mono_now();

		if (p == NULL) {
			pthread_cond_wait(&notify_cond, &notify_lock);
			continue;
		}
		if (p->next > now) {
			struct timespec ts;
			double until;

			p->link = queue;
			queue = p;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			until = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + (p->next - now);
			ts.tv_sec = (time_t)until;
			ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
			pthread_cond_timedwait(&notify_cond, &notify_lock, &ts);
			continue;
		}
		pthread_mutex_unlock(&notify_lock);
		if (attempt(p)) {
			free_pending(p);
			pthread_mutex_lock(&notify_lock);
		} else {
			pthread_mutex_lock(&notify_lock);
			p->link = queue;
			queue = p;
		}
	}
	pthread_mutex_unlock(&notify_lock);
	return NULL;
}

int notify_start(const struct config *cfg)
{
	pthread_condattr_t ca;

	ncfg = cfg;
	atomic_store(&notify_stopping, 0);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&notify_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&notify_thread, NULL, notify_main, NULL) != 0)
		return -1;
	notify_running = 1;
	return 0;
}

/* No new attempts; one in flight gets up to 5 s more. What is not
 * delivered stays spooled and is sent again on the next start. */
void notify_stop(void)
{
	if (!notify_running)
		return;
	pthread_mutex_lock(&notify_lock);
	atomic_store(&notify_abort_at, mono_now() + 5);
	atomic_store(&notify_stopping, 1);
	pthread_cond_signal(&notify_cond);
	pthread_mutex_unlock(&notify_lock);
	pthread_join(notify_thread, NULL);
	notify_running = 0;
	while (queue != NULL) {
		struct pending *p = queue;

		queue = p->link;
		free_pending(p);
	}
	pthread_cond_destroy(&notify_cond);
}
