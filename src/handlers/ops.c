/*
 * ops.c - liveness and readiness for load balancers and systemd, and the
 * Prometheus metrics (on the main listener, or on the admin listener when
 * metrics_listen_address is set).
 */
#include <string.h>

#include "gatehouse/handlers.h"
#include "gatehouse/http.h"
#include "gatehouse/keyring.h"
#include "gatehouse/metrics.h"
#include "gatehouse/store.h"
#include "gatehouse/strbuf.h"
#include "gatehouse/clock.h"
#include "gatehouse/banned.h"

void handle_health(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	(void)app;
	(void)rc;
	http_reply_json(req, 200, "{\"status\":\"ok\"}");
}

void handle_ready(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	(void)rc;
	int64_t now = gh_now();
	struct keyset *ks = keyset_get(app->keyring);
	bool keys = keyset_signing_key(ks, KEY_USE_ACCESS, now) &&
		    keyset_signing_key(ks, KEY_USE_REFRESH, now);
	keyset_put(ks);
	if (!keys || store_ping(app->store)) {
		http_add_header(req, "Retry-After", "1");
		http_reply_json(req, 503, keys ? "{\"status\":\"unavailable\",\"reason\":\"database\"}" :
				"{\"status\":\"unavailable\",\"reason\":\"no signing key\"}");
		return;
	}
	http_reply_json(req, 200, "{\"status\":\"ready\"}");
}

/* The signing keys by use and state, and when the current and next ones sign. */
static void render_key_metrics(struct app *app, struct strbuf *sb, int64_t now)
{
	struct keyset *ks = keyset_get(app->keyring);
	static const char *const uses[] = { "access", "refresh" };
	metrics_family(sb, "gatehouse_signing_keys", "gauge",
		       "Signing keys by use and state (next, current, previous).");
	for (int use = KEY_USE_ACCESS; use <= KEY_USE_REFRESH; use++) {
		const struct signing_key *cur = keyset_signing_key(ks, use, now);
		int next = 0, previous = 0;
		for (size_t i = 0; i < ks->n; i++) {
			const struct signing_key *k = &ks->keys[i];
			if (k->use != use || k == cur)
				continue;
			if (k->activate_at > now)
				next++;
			else
				previous++;
		}
		sb_addf(sb, "gatehouse_signing_keys{use=\"%s\",state=\"current\"} %d\n", uses[use],
			cur != NULL);
		sb_addf(sb, "gatehouse_signing_keys{use=\"%s\",state=\"next\"} %d\n", uses[use], next);
		sb_addf(sb, "gatehouse_signing_keys{use=\"%s\",state=\"previous\"} %d\n", uses[use],
			previous);
	}
	metrics_family(sb, "gatehouse_signing_key_activated_timestamp_seconds", "gauge",
		       "When the signing key of each use started signing (Unix time); alert on "
		       "time() minus it.");
	for (int use = KEY_USE_ACCESS; use <= KEY_USE_REFRESH; use++) {
		const struct signing_key *cur = keyset_signing_key(ks, use, now);
		if (cur)
			sb_addf(sb, "gatehouse_signing_key_activated_timestamp_seconds{use=\"%s\"} "
				"%lld\n", uses[use], (long long)cur->activate_at);
	}
	metrics_family(sb, "gatehouse_signing_key_next_activation_timestamp_seconds", "gauge",
		       "When the earliest published next key of each use starts signing (Unix "
		       "time); absent when none is published.");
	for (int use = KEY_USE_ACCESS; use <= KEY_USE_REFRESH; use++) {
		int64_t next = 0;
		for (size_t i = 0; i < ks->n; i++) {
			const struct signing_key *k = &ks->keys[i];
			if (k->use == use && k->activate_at > now && (!next || k->activate_at < next))
				next = k->activate_at;
		}
		if (next)
			sb_addf(sb, "gatehouse_signing_key_next_activation_timestamp_seconds"
				"{use=\"%s\"} %lld\n", uses[use], (long long)next);
	}
	keyset_put(ks);
}

void handle_metrics(struct app *app, struct http_request *req, const struct route_ctx *rc)
{
	(void)rc;
	struct strbuf sb = STRBUF_INIT;
	metrics_render(&sb, GATEHOUSE_VERSION);
	render_key_metrics(app, &sb, gh_now());
	http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", sb.buf, sb.len);
	sb_release(&sb);
}
