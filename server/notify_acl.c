/*
 * notify_acl.c: which destinations a notification may be sent to.
 *
 * Owns: the parsing of --notify-allow / --notify-deny (comma- or
 * space-separated CIDRs, addresses and host names, `*.example.org` for
 * every name below a domain) and the verdict on one destination, given its
 * name (NULL for an address literal) and one address it resolved to:
 *   1. the built-in deny ranges (unspecified, link-local, multicast,
 *      broadcast, cloud metadata), which no setting lifts: the notify URL
 *      is the client's, and a POST from the sandbox host to the metadata
 *      service or a link-local device is a classic SSRF;
 *   2. --notify-deny, by name or by address;
 *   3. when --notify-allow is set, only what it names, by name or address;
 *   4. everything else is allowed (loopback and private ranges too: a
 *      course server on the same machine is the original deployment).
 * IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
 * Never: resolves names or logs; library-like, errors go to the caller's
 * buffer.
 */
#define _GNU_SOURCE
#include "server/sandboxd.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/util.h"

#define ACL_ENTRIES_MAX 256
#define ACL_NAME_MAX 253

struct acl_entry {
	int family;		/* AF_INET, AF_INET6; 0: a host name */
	unsigned char addr[16];
	unsigned prefix;
	char name[ACL_NAME_MAX + 1];	/* lower case; "*.d" matches below d */
	const char *why;	/* built-in entries: what the range is */
};

struct notify_acl {
	struct acl_entry *allow, *deny;
	size_t nallow, ndeny;
};

static const struct {
	const char *cidr, *why;
} builtin_deny[] = {
	{ "0.0.0.0/8", "an unspecified address" },
	{ "169.254.0.0/16", "a link-local address (the cloud metadata service lives there)" },
	{ "100.100.100.200/32", "a cloud metadata address" },
	{ "224.0.0.0/4", "a multicast address" },
	{ "255.255.255.255/32", "the broadcast address" },
	{ "::/128", "an unspecified address" },
	{ "fe80::/10", "a link-local address" },
	{ "fd00:ec2::254/128", "a cloud metadata address" },
	{ "ff00::/8", "a multicast address" },
};
#define NBUILTIN (sizeof(builtin_deny) / sizeof(builtin_deny[0]))
static struct acl_entry builtin[NBUILTIN];

/* "a.b.c.d", "a.b.c.d/n", "x::y", "[x::y]", "x::y/n". */
static int parse_cidr(const char *s, struct acl_entry *e)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash;
	size_t len = strlen(s);
	uint64_t prefix;

	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len + 1);
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash++ = '\0';
	if (buf[0] == '[') {
		size_t l = strlen(buf);

		if (l < 3 || buf[l - 1] != ']')
			return -1;
		buf[l - 1] = '\0';
		memmove(buf, buf + 1, l - 1);
	}
	memset(e, 0, sizeof(*e));
	if (inet_pton(AF_INET, buf, e->addr) == 1)
		e->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, e->addr) == 1)
		e->family = AF_INET6;
	else
		return -1;
	e->prefix = e->family == AF_INET ? 32 : 128;
	if (slash != NULL) {
		if (parse_u64(slash, 0, e->prefix, &prefix) < 0)
			return -1;
		e->prefix = (unsigned)prefix;
	}
	return 0;
}

/* A DNS name (letters, digits, '-', '.'), optionally "*." before it. */
static int parse_name(const char *s, struct acl_entry *e)
{
	size_t len = strlen(s), i = 0;

	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0 || len > ACL_NAME_MAX)
		return -1;
	memset(e, 0, sizeof(*e));
	if (len > 2 && s[0] == '*' && s[1] == '.') {
		e->name[0] = '*';
		e->name[1] = '.';
		i = 2;
	}
	if (s[i] == '.' || s[i] == '-')
		return -1;
	for (; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!isalnum(c) && c != '-' && c != '.')
			return -1;
		if (c == '.' && s[i - 1] == '.')
			return -1;
		e->name[i] = (char)tolower(c);
	}
	e->name[len] = '\0';
	return 0;
}

static int parse_list(const char *list, const char *what, struct acl_entry **out, size_t *n,
    char *err, size_t errlen)
{
	char *copy, *save = NULL;

	*out = NULL;
	*n = 0;
	if (list == NULL)
		return 0;
	copy = strdup(list);
	if (copy == NULL)
		return errbuf_set(err, errlen, "out of memory");
	for (char *tok = strtok_r(copy, ", \t", &save); tok != NULL; tok = strtok_r(NULL, ", \t", &save)) {
		struct acl_entry e, *grown;

		if (parse_cidr(tok, &e) < 0 && (strchr(tok, '/') != NULL || strchr(tok, ':') != NULL ||
		    parse_name(tok, &e) < 0)) {
			errbuf_set(err, errlen, "%s: '%s' is neither an address, a CIDR nor a host name", what, tok);
			goto fail;
		}
		if (*n >= ACL_ENTRIES_MAX) {
			errbuf_set(err, errlen, "%s: more than %d entries", what, ACL_ENTRIES_MAX);
			goto fail;
		}
		grown = realloc(*out, (*n + 1) * sizeof(**out));
		if (grown == NULL) {
			errbuf_set(err, errlen, "out of memory");
			goto fail;
		}
		*out = grown;
		(*out)[(*n)++] = e;
	}
	free(copy);
	return 0;
fail:
	free(copy);
	free(*out);
	*out = NULL;
	*n = 0;
	return -1;
}

int notify_acl_check_list(const char *list, const char *what, char *err, size_t errlen)
{
	struct acl_entry *e;
	size_t n;

	if (parse_list(list, what, &e, &n, err, errlen) < 0)
		return -1;
	free(e);
	return 0;
}

struct notify_acl *notify_acl_new(const char *allow, const char *deny, char *err, size_t errlen)
{
	struct notify_acl *acl = calloc(1, sizeof(*acl));

	if (acl == NULL) {
		errbuf_set(err, errlen, "out of memory");
		return NULL;
	}
	if (parse_list(allow, "notify-allow", &acl->allow, &acl->nallow, err, errlen) < 0 ||
	    parse_list(deny, "notify-deny", &acl->deny, &acl->ndeny, err, errlen) < 0) {
		notify_acl_free(acl);
		return NULL;
	}
	return acl;
}

void notify_acl_free(struct notify_acl *acl)
{
	if (acl == NULL)
		return;
	free(acl->allow);
	free(acl->deny);
	free(acl);
}

int notify_acl_has_allow(const struct notify_acl *acl)
{
	return acl != NULL && acl->nallow > 0;
}

/* The address as family + bytes; an IPv4-mapped IPv6 address as IPv4, so
 * that ::ffff:169.254.169.254 meets the same rule as 169.254.169.254. */
static int addr_bytes(const struct sockaddr *sa, unsigned char out[16])
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		return AF_INET;
	}
	if (sa->sa_family == AF_INET6) {
		const unsigned char *a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;

		if (memcmp(a, mapped, sizeof(mapped)) == 0) {
			memcpy(out, a + 12, 4);
			return AF_INET;
		}
		memcpy(out, a, 16);
		return AF_INET6;
	}
	return 0;
}

static int addr_in(const struct acl_entry *e, int family, const unsigned char *a)
{
	unsigned full = e->prefix / 8, rest = e->prefix % 8;

	if (e->family != family)
		return 0;
	if (memcmp(e->addr, a, full) != 0)
		return 0;
	return rest == 0 || ((e->addr[full] ^ a[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

static int name_in(const struct acl_entry *e, const char *name)
{
	size_t nl, el;

	if (e->family != 0 || name == NULL)
		return 0;
	if (e->name[0] != '*')
		return strcasecmp(e->name, name) == 0;
	nl = strlen(name);
	el = strlen(e->name + 1);	/* ".domain" */
	return nl > el && strcasecmp(name + nl - el, e->name + 1) == 0;
}

static const struct acl_entry *match(const struct acl_entry *list, size_t n, const char *name, int family,
    const unsigned char *a)
{
	for (size_t i = 0; i < n; i++)
		if (name_in(&list[i], name) || (family != 0 && addr_in(&list[i], family, a)))
			return &list[i];
	return NULL;
}

static void builtin_init(void)
{
	for (size_t i = 0; i < NBUILTIN; i++) {
		parse_cidr(builtin_deny[i].cidr, &builtin[i]);
		builtin[i].why = builtin_deny[i].why;
	}
}

static void entry_text(const struct acl_entry *e, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (e->family == 0) {
		snprintf(buf, len, "%s", e->name);
		return;
	}
	inet_ntop(e->family, e->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, e->prefix);
}

int notify_acl_check(const struct notify_acl *acl, const char *name, const struct sockaddr *sa,
    char *err, size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN], etext[ACL_NAME_MAX + 8];
	int family = sa != NULL ? addr_bytes(sa, a) : 0;
	const struct acl_entry *e;

	pthread_once(&once, builtin_init);
	if (family != 0)
		inet_ntop(family, a, text, sizeof(text));
	else
		snprintf(text, sizeof(text), "?");
	if (family != 0 && (e = match(builtin, NBUILTIN, NULL, family, a)) != NULL) {
		if (name != NULL)
			return errbuf_set(err, errlen, "notify host %s resolves to %s, %s", name, text, e->why);
		return errbuf_set(err, errlen, "notify host %s is %s", text, e->why);
	}
	if (acl == NULL)
		return 0;
	if ((e = match(acl->deny, acl->ndeny, name, family, a)) != NULL) {
		entry_text(e, etext, sizeof(etext));
		return errbuf_set(err, errlen, "notify host %s%s%s is denied by notify-deny (%s)",
		    name ? name : text, name && family ? " at " : "", name && family ? text : "", etext);
	}
	if (acl->nallow > 0 && match(acl->allow, acl->nallow, name, family, a) == NULL)
		return errbuf_set(err, errlen, "notify host %s%s%s is not in notify-allow", name ? name : text,
		    name && family ? " at " : "", name && family ? text : "");
	return 0;
}

/* Before resolving: a name on the deny list is refused without a lookup;
 * a name on the allow list may still resolve to a denied address, so only
 * the address check can accept it. */
int notify_acl_check_name(const struct notify_acl *acl, const char *name, char *err, size_t errlen)
{
	const struct acl_entry *e;

	if (acl == NULL || (e = match(acl->deny, acl->ndeny, name, 0, NULL)) == NULL)
		return 0;
	return errbuf_set(err, errlen, "notify host %s is denied by notify-deny (%s)", name, e->name);
}
