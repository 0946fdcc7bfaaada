/*
 * driver.c - a scriptable client for tests/integration/test_client.py.
 *
 *   gh-client-driver --url URL [--credentials PATH] [--own-thread]
 *                    [--timeout-ms N] [--connect-timeout-ms N] [--retries N]
 *                    [--retry-base-ms N] [--refresh-at F] [--refresh-jitter F]
 *
 * Reads one command a line from stdin and answers each with one JSON line on
 * stdout. Requests run through the non-blocking API: the driver ticks (with
 * gh_client_wait between ticks) until the callback ran, and reports how many
 * ticks it took and the longest one. Commands:
 *
 *   login-guest | login P TOKEN [EXTRA] | link P TOKEN [EXTRA]
 *       (P: steam apple google facebook oidc; EXTRA: facebook user id / oidc provider)
 *   logout | logout-all | get-user | export | delete-user | unlink PLATFORM
 *   set-name NAME | get-player
 *   get KEY | put KEY any|none|N JSON | delete KEY any|N | list [LIMIT [CURSOR]] | batch JSON
 *   request METHOD PATH [BODY]
 *   play MS KEY   a game loop for MS ms: each 100 ms a put of a counter to KEY, then a
 *                 get of it; reports how many succeeded, the statuses of the rest, the ticks
 *   events | state | forget | quit
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gatehouse/client.h"

static gh_client *client;
static char events[4096];

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char *event_name(enum gh_session_event e)
{
	switch (e) {
	case GH_EVENT_LOGGED_IN: return "logged_in";
	case GH_EVENT_REFRESHED: return "refreshed";
	case GH_EVENT_RELOGGED_IN: return "relogged_in";
	case GH_EVENT_REFRESH_FAILED: return "refresh_failed";
	case GH_EVENT_BANNED: return "banned";
	case GH_EVENT_DELETED: return "deleted";
	case GH_EVENT_LOGIN_REQUIRED: return "login_required";
	case GH_EVENT_LOGGED_OUT: return "logged_out";
	}
	return "?";
}

static void on_session(enum gh_session_event e, int status, const char *message, void *user)
{
	(void)user;
	(void)message;
	size_t n = strlen(events);
	if (n + 40 < sizeof events)
		snprintf(events + n, sizeof events - n, "%s\"%s:%d\"", n ? "," : "", event_name(e),
			 status);
}

static void put_json_string(const char *s, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

struct wait_stats {
	long ticks;
	long slow_ticks; /* over 1 ms */
	long long max_tick_us;
};

/* Ticks until r is done; the slowest gh_client_tick() is recorded. */
static void wait_done(struct gh_response *r, struct wait_stats *st)
{
	while (!r->done) {
		long long t0 = now_us();
		gh_client_tick(client);
		long long dt = now_us() - t0;
		st->ticks++;
		st->slow_ticks += dt > 1000;
		if (dt > st->max_tick_us)
			st->max_tick_us = dt;
		if (!r->done)
			gh_client_wait(client, 5);
	}
}

static void report(const char *cmd, int submit_rc, struct gh_response *r)
{
	struct wait_stats st = { 0, 0, 0 };
	if (submit_rc < 0) {
		printf("{\"cmd\":\"%s\",\"status\":%d,\"name\":\"%s\",\"http\":0,\"submit\":true}\n",
		       cmd, submit_rc, gh_strerror(submit_rc));
		fflush(stdout);
		return;
	}
	wait_done(r, &st);
	printf("{\"cmd\":\"%s\",\"status\":%d,\"name\":\"%s\",\"http\":%ld,\"version\":%lld,"
	       "\"ticks\":%ld,\"slow_ticks\":%ld,\"max_tick_us\":%lld,\"message\":",
	       cmd, r->status, gh_strerror(r->status), r->http_status, r->version, st.ticks,
	       st.slow_ticks, st.max_tick_us);
	put_json_string(r->message, strlen(r->message));
	printf(",\"body\":");
	put_json_string(r->body, r->body_len);
	printf("}\n");
	fflush(stdout);
}

static long long parse_version(const char *s)
{
	if (!s || strcmp(s, "any") == 0)
		return GH_ANY_VERSION;
	if (strcmp(s, "none") == 0)
		return GH_NO_VERSION;
	return atoll(s);
}

static int platform_cred(const char *p, const char *token, const char *extra,
			 struct gh_platform_credential *cred)
{
	memset(cred, 0, sizeof *cred);
	cred->token = token;
	if (!p || !token)
		return -1;
	if (strcmp(p, "steam") == 0)
		cred->platform = GH_PLATFORM_STEAM;
	else if (strcmp(p, "apple") == 0)
		cred->platform = GH_PLATFORM_APPLE;
	else if (strcmp(p, "google") == 0)
		cred->platform = GH_PLATFORM_GOOGLE_PLAY;
	else if (strcmp(p, "facebook") == 0) {
		cred->platform = GH_PLATFORM_FACEBOOK;
		cred->user_id = extra;
	} else if (strcmp(p, "oidc") == 0) {
		cred->platform = GH_PLATFORM_OIDC;
		cred->provider = extra;
	} else
		return -1;
	return 0;
}

struct play_slot {
	struct gh_response r;
	bool busy;
};

/* A frame loop: each 100 ms a put then a get of KEY, never waiting for them. */
static void play(long ms, const char *key)
{
	struct play_slot put, get;
	long ok = 0, failed = 0, ticks = 0, slow = 0, counter = 0;
	long long max_tick = 0, deadline = now_us() + ms * 1000LL, next = 0;
	char statuses[512] = "";
	unsigned refresh0 = gh_client_refresh_count(client);
	gh_response_init(&put.r);
	gh_response_init(&get.r);
	put.busy = get.busy = false;
	while (now_us() < deadline || put.busy || get.busy) {
		long long t = now_us();
		if (t >= next && t < deadline && !put.busy && !get.busy) {
			char doc[64];
			int n = snprintf(doc, sizeof doc, "{\"counter\":%ld}", ++counter);
			gh_response_init(&put.r);
			gh_response_init(&get.r);
			int rc1 = gh_storage_put(client, key, doc, (size_t)n, GH_ANY_VERSION,
						 gh_response_cb, &put.r);
			put.busy = rc1 == 0;
			if (rc1 < 0) {
				failed++;
				size_t l = strlen(statuses);
				if (l + 12 < sizeof statuses)
					snprintf(statuses + l, sizeof statuses - l, "%s%d", l ? "," : "",
						 rc1);
			}
			next = t + 100000;
		}
		long long t0 = now_us();
		gh_client_tick(client);
		long long dt = now_us() - t0;
		ticks++;
		slow += dt > 1000;
		if (dt > max_tick)
			max_tick = dt;
		struct play_slot *slots[2] = { &put, &get };
		for (int i = 0; i < 2; i++) {
			if (slots[i]->busy && slots[i]->r.done) {
				slots[i]->busy = false;
				if (slots[i]->r.status == GH_OK) {
					ok++;
				} else {
					failed++;
					size_t l = strlen(statuses);
					if (l + 12 < sizeof statuses)
						snprintf(statuses + l, sizeof statuses - l, "%s%d",
							 l ? "," : "", slots[i]->r.status);
				}
				bool put_ok = i == 0 && slots[i]->r.status == GH_OK;
				gh_response_release(&slots[i]->r);
				/* read back what was saved, once it is saved */
				if (put_ok) {
					int rc2 = gh_storage_get(client, key, gh_response_cb, &get.r);
					get.busy = rc2 == 0;
					if (rc2 < 0) {
						failed++;
						size_t l = strlen(statuses);
						if (l + 12 < sizeof statuses)
							snprintf(statuses + l, sizeof statuses - l,
								 "%s%d", l ? "," : "", rc2);
					}
				}
			}
		}
		/* a 1 ms frame */
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	gh_response_release(&put.r);
	gh_response_release(&get.r);
	printf("{\"cmd\":\"play\",\"ok\":%ld,\"failed\":%ld,\"statuses\":[%s],\"ticks\":%ld,"
	       "\"slow_ticks\":%ld,\"max_tick_us\":%lld,\"refreshes\":%u,\"counter\":%ld}\n",
	       ok, failed, statuses, ticks, slow, max_tick, gh_client_refresh_count(client) - refresh0,
	       counter);
	fflush(stdout);
}

static void command(char *line)
{
	char *argv[8] = { 0 };
	int argc = 0, max = 8;
	/* the last argument of put, batch and request is the rest of the line (JSON) */
	if (strncmp(line, "put ", 4) == 0 || strncmp(line, "request ", 8) == 0)
		max = 4;
	else if (strncmp(line, "batch ", 6) == 0)
		max = 2;
	char *p = line;
	while (*p && argc < max) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		argv[argc++] = p;
		if (argc == max)
			break;
		p += strcspn(p, " ");
		if (*p)
			*p++ = '\0';
	}
	if (argc == 0)
		return;
	const char *cmd = argv[0];
	struct gh_response r;
	gh_response_init(&r);
	int rc;
	struct gh_platform_credential cred;

	if (strcmp(cmd, "login-guest") == 0) {
		rc = gh_login_guest(client, gh_response_cb, &r);
	} else if (strcmp(cmd, "login") == 0 || strcmp(cmd, "link") == 0) {
		rc = platform_cred(argv[1], argv[2], argv[3], &cred) == 0 ?
		     gh_login_platform(client, &cred, cmd[1] == 'i' && cmd[2] == 'n',
				       gh_response_cb, &r) : GH_ERR_INVALID;
	} else if (strcmp(cmd, "logout") == 0) {
		rc = gh_logout(client, gh_response_cb, &r);
	} else if (strcmp(cmd, "logout-all") == 0) {
		rc = gh_logout_all(client, gh_response_cb, &r);
	} else if (strcmp(cmd, "get-user") == 0) {
		rc = gh_get_user(client, gh_response_cb, &r);
	} else if (strcmp(cmd, "export") == 0) {
		rc = gh_export_user_data(client, gh_response_cb, &r);
	} else if (strcmp(cmd, "delete-user") == 0) {
		rc = gh_delete_user(client, gh_response_cb, &r);
	} else if (strcmp(cmd, "unlink") == 0) {
		rc = gh_unlink_identity(client, argv[1], gh_response_cb, &r);
	} else if (strcmp(cmd, "set-name") == 0) {
		rc = gh_set_player_name(client, argv[1] ? argv[1] : "", gh_response_cb, &r);
	} else if (strcmp(cmd, "get-player") == 0) {
		rc = gh_get_player_data(client, gh_response_cb, &r);
	} else if (strcmp(cmd, "get") == 0) {
		rc = gh_storage_get(client, argv[1], gh_response_cb, &r);
	} else if (strcmp(cmd, "put") == 0) {
		rc = argv[3] ? gh_storage_put(client, argv[1], argv[3], strlen(argv[3]),
					      parse_version(argv[2]), gh_response_cb, &r) :
			       GH_ERR_INVALID;
	} else if (strcmp(cmd, "delete") == 0) {
		rc = gh_storage_delete(client, argv[1], parse_version(argv[2]), gh_response_cb, &r);
	} else if (strcmp(cmd, "list") == 0) {
		rc = gh_storage_list(client, argv[2], argv[1] ? atoi(argv[1]) : 0, gh_response_cb,
				     &r);
	} else if (strcmp(cmd, "batch") == 0) {
		rc = argv[1] ? gh_storage_batch(client, argv[1], strlen(argv[1]), gh_response_cb,
						&r) : GH_ERR_INVALID;
	} else if (strcmp(cmd, "request") == 0) {
		const char *body = argv[3];
		rc = argv[2] ? gh_request(client, argv[1], argv[2], body ? "application/json" : NULL,
					  body, body ? strlen(body) : 0, gh_response_cb, &r) :
			       GH_ERR_INVALID;
	} else if (strcmp(cmd, "play") == 0) {
		play(argv[1] ? atol(argv[1]) : 1000, argv[2] ? argv[2] : "play");
		return;
	} else if (strcmp(cmd, "events") == 0) {
		gh_client_tick(client);
		printf("{\"cmd\":\"events\",\"events\":[%s]}\n", events);
		events[0] = '\0';
		fflush(stdout);
		return;
	} else if (strcmp(cmd, "state") == 0) {
		char uid[80] = "";
		(void)gh_client_user_id(client, uid, sizeof uid);
		printf("{\"cmd\":\"state\",\"logged_in\":%s,\"has_credentials\":%s,"
		       "\"user_id\":\"%s\",\"refreshes\":%u}\n",
		       gh_client_logged_in(client) ? "true" : "false",
		       gh_client_has_credentials(client) ? "true" : "false", uid,
		       gh_client_refresh_count(client));
		fflush(stdout);
		return;
	} else if (strcmp(cmd, "forget") == 0) {
		rc = gh_client_forget_credentials(client);
		printf("{\"cmd\":\"forget\",\"status\":%d}\n", rc);
		fflush(stdout);
		return;
	} else {
		printf("{\"cmd\":\"%s\",\"error\":\"unknown command\"}\n", "?");
		fflush(stdout);
		return;
	}
	report(cmd, rc, &r);
	gh_response_release(&r);
}

int main(int argc, char **argv)
{
	struct gh_client_config cfg = { 0 };
	cfg.on_session = on_session;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--own-thread") == 0) {
			cfg.own_thread = true;
			continue;
		}
		if (!v) {
			fprintf(stderr, "usage: see tests/client/driver.c\n");
			return 2;
		}
		i++;
		if (strcmp(a, "--url") == 0)
			cfg.base_url = v;
		else if (strcmp(a, "--credentials") == 0)
			cfg.credentials_path = v;
		else if (strcmp(a, "--timeout-ms") == 0)
			cfg.request_timeout_ms = atol(v);
		else if (strcmp(a, "--connect-timeout-ms") == 0)
			cfg.connect_timeout_ms = atol(v);
		else if (strcmp(a, "--retries") == 0)
			cfg.max_retries = atoi(v);
		else if (strcmp(a, "--retry-base-ms") == 0)
			cfg.retry_base_ms = atol(v);
		else if (strcmp(a, "--refresh-at") == 0)
			cfg.refresh_at = atof(v);
		else if (strcmp(a, "--refresh-jitter") == 0)
			cfg.refresh_jitter = atof(v);
		else {
			fprintf(stderr, "unknown option %s\n", a);
			return 2;
		}
	}
	int rc = gh_client_new(&cfg, &client);
	if (rc != 0) {
		fprintf(stderr, "gh_client_new: %s\n", gh_strerror(rc));
		return 1;
	}
	printf("{\"cmd\":\"ready\"}\n");
	fflush(stdout);
	char line[70000];
	while (fgets(line, sizeof line, stdin)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strcmp(line, "quit") == 0)
			break;
		command(line);
	}
	gh_client_free(client);
	return 0;
}
