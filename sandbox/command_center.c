/*
 * command_center.c: the Command Center, Scout's host end (DESIGN 5).
 * Owns: the conversation with one guest Carrier over the channel, the
 * policy decisions, and the audit record (`files`, `denied`).
 * Never: logs, blocks (out_fd is written only as far as it takes bytes),
 * trusts a byte from the guest: frames are bounded (channel.c), the audit
 * is bounded in entries and bytes, a malformed or out-of-order frame ends
 * the conversation (the guest then fails closed) and cc_error() says why.
 * In-process use (carrier --policy on a plain host) calls cc_decide and
 * cc_record directly; no channel is involved.
 */
#include <jansson.h>

#include "sandbox/scout.h"
#include "common/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CC_MAX_ENTRIES 256	/* per verdict: allowed and denied files */
#define CC_MAX_DENIED 64	/* distinct refused syscall names */
#define CC_PATH_CAP 512		/* audit path bytes kept (after escaping) */
#define CC_SLOTS 1024		/* > 2 * 2 * CC_MAX_ENTRIES: the table never fills */
#define CC_OUT_CAP (64 * 1024)	/* answers a guest may leave unread */

struct cc_entry {
	char *path;
	uint8_t access;
	uint8_t verdict;
	uint64_t count;
	size_t order;
};

struct cc_denied {
	char name[CHANNEL_MAX_NAME + 1];
	uint64_t count;
};

struct command_center {
	const struct policy *policy;
	struct cc_entry *slots[CC_SLOTS];
	struct cc_entry *order[2 * CC_MAX_ENTRIES];
	size_t n_order;
	size_t n_entries[2];		/* by verdict */
	uint64_t dropped[2];		/* requests whose entry did not fit, by verdict */
	struct cc_denied denied[CC_MAX_DENIED];
	size_t n_denied;
	uint64_t denied_dropped;
	/* channel state */
	int hello;
	int finished;
	char error[256];
	uint8_t in[CHANNEL_MAX_FRAME];
	size_t in_len;
	uint8_t out[CC_OUT_CAP];
	size_t out_len;
	struct channel_msg msg;		/* scratch, kept off the stack */
};

struct command_center *cc_new(const struct policy *p, char *err, size_t errlen)
{
	struct command_center *cc;

	if (p == NULL) {
		errbuf_set(err, errlen, "no policy");
		return NULL;
	}
	cc = calloc(1, sizeof(*cc));
	if (cc == NULL) {
		errbuf_set(err, errlen, "out of memory");
		return NULL;
	}
	cc->policy = p;
	return cc;
}

/* Printable ASCII stays; every other byte and the backslash become \xNN,
 * so the audit is valid UTF-8 JSON whatever the guest sent. */
static void audit_path(const char *in, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (; *in != '\0'; in++) {
		unsigned char c = (unsigned char)*in;

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (o + 1 >= cap - 3)
				break;
			out[o++] = (char)c;
		} else {
			if (o + 4 >= cap - 3)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (*in != '\0') {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

static uint32_t hash_entry(const char *path, uint8_t access, uint8_t verdict)
{
	uint32_t h = 2166136261u;

	for (; *path != '\0'; path++)
		h = (h ^ (uint8_t)*path) * 16777619u;
	h = (h ^ access) * 16777619u;
	return (h ^ verdict) * 16777619u;
}

void cc_record(struct command_center *cc, const char *path, enum policy_access a,
    enum policy_verdict v, uint32_t n)
{
	char p[CC_PATH_CAP + 4];
	uint32_t h;
	size_t i;
	struct cc_entry *e;
	int vi = v == POLICY_ALLOW ? 1 : 0;

	audit_path(path, p, sizeof(p));
	h = hash_entry(p, (uint8_t)a, (uint8_t)vi);
	for (i = h % CC_SLOTS; cc->slots[i] != NULL; i = (i + 1) % CC_SLOTS) {
		e = cc->slots[i];
		if (e->access == a && e->verdict == vi && strcmp(e->path, p) == 0) {
			e->count += n;
			return;
		}
	}
	if (cc->n_entries[vi] == CC_MAX_ENTRIES) {
		cc->dropped[vi] += n;
		return;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL || (e->path = strdup(p)) == NULL) {
		free(e);
		cc->dropped[vi] += n;
		return;
	}
	e->access = (uint8_t)a;
	e->verdict = (uint8_t)vi;
	e->count = n;
	cc->slots[i] = e;
	cc->order[cc->n_order++] = e;
	cc->n_entries[vi]++;
}

enum policy_verdict cc_decide(struct command_center *cc, const char *path, enum policy_access a)
{
	enum policy_verdict v = policy_check(cc->policy, path, a);

	cc_record(cc, path, a, v, 1);
	return v;
}

void cc_record_denied(struct command_center *cc, const char *syscall, uint32_t n)
{
	size_t i;

	for (i = 0; i < cc->n_denied; i++) {
		if (strcmp(cc->denied[i].name, syscall) == 0) {
			cc->denied[i].count += n;
			return;
		}
	}
	if (cc->n_denied == CC_MAX_DENIED || strlen(syscall) > CHANNEL_MAX_NAME) {
		cc->denied_dropped += n;
		return;
	}
	strcpy(cc->denied[cc->n_denied].name, syscall);
	cc->denied[cc->n_denied].count = n;
	cc->n_denied++;
}

static int cc_fail(struct command_center *cc, const char *why)
{
	if (cc->error[0] == '\0')
		snprintf(cc->error, sizeof(cc->error), "%s", why);
	cc->finished = 1;
	return -1;
}

static int queue(struct command_center *cc, const struct channel_msg *m)
{
	char err[128];
	ssize_t n;

	n = channel_encode(m, cc->out + cc->out_len, sizeof(cc->out) - cc->out_len, err, sizeof(err));
	if (n < 0)
		return cc_fail(cc, "guest left too many answers unread");
	cc->out_len += (size_t)n;
	return 0;
}

/* One decoded frame from the guest. */
static int handle(struct command_center *cc, const struct channel_msg *m)
{
	struct channel_msg reply;

	if (!cc->hello && m->type != CHANNEL_HELLO)
		return cc_fail(cc, "protocol: first frame is not HELLO");
	memset(&reply, 0, sizeof(reply));
	switch (m->type) {
	case CHANNEL_HELLO:
		if (cc->hello)
			return cc_fail(cc, "protocol: second HELLO");
		cc->hello = 1;
		reply.type = CHANNEL_HELLO_ACK;
		return queue(cc, &reply);
	case CHANNEL_ASK: {
		size_t scope;
		enum policy_verdict v = policy_check_scope(cc->policy, m->text,
		    (enum policy_access)m->access, &scope);

		cc_record(cc, m->text, (enum policy_access)m->access, v, 1);
		reply.type = CHANNEL_VERDICT;
		reply.id = m->id;
		reply.verdict = (uint8_t)v;
		reply.scope = (uint16_t)scope;	/* <= strlen(path) <= CHANNEL_MAX_TEXT */
		return queue(cc, &reply);
	}
	case CHANNEL_COUNT:
		/* The guest only counts answers the host gave: a claimed allow the
		 * policy would deny is a lie, and ends the conversation. */
		if (m->verdict != policy_check(cc->policy, m->text, (enum policy_access)m->access))
			return cc_fail(cc, "protocol: COUNT disagrees with the policy");
		cc_record(cc, m->text, (enum policy_access)m->access, (enum policy_verdict)m->verdict,
		    m->count);
		return 0;
	case CHANNEL_DENIED:
		cc_record_denied(cc, m->text, m->count);
		return 0;
	case CHANNEL_BYE:
		cc->finished = 1;
		return -1;
	default:
		return cc_fail(cc, "protocol: frame of the wrong direction");
	}
}

int cc_feed(struct command_center *cc, const uint8_t *buf, size_t len)
{
	char err[160], why[200];

	if (cc->finished)
		return len == 0 ? -1 : cc_fail(cc, "protocol: bytes after the end");
	while (len > 0) {
		size_t take = sizeof(cc->in) - cc->in_len, used = 0, pos = 0;
		int rc;

		if (take > len)
			take = len;
		memcpy(cc->in + cc->in_len, buf, take);
		cc->in_len += take;
		buf += take;
		len -= take;
		while (pos < cc->in_len) {
			rc = channel_decode(cc->in + pos, cc->in_len - pos, &cc->msg, &used, err, sizeof(err));
			if (rc < 0) {
				snprintf(why, sizeof(why), "malformed frame: %s", err);
				return cc_fail(cc, why);
			}
			if (rc == 0)
				break;
			pos += used;
			if (handle(cc, &cc->msg) < 0) {
				if (pos < cc->in_len || len > 0)
					return cc_fail(cc, "protocol: bytes after the end");
				cc->in_len = 0;
				return -1;
			}
		}
		memmove(cc->in, cc->in + pos, cc->in_len - pos);
		cc->in_len -= pos;
	}
	return 0;
}

static int flush(struct command_center *cc, int out_fd)
{
	while (cc->out_len > 0) {
		ssize_t n = write(out_fd, cc->out, cc->out_len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return cc_fail(cc, "channel write failed");
		memmove(cc->out, cc->out + n, cc->out_len - (size_t)n);
		cc->out_len -= (size_t)n;
	}
	return 0;
}

int cc_on_readable(struct command_center *cc, int in_fd, int out_fd)
{
	uint8_t buf[4096];
	ssize_t n;
	int rc;

	do
		n = read(in_fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n <= 0 && cc->finished)
		return -1;	/* after BYE, EOF (or a pty's EIO) is the clean end */
	if (n < 0)
		return cc_fail(cc, "channel read failed");
	if (n == 0) {
		if (cc->finished)
			return -1;
		return cc_fail(cc, cc->hello ? "channel closed without BYE" : "channel closed before HELLO");
	}
	rc = cc_feed(cc, buf, (size_t)n);
	if (flush(cc, out_fd) < 0)
		return -1;
	return rc;
}

int cc_want_write(const struct command_center *cc)
{
	return cc->out_len > 0;
}

int cc_on_writable(struct command_center *cc, int out_fd)
{
	return flush(cc, out_fd);
}

size_t cc_take_output(struct command_center *cc, uint8_t *buf, size_t cap)
{
	size_t n = cc->out_len < cap ? cc->out_len : cap;

	memcpy(buf, cc->out, n);
	memmove(cc->out, cc->out + n, cc->out_len - n);
	cc->out_len -= n;
	return n;
}

const char *cc_error(const struct command_center *cc)
{
	return cc->error[0] != '\0' ? cc->error : NULL;
}

int cc_finished(const struct command_center *cc)
{
	return cc->finished;
}

static json_t *entry_json(const char *path, const char *access, const char *verdict, uint64_t count)
{
	return json_pack("{s:s, s:s, s:s, s:I}", "path", path, "access", access,
	    "verdict", verdict, "count", (json_int_t)(count > INT64_MAX ? INT64_MAX : count));
}

/* Denied entries first: they matter most to a reader of the result. */
json_t *cc_files_json(const struct command_center *cc)
{
	json_t *a = json_array();

	if (a == NULL)
		return NULL;
	for (int vi = 0; vi <= 1; vi++) {
		const char *vname = vi ? "allow" : "deny";

		for (size_t i = 0; i < cc->n_order; i++) {
			const struct cc_entry *e = cc->order[i];

			if (e->verdict == vi)
				json_array_append_new(a, entry_json(e->path,
				    policy_access_name((enum policy_access)e->access), vname, e->count));
		}
		if (cc->dropped[vi] > 0)
			json_array_append_new(a, entry_json("(more)", "any", vname, cc->dropped[vi]));
	}
	return a;
}

json_t *cc_denied_json(const struct command_center *cc)
{
	json_t *a = json_array();

	if (a == NULL)
		return NULL;
	for (size_t i = 0; i < cc->n_denied; i++)
		json_array_append_new(a, json_pack("{s:s, s:I}", "syscall", cc->denied[i].name,
		    "count", (json_int_t)(cc->denied[i].count > INT64_MAX ? INT64_MAX : cc->denied[i].count)));
	if (cc->denied_dropped > 0)
		json_array_append_new(a, json_pack("{s:s, s:I}", "syscall", "(more)",
		    "count", (json_int_t)(cc->denied_dropped > INT64_MAX ? INT64_MAX : cc->denied_dropped)));
	return a;
}

int cc_write_audit(const struct command_center *cc, const char *file, char *err, size_t errlen)
{
	json_t *o = json_pack("{s:o, s:o}", "files", cc_files_json(cc), "denied", cc_denied_json(cc));
	int rc;

	if (o == NULL)
		return errbuf_set(err, errlen, "out of memory");
	if (cc_error(cc) != NULL)
		json_object_set_new(o, "channel_error", json_string(cc_error(cc)));
	rc = json_dump_file(o, file, JSON_INDENT(1));
	json_decref(o);
	if (rc < 0)
		return errbuf_set(err, errlen, "write %s failed", file);
	return 0;
}

void cc_free(struct command_center *cc)
{
	if (cc == NULL)
		return;
	for (size_t i = 0; i < cc->n_order; i++) {
		free(cc->order[i]->path);
		free(cc->order[i]);
	}
	free(cc);
}
