/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sim_hostmem.h"

void sim_hostmem_init(struct sim_hostmem *m)
{
	memset(m, 0, sizeof(*m));
}

int sim_hostmem_add(struct sim_hostmem *m, uint64_t iova, uint64_t len)
{
	struct sim_hostmem_region *r;
	int fd;
	void *va;

	if (m->n == SIM_HOSTMEM_MAX || len == 0 || len % 4096 ||
	    iova + len - 1 < iova)
		return -EINVAL;
	fd = memfd_create("virtnet-hostmem", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)len) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		int e = -errno;
		close(fd);
		return e;
	}
	va = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (va == MAP_FAILED) {
		int e = -errno;
		close(fd);
		return e;
	}
	r = &m->r[m->n++];
	*r = (struct sim_hostmem_region){ .iova = iova, .len = len, .va = va, .fd = fd };
	return 0;
}

void sim_hostmem_free(struct sim_hostmem *m)
{
	for (unsigned i = 0; i < m->n; i++) {
		munmap(m->r[i].va, m->r[i].len);
		close(m->r[i].fd);
	}
	memset(m, 0, sizeof(*m));
}

int sim_hostmem_map(const struct sim_hostmem *m, struct dma_space *dma,
		    uint32_t prot)
{
	for (unsigned i = 0; i < m->n; i++) {
		int rc = dma_map(dma, m->r[i].iova, m->r[i].len, m->r[i].va, prot);
		if (rc)
			return rc;
	}
	return 0;
}

static const struct sim_hostmem_region *find(const struct sim_hostmem *m,
					     uint64_t iova)
{
	for (unsigned i = 0; i < m->n; i++)
		if (iova >= m->r[i].iova && iova - m->r[i].iova < m->r[i].len)
			return &m->r[i];
	return NULL;
}

void *sim_hostmem_va(const struct sim_hostmem *m, uint64_t iova, uint64_t len)
{
	const struct sim_hostmem_region *r = find(m, iova);

	if (!r || len > r->len - (iova - r->iova))
		return NULL;
	return r->va + (iova - r->iova);
}

int sim_hostmem_alloc(struct sim_hostmem *m, uint64_t len, uint64_t align,
		      uint64_t *iova)
{
	if (align == 0 || (align & (align - 1)))
		return -EINVAL;
	for (; m->cur < m->n; m->cur++, m->cursor = 0) {
		const struct sim_hostmem_region *r = &m->r[m->cur];
		uint64_t at = (r->iova + m->cursor + align - 1) & ~(align - 1);
		uint64_t off = at - r->iova;
		if (off <= r->len && len <= r->len - off) {
			m->cursor = off + len;
			*iova = at;
			return 0;
		}
	}
	return -ENOMEM;
}

static int copy(const struct sim_hostmem *m, uint64_t iova, uint8_t *buf,
		size_t len, int to_host)
{
	while (len) {
		const struct sim_hostmem_region *r = find(m, iova);
		if (!r)
			return -EFAULT;
		uint64_t off = iova - r->iova;
		size_t n = r->len - off < len ? r->len - off : len;
		if (to_host)
			memcpy(r->va + off, buf, n);
		else
			memcpy(buf, r->va + off, n);
		iova += n;
		buf += n;
		len -= n;
	}
	return 0;
}

int sim_hostmem_write(const struct sim_hostmem *m, uint64_t iova,
		      const void *src, size_t len)
{
	return copy(m, iova, (uint8_t *)src, len, 1);
}

int sim_hostmem_read(const struct sim_hostmem *m, uint64_t iova, void *dst,
		     size_t len)
{
	return copy(m, iova, dst, len, 0);
}
