/*
 * errors.c - names of the error codes, for logs.
 */
#include "gatehouse/errors.h"
#include "gatehouse/banned.h"

const char *gh_strerror(int err)
{
	switch (err) {
	case GH_OK: return "ok";
	case GH_EINVAL: return "invalid";
	case GH_EAUTH: return "auth";
	case GH_EFORBIDDEN: return "forbidden";
	case GH_ENOTFOUND: return "not_found";
	case GH_ECONFLICT: return "conflict";
	case GH_EPRECOND: return "precondition";
	case GH_ETOOBIG: return "too_big";
	case GH_EUNAVAIL: return "unavailable";
	case GH_EINTERNAL: return "internal";
	case GH_ERATE: return "rate_limited";
	case GH_EBANNED: return "banned";
	case GH_EENDED: return "ended";
	}
	return "unknown";
}
