/*
 * errors.h - the project's one set of error codes. Actions return 0 or one
 * of these; the reply module's error table (reply.h) turns them into HTTP
 * answers.
 */
#ifndef GATEHOUSE_ERRORS_H
#define GATEHOUSE_ERRORS_H

enum gh_err {
	GH_OK = 0,
	GH_EINVAL = -1,      /* the client sent something malformed */
	GH_EAUTH = -2,       /* a credential did not verify */
	GH_EFORBIDDEN = -3,  /* authenticated, but not allowed */
	GH_ENOTFOUND = -4,   /* no such thing */
	GH_ECONFLICT = -5,   /* state conflict (already linked, ...) */
	GH_EPRECOND = -6,    /* a precondition (If-Match, ...) failed */
	GH_ETOOBIG = -7,     /* a size or count limit was exceeded */
	GH_EUNAVAIL = -8,    /* temporarily unable: store full/busy, no entropy */
	GH_EINTERNAL = -9,   /* a bug or an unexpected library failure */
	GH_ERATE = -10,      /* rate limited */
	GH_EBANNED = -11,    /* the user is banned */
	GH_EENDED = -12,     /* the session a credential belongs to has ended */
};

/* Short lowercase name of an error code, for logs ("auth", "unavailable"). */
const char *gh_strerror(int err);

#endif
