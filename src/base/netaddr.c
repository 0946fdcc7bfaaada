/*
 * netaddr.c - IP addresses and CIDR prefixes.
 */
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "gatehouse/errors.h"
#include "gatehouse/netaddr.h"
#include "gatehouse/banned.h"

int gh_parse_ip(const char *s, unsigned char out[16])
{
	struct in_addr a4;
	if (inet_pton(AF_INET, s, &a4) == 1) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a4, 4);
		return 0;
	}
	return inet_pton(AF_INET6, s, out) == 1 ? 0 : GH_EINVAL;
}

int gh_parse_cidr(const char *s, unsigned char addr[16], int *bits)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof buf)
		return GH_EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (gh_parse_ip(buf, addr))
		return GH_EINVAL;
	bool v4 = strchr(buf, ':') == NULL;
	int max = v4 ? 32 : 128;
	int b = max;
	if (slash) {
		const char *p = slash + 1;
		if (!*p || strlen(p) > 3)
			return GH_EINVAL;
		b = 0;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return GH_EINVAL;
			b = b * 10 + (*p - '0');
		}
		if (b > max)
			return GH_EINVAL;
	}
	*bits = v4 ? b + 96 : b;
	return 0;
}

bool gh_addr_in_cidr(const unsigned char addr[16], const unsigned char net[16], int bits)
{
	int full = bits / 8, rest = bits % 8;
	if (memcmp(addr, net, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char m = (unsigned char)(0xff << (8 - rest));
	return (addr[full] & m) == (net[full] & m);
}
