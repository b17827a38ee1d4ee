/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * veth pairs over rtnetlink, interface features over the ethtool ioctl.
 * See veth.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <linux/veth.h>

#include "veth.h"

#define NL_BUF 4096

/* A request: the header, an ifinfomsg, attributes (one object, so that
 * the attributes written past the header stay inside it). */
struct nlreq {
	union {
		struct nlmsghdr h;
		char raw[NLMSG_LENGTH(sizeof(struct ifinfomsg)) + 512];
	};
	struct ifinfomsg *i;
};

/* Append attribute `type` to the message; NULL when it does not fit. */
static struct rtattr *put(struct nlmsghdr *h, size_t cap, unsigned short type,
			  const void *data, size_t len)
{
	size_t off = NLMSG_ALIGN(h->nlmsg_len), alen = RTA_LENGTH(len);
	struct rtattr *a;

	if (off + RTA_ALIGN(alen) > cap)
		return NULL;
	a = (struct rtattr *)((char *)h + off);
	a->rta_type = type;
	a->rta_len = (unsigned short)alen;
	if (len)
		memcpy(RTA_DATA(a), data, len);
	h->nlmsg_len = (uint32_t)(off + RTA_ALIGN(alen));
	return a;
}

/* Close a nested attribute opened with put(..., NULL, 0) (or with a
 * fixed header as its data). */
static void nest_end(struct nlmsghdr *h, struct rtattr *a)
{
	a->rta_len = (unsigned short)((char *)h + h->nlmsg_len - (char *)a);
}

static int nl_open(void)
{
	struct timeval tv = { 2, 0 };
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (s < 0)
		return -errno;
	if (setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv))) {
		int e = -errno;
		close(s);
		return e;
	}
	return s;
}

/* Send one request and read its answer: an acknowledgement (0 or the
 * kernel's -errno), or with `reply` the first RTM_NEWLINK, copied there
 * (at most `cap` bytes). */
static int nl_talk(struct nlmsghdr *req, void *reply, size_t cap)
{
	static uint32_t seq;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	char *buf = malloc(NL_BUF);
	int s = nl_open(), rc = -EIO;

	if (!buf || s < 0) {
		rc = s < 0 ? s : -ENOMEM;
		goto out;
	}
	req->nlmsg_seq = ++seq;
	ssize_t sent = sendto(s, req, req->nlmsg_len, 0, (struct sockaddr *)&kernel,
			      sizeof(kernel));
	if (sent != (ssize_t)req->nlmsg_len) {
		rc = sent < 0 ? -errno : -EIO; /* (a short send sets no errno) */
		goto out;
	}
	for (;;) {
		/* MSG_TRUNC: the datagram's whole length, to tell a reply
		 * that did not fit from one that never came. */
		ssize_t got = recv(s, buf, NL_BUF, MSG_TRUNC);
		if (got < 0) {
			rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
			goto out;
		}
		if (got > NL_BUF) {
			rc = -EMSGSIZE;
			goto out;
		}
		/* Each message whole inside what arrived, or the walk ends. */
		for (size_t off = 0; off + sizeof(struct nlmsghdr) <= (size_t)got;
		     off += NLMSG_ALIGN(((struct nlmsghdr *)(buf + off))->nlmsg_len)) {
			struct nlmsghdr *h = (struct nlmsghdr *)(buf + off);
			if (h->nlmsg_len < sizeof(*h) || h->nlmsg_len > (size_t)got - off)
				break;
			if (h->nlmsg_seq != req->nlmsg_seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				rc = h->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) ? e->error : -EIO;
				goto out;
			}
			if (reply && h->nlmsg_type == RTM_NEWLINK) {
				memcpy(reply, h, h->nlmsg_len < cap ? h->nlmsg_len : cap);
				rc = 0;
				goto out;
			}
		}
	}
out:
	if (s >= 0)
		close(s);
	free(buf);
	return rc;
}

static void req_init(struct nlreq *r, uint16_t type, uint16_t flags)
{
	memset(r, 0, sizeof(*r));
	r->h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	r->h.nlmsg_type = type;
	r->h.nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
	r->i = NLMSG_DATA(&r->h);
	r->i->ifi_family = AF_UNSPEC;
}

static int put_name(struct nlmsghdr *h, size_t cap, const char *name)
{
	if (!name || !*name || strlen(name) >= IF_NAMESIZE)
		return -EINVAL;
	return put(h, cap, IFLA_IFNAME, name, strlen(name) + 1) ? 0 : -ENOSPC;
}

/* No IPv6 on `name`: no address of its own, none from a router's
 * advertisement, so it sends nothing of its own. Without IPv6 in the
 * kernel there is nothing to turn off. */
static int no_ipv6(const char *name)
{
	char path[96];
	int fd, rc = 0;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (write(fd, "1", 1) != 1)
		rc = -errno;
	close(fd);
	return rc;
}

int veth_create(const char *name, uint16_t mtu, const char *peer_tmpl,
		uint16_t peer_mtu, char peer[16])
{
	struct nlreq r;
	struct nlmsghdr *h = &r.h;
	const size_t cap = sizeof(r.raw);
	uint32_t m = mtu, pm = peer_mtu;
	struct ifinfomsg pi = { .ifi_family = AF_UNSPEC };
	struct rtattr *li, *data, *pa;
	char kind[16];
	int rc;

	req_init(&r, RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
	if ((rc = put_name(h, cap, name)))
		return rc;
	if (!put(h, cap, IFLA_MTU, &m, sizeof(m)) ||
	    !(li = put(h, cap, IFLA_LINKINFO, NULL, 0)) ||
	    !put(h, cap, IFLA_INFO_KIND, "veth", 5) ||
	    !(data = put(h, cap, IFLA_INFO_DATA, NULL, 0)) ||
	    !(pa = put(h, cap, VETH_INFO_PEER, &pi, sizeof(pi))))
		return -ENOSPC;
	if ((rc = put_name(h, cap, peer_tmpl)))
		return rc;
	if (!put(h, cap, IFLA_MTU, &pm, sizeof(pm)))
		return -ENOSPC;
	nest_end(h, pa);
	nest_end(h, data);
	nest_end(h, li);
	if ((rc = nl_talk(h, NULL, 0)))
		return rc;
	rc = if_describe(name, kind, peer);
	if (!rc && !peer[0])
		rc = -ENODEV;
	if (!rc)
		rc = no_ipv6(peer);
	if (rc)
		veth_delete(name);
	return rc;
}

/* A request about `name` alone: RTM_DELLINK, or RTM_NEWLINK setting the
 * interface flags `set`. */
static int link_request(const char *name, uint16_t type, unsigned set)
{
	struct nlreq r;
	int rc;

	req_init(&r, type, NLM_F_ACK);
	r.i->ifi_flags = set;
	r.i->ifi_change = set;
	if ((rc = put_name(&r.h, sizeof(r.raw), name)))
		return rc;
	return nl_talk(&r.h, NULL, 0);
}

int veth_delete(const char *name)
{
	return link_request(name, RTM_DELLINK, 0);
}

static void copy_name(char dst[16], const struct rtattr *a)
{
	size_t n = RTA_PAYLOAD(a);

	if (n >= 16)
		n = 15;
	memcpy(dst, RTA_DATA(a), n);
	dst[n] = 0;
}

int if_describe(const char *name, char kind[16], char peer[16])
{
	struct nlreq r;
	uint32_t skip_stats = RTEXT_FILTER_SKIP_STATS, link = 0;
	bool other_ns = false;
	char *buf = malloc(NL_BUF);
	int rc;

	kind[0] = peer[0] = 0;
	if (!buf)
		return -ENOMEM;
	req_init(&r, RTM_GETLINK, 0);
	if ((rc = put_name(&r.h, sizeof(r.raw), name)))
		goto out;
	if (!put(&r.h, sizeof(r.raw), IFLA_EXT_MASK, &skip_stats, sizeof(skip_stats))) {
		rc = -ENOSPC;
		goto out;
	}
	if ((rc = nl_talk(&r.h, buf, NL_BUF)))
		goto out;
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	struct ifinfomsg *ii = NLMSG_DATA(h);
	int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*ii));

	if (h->nlmsg_len > NL_BUF) {
		rc = -EMSGSIZE;
		goto out;
	}
	for (struct rtattr *a = IFLA_RTA(ii); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == IFLA_LINK && RTA_PAYLOAD(a) >= sizeof(uint32_t)) {
			memcpy(&link, RTA_DATA(a), sizeof(link));
		} else if (a->rta_type == IFLA_LINK_NETNSID) {
			other_ns = true;
		} else if (a->rta_type == IFLA_LINKINFO) {
			int l2 = (int)RTA_PAYLOAD(a);
			for (struct rtattr *b = RTA_DATA(a); RTA_OK(b, l2); b = RTA_NEXT(b, l2))
				if (b->rta_type == IFLA_INFO_KIND)
					copy_name(kind, b);
		}
	}
	/* A veth names its peer by index (IFLA_LINK), of this namespace
	 * unless IFLA_LINK_NETNSID says which other one. */
	if (link && !other_ns && !strcmp(kind, "veth") && !if_indextoname(link, peer))
		peer[0] = 0;
out:
	free(buf);
	return rc;
}

int if_set_up(const char *name)
{
	return link_request(name, RTM_NEWLINK, IFF_UP);
}

int if_packet_sockets(const char *name)
{
	unsigned idx = if_nametoindex(name), iface;
	FILE *f;
	char line[256];
	int n = 0;

	if (!idx)
		return -ENODEV;
	f = fopen("/proc/net/packet", "re");
	if (!f)
		return -errno;
	/* "sk RefCnt Type Proto Iface R Rmem User Inode", a socket a line. */
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %*s %u", &iface) == 1 && iface == idx)
			n++;
	fclose(f);
	return n;
}

/* ---- ethtool features ------------------------------------------------------ */

static int ethtool(const char *name, void *cmd)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;

	if (s < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_data = cmd;
	rc = ioctl(s, SIOCETHTOOL, &ifr);
	rc = rc < 0 ? -errno : rc;
	close(s);
	return rc;
}

/* The feature names (ETH_SS_FEATURES) of `name`: *n of them, each
 * ETH_GSTRING_LEN bytes. NULL with -errno in *n. */
static struct ethtool_gstrings *feature_names(const char *name, int *n)
{
	/* One set asked for: one count follows the header. */
	struct ethtool_sset_info *si = calloc(1, sizeof(*si) + sizeof(uint32_t));
	struct ethtool_gstrings *gs = NULL;
	uint32_t count;
	int rc;

	if (!si) {
		*n = -ENOMEM;
		return NULL;
	}
	si->cmd = ETHTOOL_GSSET_INFO;
	si->sset_mask = 1ull << ETH_SS_FEATURES;
	rc = ethtool(name, si);
	count = si->data[0];
	if (rc < 0 || !(si->sset_mask & (1ull << ETH_SS_FEATURES)) || count > 4096) {
		*n = rc < 0 ? rc : -EOPNOTSUPP;
		goto out;
	}
	gs = calloc(1, sizeof(*gs) + (size_t)count * ETH_GSTRING_LEN);
	if (!gs) {
		*n = -ENOMEM;
		goto out;
	}
	gs->cmd = ETHTOOL_GSTRINGS;
	gs->string_set = ETH_SS_FEATURES;
	gs->len = count;
	if ((rc = ethtool(name, gs)) < 0) {
		free(gs);
		gs = NULL;
		*n = rc;
		goto out;
	}
	*n = (int)count;
out:
	free(si);
	return gs;
}

enum feature_set {
	TX_UNFINISHED,  /* a GSO packet sent whole, a checksum left to fill in */
	RX_AGGREGATE,   /* received packets merged into one */
};

static bool in_set(const char *s, enum feature_set set)
{
	char f[ETH_GSTRING_LEN + 1];

	memcpy(f, s, ETH_GSTRING_LEN);
	f[ETH_GSTRING_LEN] = 0;
	if (set == TX_UNFINISHED)
		return !strncmp(f, "tx-", 3) &&
		       (strstr(f, "-segmentation") || !strcmp(f, "tx-gso-list") ||
			!strncmp(f, "tx-checksum-", 12));
	return !strcmp(f, "rx-lro") || !strncmp(f, "rx-gro", 6) ||
	       !strcmp(f, "rx-udp-gro-forwarding");
}

/* The features of `name` in `set`, as a mask over its feature bits:
 * *blocks words of 32. NULL with -errno in *err. */
static uint32_t *set_mask(const char *name, enum feature_set set, unsigned *blocks,
			  int *err)
{
	int n;
	struct ethtool_gstrings *gs = feature_names(name, &n);
	uint32_t *mask;

	if (!gs) {
		*err = n;
		return NULL;
	}
	*blocks = ((unsigned)n + 31) / 32;
	mask = calloc(*blocks ? *blocks : 1, sizeof(*mask));
	for (int i = 0; mask && i < n; i++)
		if (in_set((char *)gs->data + (size_t)i * ETH_GSTRING_LEN, set))
			mask[i / 32] |= 1u << (i % 32);
	free(gs);
	*err = -ENOMEM;
	return mask;
}

/* 1 when a feature of mask is on, 0 when none, -errno. */
static int any_on(const char *name, const uint32_t *mask, unsigned blocks)
{
	struct ethtool_gfeatures *gf = calloc(1, sizeof(*gf) + blocks * sizeof(gf->features[0]));
	int rc;

	if (!gf)
		return -ENOMEM;
	gf->cmd = ETHTOOL_GFEATURES;
	gf->size = blocks;
	rc = ethtool(name, gf);
	for (unsigned b = 0; rc >= 0 && b < blocks; b++)
		if (gf->features[b].active & mask[b])
			rc = 1;
	free(gf);
	return rc < 0 ? rc : rc == 1;
}

/* Turn off every feature of `set`; 0, or -errno (-EOPNOTSUPP: one stayed
 * on). */
static int set_off(const char *name, enum feature_set set)
{
	unsigned blocks;
	int rc;
	uint32_t *mask = set_mask(name, set, &blocks, &rc);
	struct ethtool_sfeatures *sf;

	if (!mask)
		return rc;
	sf = calloc(1, sizeof(*sf) + blocks * sizeof(sf->features[0]));
	if (!sf) {
		free(mask);
		return -ENOMEM;
	}
	sf->cmd = ETHTOOL_SFEATURES;
	sf->size = blocks;
	for (unsigned b = 0; b < blocks; b++)
		sf->features[b].valid = mask[b]; /* requested: all 0 */
	/* A positive answer says some could not change (fixed ones): what
	 * counts is what is on afterwards. */
	rc = ethtool(name, sf);
	if (rc >= 0) {
		rc = any_on(name, mask, blocks);
		rc = rc < 0 ? rc : rc ? -EOPNOTSUPP : 0;
	}
	free(sf);
	free(mask);
	return rc;
}

int if_tx_offloads_off(const char *name)
{
	return set_off(name, TX_UNFINISHED);
}

int if_rx_aggregation_off(const char *name)
{
	return set_off(name, RX_AGGREGATE);
}
