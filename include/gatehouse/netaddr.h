/*
 * netaddr.h - network addresses as 16 bytes: IPv6, or IPv4 mapped
 * (::ffff:a.b.c.d). gh_parse_ip: 0 or GH_EINVAL. gh_parse_cidr: "addr" or
 * "addr/bits" (an IPv4 prefix counts within the mapped range).
 * gh_addr_in_cidr: prefix test.
 */
#ifndef GATEHOUSE_NETADDR_H
#define GATEHOUSE_NETADDR_H

#include <stdbool.h>

int gh_parse_ip(const char *s, unsigned char out[16]);
int gh_parse_cidr(const char *s, unsigned char addr[16], int *bits /* OUT */);
bool gh_addr_in_cidr(const unsigned char addr[16], const unsigned char net[16], int bits);

#endif
