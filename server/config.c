/*
 * config.c: sandboxd's settings from flags and an optional config file.
 *
 * Owns: one table of options (name, kind, default, help); the command line
 * (--name value or --name=value), the config file (`name = value` lines,
 * `#` comments) and --help are all driven by it, so they cannot drift
 * apart. The file is read first; flags override it.
 * Never: logs (errors go to the caller's buffer), accepts a number it did
 * not parse strictly.
 */
#define _GNU_SOURCE
#include "server/sandboxd.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

enum kind { K_STR, K_UINT, K_SIZE, K_DURATION, K_ONOFF, K_FORMAT, K_FD, K_FLAG, K_COUNT, K_CPU, K_LAYER };

struct option_def {
	const char *name;
	enum kind kind;
	size_t off;
	uint64_t max;		/* K_UINT, K_SIZE; seconds for K_DURATION */
	const char *arg;	/* for --help */
	const char *help;
};

#define O(f) offsetof(struct config, f)

static const struct option_def options[] = {
	{ "config", K_STR, O(config_file), 0, "FILE", "read settings from FILE first (name = value lines)" },
	{ "listen", K_STR, O(listen), 0, "ADDR", "address to listen on (default 127.0.0.1; front it with nginx)" },
	{ "port", K_UINT, O(port), 65535, "N", "TCP port (default 8080; 0 = any free port, logged)" },
	{ "listen-fd", K_FD, O(listen_fd), 0, "FD", "use this inherited listening socket instead of binding" },
	{ "work-dir", K_STR, O(work_dir), 0, "DIR", "uploads, task dirs and the spool (default /var/lib/tmc-sandbox)" },
	{ "images-dir", K_STR, O(images_dir), 0, "DIR", "where linux.uml, initrd.img, rootfs.squashfs, lpj are (default: the directory sandboxd is in)" },
	{ "kernel", K_STR, O(kernel), 0, "FILE", "UML kernel (overrides images-dir)" },
	{ "initrd", K_STR, O(initrd), 0, "FILE", "initrd image (overrides images-dir)" },
	{ "rootfs", K_STR, O(rootfs), 0, "FILE", "root squashfs (overrides images-dir)" },
	{ "memory", K_SIZE, O(memory), 64ULL << 30, "SIZE", "guest memory, the cap for a task's `memory` (default 256M)" },
	{ "timeout", K_UINT, O(timeout_s), 86400, "SECONDS", "wall-clock cap, the cap for a task's `timeout` (default 200)" },
	{ "output-cap", K_SIZE, O(output_cap), 4ULL << 30, "SIZE", "size of output.tar (default 20M)" },
	{ "upload-cap", K_SIZE, O(upload_cap), 4ULL << 30, "SIZE", "largest `file` part accepted; beyond it 413 (default 20M)" },
	{ "max-entries", K_COUNT, O(upload.max_entries), 10000000, "N", "most entries an upload may hold (default 10000)" },
	{ "max-unpacked", K_SIZE, O(upload.max_unpacked), 64ULL << 30, "SIZE", "largest unpacked upload (default 64M)" },
	{ "max-entry", K_SIZE, O(upload.max_entry), 64ULL << 30, "SIZE", "largest single file in an upload (default 64M)" },
	{ "notify-format", K_FORMAT, O(notify_format), 0, "json|form",
	  "notification body: JSON (default) or form-encoded for legacy clients" },
	{ "notify-timeout", K_DURATION, O(notify_timeout), 3600, "DURATION", "one delivery attempt (default 30s)" },
	{ "retry-initial", K_DURATION, O(retry_initial), 3600, "DURATION", "first retry delay, doubled each time (default 1s)" },
	{ "retry-max", K_DURATION, O(retry_max), 86400, "DURATION", "longest retry delay (default 5m)" },
	{ "retry-total", K_DURATION, O(retry_total), 30 * 86400, "DURATION",
	  "give up delivering after this long; kept in spool/dead (default 1h)" },
	/* Hostile clients and receivers (issue 9): where results may go, how
	 * many go at once, how long one request may take. */
	{ "notify-allow", K_STR, O(notify_allow), 0, "LIST",
	  "send results only to these CIDRs and host names (comma-separated; *.DOMAIN for names below it; "
	  "default: any but the denied)" },
	{ "notify-deny", K_STR, O(notify_deny), 0, "LIST",
	  "never send results to these CIDRs and host names, on top of the built-in link-local, multicast, "
	  "unspecified and cloud metadata ranges" },
	{ "notify-workers", K_UINT, O(notify_workers), 64, "N",
	  "concurrent deliveries, at most one per destination host:port (default 4)" },
	{ "request-timeout", K_DURATION, O(request_timeout), 3600, "DURATION",
	  "a whole HTTP request, first byte to last, before it is cut (default 120s)" },
	{ "log", K_STR, O(log_file), 0, "FILE", "log to FILE (appended) instead of stderr" },
	{ "verbose", K_FLAG, O(verbosity), 0, NULL, "more log output (repeatable)" },
	{ "user", K_STR, O(user), 0, "USER", "host user (name or uid) UML runs as when started as root "
	  "(default: the uid slot's; see uid-slot)" },
	{ "uid-slot", K_UINT, O(uid_slot), UID_SLOTS - 1, "N",
	  "when root: UML runs as uid 60600+2N and tmc-unpack as 60601+2N (gid the same), N held "
	  "by a lock so that no two instances share one (default: the first free slot from "
	  "port mod 128)" },
	{ "group", K_STR, O(group), 0, "GROUP", "host group (name or gid) for UML (default: the user's)" },
	{ "scout", K_ONOFF, O(scout), 0, "on|off", "confine tmc-run with Scout, the seccomp layer (default on)" },
	{ "policy", K_STR, O(policy), 0, "FILE", "Scout policy file (default: built in)" },
	/* Speed (issue 10): where UML runs, and a guest booted ahead. */
	{ "cpu", K_CPU, O(cpu), 0, "N|auto|none",
	  "pin each task's UML process tree to host CPU N; auto (default): the (port mod n)-th of the n "
	  "CPUs sandboxd may run on, so consecutive ports get their own; none: the scheduler's choice" },
	{ "preboot", K_ONOFF, O(preboot), 0, "on|off",
	  "while idle, boot the next guest up to where it waits for its task (default on)" },
	{ "huge-pages", K_ONOFF, O(huge_pages), 0, "on|off",
	  "guest RAM on transparent huge pages where the host's tmpfs allows them (default on)" },
	{ "populate-ram", K_ONOFF, O(populate_ram), 0, "on|off",
	  "while a guest idles, have the host fault in its RAM, so that its task does not wait for "
	  "it (default on; each idle pre-booted guest then holds its whole memory)" },
	{ "spare-unpack", K_ONOFF, O(spare_unpack), 0, "on|off",
	  "while idle, start tmc-unpack ahead for the next upload and output.tar (default on)" },
	{ "max-connections", K_UINT, O(max_connections), 100000, "N", "concurrent HTTP connections (default 64)" },
	{ "connection-timeout", K_DURATION, O(conn_timeout), 3600, "DURATION", "idle HTTP connection (default 60s)" },
	{ "layer", K_LAYER, O(layers), 0, "NAME=FILE",
	  "offer the squashfs FILE as layer NAME: a task's `layers` field attaches it read-only at "
	  "/opt/layers/NAME (repeatable; each name once; tools/make-layer builds one)" },
	{ "keep-work-dir", K_FLAG, O(keep_work_dir), 0, NULL, "leave each task's work dir behind (debugging)" },
	/* The spool's bounds (spool.c): results must not fill the disk. */
	{ "spool-max", K_SIZE, O(spool_max), 1ULL << 50, "SIZE",
	  "results waiting or given up, in bytes; when the next result might not fit, new tasks get 503 "
	  "(default a tenth of the work dir's file system)" },
	{ "spool-max-files", K_COUNT, O(spool_max_files), 100000000, "N",
	  "results waiting for delivery; at this many, new tasks get 503 (default 10000)" },
	{ "result-max", K_SIZE, O(result_max), 1ULL << 30, "SIZE",
	  "one result's JSON after escaping; the largest fields are cut to fit and named in `truncated` "
	  "(default 1.5 x output-cap + 4M)" },
	{ "dead-max-age", K_DURATION, O(dead_max_age), 366 * 86400, "DURATION",
	  "keep results given up on (spool/dead) this long; 0 = no age limit (default 168h)" },
	{ "dead-max", K_COUNT, O(dead_max), 100000000, "N", "keep at most this many results in spool/dead (default 1000)" },
};
#define NOPTIONS (sizeof(options) / sizeof(options[0]))

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->listen = strdup("127.0.0.1");
	cfg->port = 8080;
	cfg->listen_fd = -1;
	cfg->work_dir = strdup("/var/lib/tmc-sandbox");
	cfg->images_dir = self_dir();
	if (cfg->images_dir == NULL)
		cfg->images_dir = strdup(".");
	cfg->memory = 256ULL << 20;
	cfg->timeout_s = 200;
	cfg->output_cap = 20ULL << 20;
	cfg->upload_cap = 20ULL << 20;
	upload_limits_defaults(&cfg->upload);
	cfg->notify_format = NOTIFY_JSON;
	cfg->notify_timeout = 30;
	cfg->retry_initial = 1;
	cfg->retry_max = 300;
	cfg->retry_total = 3600;
	cfg->notify_workers = 4;
	cfg->request_timeout = 120;
	cfg->verbosity = 1;
	cfg->scout = 1;
	cfg->uid_slot = UID_SLOTS;
	cfg->cpu = SANDBOX_CPU_AUTO;
	cfg->preboot = 1;
	cfg->huge_pages = 1;
	cfg->populate_ram = 1;
	cfg->spare_unpack = 1;
	cfg->max_connections = 64;
	cfg->conn_timeout = 60;
	cfg->spool_max_files = 10000;
	cfg->dead_max_age = 7 * 86400;
	cfg->dead_max = 1000;
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < NOPTIONS; i++)
		if (options[i].kind == K_STR) {
			char **p = (char **)((char *)cfg + options[i].off);

			free(*p);
			*p = NULL;
		}
	layer_list_free(cfg->layers, cfg->nlayers);
	cfg->layers = NULL;
	cfg->nlayers = 0;
}

/* "250ms", "2s", "5m", "1h", or plain seconds (fractions allowed). */
int config_parse_duration(const char *s, double max, double *out)
{
	char *end;
	double v, mult = 1;

	if (s == NULL || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s)
		return -1;
	if (strcmp(end, "ms") == 0)
		mult = 0.001;
	else if (strcmp(end, "s") == 0 || *end == '\0')
		mult = 1;
	else if (strcmp(end, "m") == 0)
		mult = 60;
	else if (strcmp(end, "h") == 0)
		mult = 3600;
	else
		return -1;
	v *= mult;
	if (!isfinite(v) || v < 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

static const struct option_def *find_option(const char *name)
{
	for (size_t i = 0; i < NOPTIONS; i++)
		if (strcmp(options[i].name, name) == 0)
			return &options[i];
	return NULL;
}

int config_set(struct config *cfg, const char *key, const char *value, char *err, size_t errlen)
{
	const struct option_def *o = find_option(key);
	void *field;
	uint64_t u;

	if (o == NULL)
		return errbuf_set(err, errlen, "unknown setting '%s'", key);
	field = (char *)cfg + o->off;
	if (o->kind == K_FLAG) {
		if (value != NULL && strcmp(value, "1") != 0 && strcasecmp(value, "on") != 0 &&
		    strcasecmp(value, "yes") != 0 && strcasecmp(value, "true") != 0)
			return errbuf_set(err, errlen, "%s: takes no value", key);
		if (strcmp(key, "verbose") == 0)
			(*(int *)field)++;
		else
			*(int *)field = 1;
		return 0;
	}
	if (value == NULL)
		return errbuf_set(err, errlen, "%s: needs a value", key);
	switch (o->kind) {
	case K_STR: {
		char *dup = strdup(value);

		if (dup == NULL)
			return errbuf_set(err, errlen, "out of memory");
		free(*(char **)field);
		*(char **)field = dup;
		return 0;
	}
	case K_UINT:
		if (parse_u64(value, 0, o->max, &u) < 0)
			return errbuf_set(err, errlen, "%s: '%s' is not a number in 0..%llu", key, value,
			    (unsigned long long)o->max);
		*(unsigned *)field = (unsigned)u;
		return 0;
	case K_COUNT:
		if (parse_u64(value, 1, o->max, &u) < 0)
			return errbuf_set(err, errlen, "%s: '%s' is not a number in 1..%llu", key, value,
			    (unsigned long long)o->max);
		*(uint64_t *)field = u;
		return 0;
	case K_SIZE:
		if (parse_size(value, o->max, &u) < 0 || u == 0)
			return errbuf_set(err, errlen, "%s: '%s' is not a size (like 512K, 256M, 2G) up to %llu",
			    key, value, (unsigned long long)o->max);
		*(uint64_t *)field = u;
		return 0;
	case K_DURATION:
		if (config_parse_duration(value, (double)o->max, (double *)field) < 0)
			return errbuf_set(err, errlen, "%s: '%s' is not a duration (like 250ms, 2s, 5m, 1h)", key, value);
		return 0;
	case K_ONOFF:
		if (strcasecmp(value, "on") == 0 || strcmp(value, "1") == 0)
			*(int *)field = 1;
		else if (strcasecmp(value, "off") == 0 || strcmp(value, "0") == 0)
			*(int *)field = 0;
		else
			return errbuf_set(err, errlen, "%s: '%s' is neither on nor off", key, value);
		return 0;
	case K_FORMAT:
		if (strcmp(value, "json") == 0)
			*(enum notify_format *)field = NOTIFY_JSON;
		else if (strcmp(value, "form") == 0)
			*(enum notify_format *)field = NOTIFY_FORM;
		else
			return errbuf_set(err, errlen, "%s: '%s' is neither json nor form", key, value);
		return 0;
	case K_CPU: {
		char why[160];

		if (cpu_affinity_parse(value, (int *)field, why, sizeof(why)) < 0)
			return errbuf_set(err, errlen, "%s: %s", key, why);
		return 0;
	}
	case K_LAYER:
		/* Repeatable: each adds one; the file is checked now. */
		return layer_add(&cfg->layers, &cfg->nlayers, value, err, errlen);
	case K_FD:
		if (parse_u64(value, 0, 65535, &u) < 0)
			return errbuf_set(err, errlen, "%s: '%s' is not a file descriptor", key, value);
		*(int *)field = (int)u;
		return 0;
	default:
		return errbuf_set(err, errlen, "%s: unhandled kind", key);
	}
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char line[4096], why[256];
	unsigned lineno = 0;

	if (f == NULL)
		return errbuf_set(err, errlen, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		char *hash, *eq, *key, *val;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			fclose(f);
			return errbuf_set(err, errlen, "%s:%u: line too long", path, lineno);
		}
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		key = trim(line);
		if (*key == '\0')
			continue;
		eq = strchr(key, '=');
		val = NULL;
		if (eq != NULL) {
			*eq = '\0';
			val = trim(eq + 1);
			key = trim(key);
		}
		if (strcmp(key, "config") == 0 ||
		    config_set(cfg, key, val, why, sizeof(why)) < 0) {
			fclose(f);
			return errbuf_set(err, errlen, "%s:%u: %s", path, lineno,
			    strcmp(key, "config") == 0 ? "config files do not nest" : why);
		}
	}
	fclose(f);
	return 0;
}

/* Returns 0 to run, 1 when --help or --version was answered, -1 on error. */
int config_parse(struct config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	char why[256];

	/* The file first, so that flags override it wherever they stand. */
	for (int i = 1; i < argc; i++) {
		const char *path = NULL;

		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			path = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			path = argv[i] + 9;
		if (path != NULL && config_load_file(cfg, path, err, errlen) < 0)
			return -1;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *value = NULL;
		char key[64];
		const struct option_def *o;
		size_t klen;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			config_usage(1);
			return 1;
		}
		if (strcmp(a, "--version") == 0) {
			dprintf(1, "sandboxd %s\n", SANDBOXD_VERSION);
			return 1;
		}
		if (strcmp(a, "-v") == 0)
			a = "--verbose";
		if (strncmp(a, "--", 2) != 0)
			return errbuf_set(err, errlen, "unexpected argument '%s' (see --help)", a);
		a += 2;
		klen = strcspn(a, "=");
		if (klen >= sizeof(key))
			return errbuf_set(err, errlen, "unknown option '--%s' (see --help)", a);
		memcpy(key, a, klen);
		key[klen] = '\0';
		o = find_option(key);
		if (o == NULL)
			return errbuf_set(err, errlen, "unknown option '--%s' (see --help)", key);
		if (a[klen] == '=')
			value = a + klen + 1;
		else if (o->kind != K_FLAG) {
			if (i + 1 >= argc)
				return errbuf_set(err, errlen, "--%s needs a value", key);
			value = argv[++i];
		}
		if (strcmp(key, "config") == 0)
			continue;
		if (config_set(cfg, key, value, why, sizeof(why)) < 0)
			return errbuf_set(err, errlen, "--%s", why);
	}
	if (cfg->retry_initial <= 0 || cfg->retry_max < cfg->retry_initial)
		return errbuf_set(err, errlen, "retry-initial must be > 0 and at most retry-max");
	if (cfg->notify_timeout <= 0)
		return errbuf_set(err, errlen, "notify-timeout must be > 0");
	if (cfg->timeout_s == 0)
		return errbuf_set(err, errlen, "timeout must be at least 1 second");
	if (cfg->notify_workers == 0)
		return errbuf_set(err, errlen, "notify-workers must be at least 1");
	if (cfg->request_timeout <= 0)
		return errbuf_set(err, errlen, "request-timeout must be > 0");
	if (notify_acl_check_list(cfg->notify_allow, "notify-allow", err, errlen) < 0 ||
	    notify_acl_check_list(cfg->notify_deny, "notify-deny", err, errlen) < 0)
		return -1;
	if (cfg->memory < (32ULL << 20))
		return errbuf_set(err, errlen, "memory must be at least 32M");
	if (cfg->result_max != 0 && cfg->result_max < (64ULL << 10))
		return errbuf_set(err, errlen, "result-max must be at least 64K");
	if (cfg->result_max == 0)
		cfg->result_max = cfg->output_cap + cfg->output_cap / 2 + (4ULL << 20);
	return 0;
}

void config_usage(int fd)
{
	dprintf(fd,
	    "usage: sandboxd [options]\n"
	    "\n"
	    "The TMC-style task service: POST / or /tasks.json with multipart fields\n"
	    "file (the task tar), notify (callback URL), token; optional timeout,\n"
	    "memory (only lower than the instance's), wait=1 and layers=NAME[,NAME].\n"
	    "GET /status.json,\n"
	    "GET / (status page), GET /metrics (Prometheus). One task at a time.\n"
	    "SIGTERM drains: no new tasks, the running one finishes, then exit.\n"
	    "\n"
	    "Options (also `name = value` lines in the --config file; flags win):\n");
	for (size_t i = 0; i < NOPTIONS; i++) {
		char left[64];

		snprintf(left, sizeof(left), "--%s%s%s", options[i].name, options[i].arg ? " " : "",
		    options[i].arg ? options[i].arg : "");
		dprintf(fd, "  %-32s %s\n", left, options[i].help);
	}
	dprintf(fd,
	    "  %-32s %s\n  %-32s %s\n"
	    "\nSizes take K, M, G suffixes; durations ms, s, m, h.\n",
	    "--help", "this text", "--version", "print the version");
}
