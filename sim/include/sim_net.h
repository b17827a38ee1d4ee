/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sim_net — the driver side of virtio-net's data queues (virtio 1.3,
 * device-types/net "Device Operation"), built on sim_vq: what a guest's
 * virtio-net driver does with its transmit and receive queues. The unit
 * tests and benchmarks drive the device's packet path with it; the
 * simulated host's userspace driver grows from it.
 *
 * Transmit: each packet is the virtio-net header (12 bytes, 20 with
 * VIRTIO_NET_F_HASH_REPORT) followed by the frame, copied into host memory
 * and posted as one chain in one of several layouts (header alone then the
 * frame, header and frame in one descriptor, the frame cut in pieces,
 * optionally through an indirect table), so every way a driver may lay
 * out a packet reaches the device.
 *
 * Receive: buffers of a fixed size are kept posted. With
 * VIRTIO_NET_F_MRG_RXBUF a packet may span several buffers (num_buffers);
 * without it each packet must fit one buffer. Every rule the spec puts on
 * the device is checked on what it returns; a violation is reported, never
 * papered over.
 *
 * One thread owns a queue. Nothing here trusts what the device wrote
 * beyond the checks it makes.
 */
#ifndef VIRTNET_SIM_NET_H
#define VIRTNET_SIM_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "sim_hostmem.h"
#include "sim_vq.h"
#include "vnet_hdr.h"

/* Layouts of a transmitted chain (sim_net_send's `layout`). */
enum sim_net_layout {
	SIM_NET_HDR_SEPARATE = 0, /* header descriptor, then one for the frame */
	SIM_NET_HDR_INLINE,       /* header and frame in one descriptor */
	SIM_NET_PIECES,           /* header alone, frame in up to 4 random pieces */
	SIM_NET_HDR_SPLIT,        /* the header itself cut in two, then the frame */
	SIM_NET_LAYOUT__COUNT
};

struct sim_net_txq {
	struct sim_vq vq;
	uint64_t features;   /* negotiated */
	uint32_t hdr_len;    /* 12 or 20 */
	uint32_t slot_len;   /* host bytes per in-flight packet */
	uint64_t slot_iova;  /* vq.size slots of slot_len bytes */
	uint8_t *slot_va;
	uint16_t *free_slots; /* slot indexes not in flight */
	uint16_t n_free;
	bool indirect;       /* use indirect tables (needs INDIRECT_DESC) */
	uint64_t rng;        /* layout and piece choices */
	/* counters */
	uint64_t sent, reclaimed;
	const char *why;     /* the device's violation, after -EPROTO */
};

/*
 * A transmit queue of `size` entries (vq_flags VQ_F_*) in mem, for packets
 * of up to max_frame bytes. `indirect` (and VQ_F_INDIRECT in vq_flags)
 * posts every chain through an indirect table. seed drives the layout and
 * piece choices. -EINVAL, -ENOMEM.
 */
int sim_net_txq_init(struct sim_net_txq *q, struct sim_hostmem *mem,
		     uint16_t size, uint32_t vq_flags, uint64_t features,
		     uint32_t max_frame, bool indirect, uint64_t seed);
void sim_net_txq_fini(struct sim_net_txq *q);

/*
 * Queue one packet: hdr (hdr_len bytes, as the device will read it:
 * little-endian fields) and frame[0..len) in `layout` (SIM_NET_LAYOUT__COUNT:
 * a random one). Not visible to the device until sim_net_tx_flush().
 * -ENOSPC when no slot or descriptors are free (reclaim first), -EINVAL for
 * a frame longer than max_frame.
 */
int sim_net_send(struct sim_net_txq *q, const void *hdr, const uint8_t *frame,
		 uint32_t len, enum sim_net_layout layout);
/* Publish what was queued; true when the device wants a kick. */
bool sim_net_tx_flush(struct sim_net_txq *q);
/* Take back what the device completed. Returns the number of packets, or
 * -EPROTO (q->why says which rule) when the device completed an id not in
 * flight or reported written bytes on a transmit buffer. */
int sim_net_tx_reclaim(struct sim_net_txq *q);

struct sim_net_rxq {
	struct sim_vq vq;
	uint64_t features;   /* negotiated */
	uint32_t hdr_len;    /* 12 or 20 */
	bool mergeable;      /* VIRTIO_NET_F_MRG_RXBUF */
	uint32_t buf_len;    /* bytes per posted buffer */
	uint32_t split;      /* cut each buffer into descriptors of at most
			      * this many bytes (0: one descriptor) */
	bool indirect;       /* post every buffer through an indirect table */
	uint64_t buf_iova;   /* vq.size buffers of buf_len bytes */
	uint8_t *buf_va;
	uint16_t *free_bufs; /* buffer indexes not posted */
	uint16_t n_free;
	/* counters */
	uint64_t packets, buffers;
	uint64_t empty;      /* buffers returned with nothing written */
	const char *why;     /* the device's violation, after -EPROTO */
};

/*
 * A receive queue of `size` entries with buffers of buf_len bytes, each
 * posted as descriptors of at most `split` bytes (0: one), through an
 * indirect table with `indirect`. Without MRG_RXBUF buf_len must hold a
 * whole packet (1526/1534 bytes, 65601/65609 with GUEST_TSO/USO); with
 * it, at least hdr_len. -EINVAL, -ENOMEM.
 */
int sim_net_rxq_init(struct sim_net_rxq *q, struct sim_hostmem *mem,
		     uint16_t size, uint32_t vq_flags, uint64_t features,
		     uint32_t buf_len, uint32_t split, bool indirect);
void sim_net_rxq_fini(struct sim_net_rxq *q);

/* Post every free buffer and publish; true when the device wants a kick. */
bool sim_net_rx_fill(struct sim_net_rxq *q);

/*
 * The next received packet: its header into *hdr (hdr_len bytes are
 * meaningful; hash fields zero without HASH_REPORT) and its frame into
 * frame[0..cap), length in *len. The buffers are taken back (post them
 * again with sim_net_rx_fill). A buffer the device returned with nothing
 * written (a packet it could not fit) is taken back and counted in
 * `empty`. Returns 1, 0 when nothing was received, or
 * -EPROTO (q->why) when the device broke a rule: a used length shorter
 * than the header or longer than the buffer, num_buffers 0, above 1
 * without MRG_RXBUF, or more than the buffers it completed; a buffer other
 * than a packet's last not completely filled; an id not posted. -EMSGSIZE
 * when the frame is longer than cap (the packet is consumed).
 */
int sim_net_recv(struct sim_net_rxq *q, struct vnet_hdr_hash *hdr,
		 uint8_t *frame, uint32_t cap, uint32_t *len);

#endif /* VIRTNET_SIM_NET_H */
