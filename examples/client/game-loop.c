/*
 * game-loop.c - a "game" that uses the gatehouse client library the way an
 * engine does: one gh_client_tick() per frame, results by callback, never a
 * blocking call in the frame.
 *
 *   game-loop --url URL --credentials PATH [--seconds N]
 *
 * It logs in as a guest (a new one the first time, the saved one after
 * that), loads its progress, then once a second saves its progress to the document "progress"
 * (If-Match the version it last saw) and loads it back. The library refreshes
 * the access token before it expires, so with N past the token lifetime the
 * loop keeps working across the refresh. Exit 0 when the session worked
 * (logged in, every save and load succeeded and read back what was saved).
 *
 * Build: cc game-loop.c $(pkg-config --cflags --libs gatehouse-client)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gatehouse/client.h>

struct game {
	gh_client *client;
	int logged_in;        /* 0 waiting, 1 yes, -1 failed */
	long long version;    /* of "progress" as last seen; GH_NO_VERSION if absent */
	long level;           /* what we save */
	long saved_level;
	int in_flight;        /* requests not answered yet */
	int saves, loads, errors;
	int fatal;            /* banned or deleted */
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_session(enum gh_session_event ev, int status, const char *message, void *user)
{
	struct game *g = user;
	switch (ev) {
	case GH_EVENT_REFRESHED:
		printf("session: access token refreshed\n");
		break;
	case GH_EVENT_RELOGGED_IN:
		printf("session: logged in again with the saved guest\n");
		break;
	case GH_EVENT_BANNED:
	case GH_EVENT_DELETED:
	case GH_EVENT_LOGIN_REQUIRED:
		printf("session: over (%s: %s)\n", gh_strerror(status), message);
		g->fatal = 1;
		break;
	default:
		break;
	}
}

static void on_load(const struct gh_result *r, void *user);

static void on_login(const struct gh_result *r, void *user)
{
	struct game *g = user;
	g->in_flight--;
	if (r->status != GH_OK) {
		fprintf(stderr, "login failed: %s\n", r->message);
		g->logged_in = -1;
		return;
	}
	char uid[80];
	if (gh_client_user_id(g->client, uid, sizeof uid) == 0)
		printf("logged in as %s\n", uid);
	g->logged_in = 1;
	/* load the saved progress first (404 the first time) */
	g->in_flight++;
	if (gh_storage_get(g->client, "progress", on_load, g) != 0)
		g->in_flight--, g->errors++;
}

static void on_load(const struct gh_result *r, void *user)
{
	struct game *g = user;
	g->in_flight--;
	if (r->status == GH_ERR_NOT_FOUND && !g->saved_level) {
		g->version = GH_NO_VERSION; /* a new player: create it */
		return;
	}
	if (r->status != GH_OK) {
		fprintf(stderr, "load failed: %s\n", r->message);
		g->errors++;
		return;
	}
	long level = -1;
	const char *p = strstr(r->body, "\"level\":");
	if (p)
		level = strtol(p + 8, NULL, 10);
	if (g->saved_level && level != g->saved_level) {
		fprintf(stderr, "loaded level %ld, saved %ld\n", level, g->saved_level);
		g->errors++;
	}
	if (level > g->level)
		g->level = level;
	g->version = r->version;
	g->loads++;
}

static void on_save(const struct gh_result *r, void *user)
{
	struct game *g = user;
	g->in_flight--;
	if (r->status == GH_ERR_CONFLICT) {
		/* another device saved meanwhile: take its version, save again later */
		printf("save conflict, reloading\n");
		g->version = r->version ? r->version : GH_NO_VERSION;
		return;
	}
	if (r->status != GH_OK) {
		fprintf(stderr, "save failed: %s\n", r->message);
		g->errors++;
		return;
	}
	g->version = r->version;
	g->saves++;
	/* read it back (a request of its own: requests may run in parallel) */
	g->in_flight++;
	if (gh_storage_get(g->client, "progress", on_load, g) != 0)
		g->in_flight--, g->errors++;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: game-loop --url URL --credentials PATH [--seconds N]\n"
		   "  logs in as a guest (saved in PATH), saves and loads progress once a\n"
		   "  second for N seconds (default 5); exit 0 when the session worked\n");
}

int main(int argc, char **argv)
{
	const char *url = NULL, *creds = NULL;
	double seconds = 5;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (i + 1 >= argc) {
			usage(stderr);
			return 2;
		}
		if (strcmp(argv[i], "--url") == 0)
			url = argv[++i];
		else if (strcmp(argv[i], "--credentials") == 0)
			creds = argv[++i];
		else if (strcmp(argv[i], "--seconds") == 0)
			seconds = atof(argv[++i]);
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!url || !creds || seconds <= 0) {
		usage(stderr);
		return 2;
	}

	struct game g = { .version = GH_ANY_VERSION };
	struct gh_client_config cfg = {
		.base_url = url,
		.credentials_path = creds,
		.on_session = on_session,
		.session_user = &g,
	};
	int rc = gh_client_new(&cfg, &g.client);
	if (rc != 0) {
		fprintf(stderr, "cannot start the client: %s\n", gh_strerror(rc));
		return 1;
	}
	g.in_flight++;
	if (gh_login_guest(g.client, on_login, &g) != 0)
		return 1;

	double start = now_s(), next_save = 0, max_tick = 0;
	long frames = 0;
	while (!g.fatal && g.logged_in >= 0 && (now_s() - start < seconds || g.in_flight > 0)) {
		double t0 = now_s();
		gh_client_tick(g.client); /* never blocks */
		double dt = now_s() - t0;
		if (dt > max_tick)
			max_tick = dt;
		frames++;
		if (g.logged_in == 1 && g.in_flight == 0 && g.version != GH_ANY_VERSION &&
		    t0 >= next_save &&
		    now_s() - start < seconds) {
			char doc[64];
			int n = snprintf(doc, sizeof doc, "{\"level\":%ld}", ++g.level);
			g.saved_level = g.level;
			g.in_flight++;
			/* If-Match the version we saw: a save from another device is not lost */
			if (gh_storage_put(g.client, "progress", doc, (size_t)n, g.version, on_save,
					   &g) != 0)
				g.in_flight--, g.errors++;
			next_save = t0 + 1.0;
		}
		/* the rest of the frame: ~60 frames a second */
		struct timespec ts = { 0, 16 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	unsigned refreshes = gh_client_refresh_count(g.client);
	gh_client_free(g.client);
	printf("frames %ld, saves %d, loads %d, errors %d, refreshes %u, longest tick %.3f ms\n",
	       frames, g.saves, g.loads, g.errors, refreshes, max_tick * 1000);
	bool ok = g.logged_in == 1 && !g.fatal && g.errors == 0 && g.saves > 0 && g.loads > 0;
	printf("%s\n", ok ? "session ok" : "session FAILED");
	return ok ? 0 : 1;
}
