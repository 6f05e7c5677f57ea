/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iopmem: a block device on memory behind a PCI BAR.
 *
 * See Documentation/driver-api/pci/iopmem.rst.
 */
#ifndef _LINUX_IOPMEM_H
#define _LINUX_IOPMEM_H

#include <linux/compiler_types.h>
#include <linux/err.h>
#include <linux/types.h>

struct device;
struct iopmem;

/**
 * struct iopmem_info - what the owner of the memory tells iopmem
 * @addr: the CPU's mapping of the memory, typically write-combining;
 *	it must stay valid until iopmem_destroy() returns
 * @size: its length in bytes, a multiple of 4096
 * @read_only: the disk may only be read (a PMR that says so)
 * @persistent: the memory keeps its contents across a power cycle once
 *	@barrier_fn has returned (an NVMe PMR); false for volatile memory
 * @barrier_fn: called after the writes a flush or a FUA write covers, with
 *	the write-combining buffers already drained: on return those writes
 *	have reached the memory (and, where @persistent, persistent media).
 *	It must not sleep.  NULL: draining the buffers is all it takes.
 * @data: passed to @barrier_fn
 */
struct iopmem_info {
	void __iomem *addr;
	u64 size;
	bool read_only;
	bool persistent;
	void (*barrier_fn)(void *data);
	void *data;
};

#if IS_ENABLED(CONFIG_BLK_DEV_IOPMEM)
struct iopmem *iopmem_create(struct device *parent,
			     const struct iopmem_info *info);
void iopmem_destroy(struct iopmem *im);
void iopmem_freeze(struct iopmem *im);
void iopmem_unfreeze(struct iopmem *im);
void iopmem_mark_dead(struct iopmem *im);
const char *iopmem_name(struct iopmem *im);
#else
static inline struct iopmem *iopmem_create(struct device *parent,
					   const struct iopmem_info *info)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static inline void iopmem_destroy(struct iopmem *im)
{
}

static inline void iopmem_freeze(struct iopmem *im)
{
}

static inline void iopmem_unfreeze(struct iopmem *im)
{
}

static inline void iopmem_mark_dead(struct iopmem *im)
{
}

static inline const char *iopmem_name(struct iopmem *im)
{
	return NULL;
}
#endif

#endif /* _LINUX_IOPMEM_H */
