// SPDX-License-Identifier: GPL-2.0
/*
 * PCI peer-to-peer DMA (P2PDMA) core
 *
 * A provider is a PCI function that offers part of a memory BAR for
 * transfers between devices.  The BAR range becomes ZONE_DEVICE memory
 * (MEMORY_DEVICE_PCI_P2PDMA) so it has struct pages and can sit in
 * scatterlists, bios and user mappings like any other memory.  This file:
 *
 *  - registers provider ranges and tears them down with the driver,
 *  - hands out their memory to kernel users and, through sysfs, to user
 *    space,
 *  - decides whether a client can reach a provider, and how: directly
 *    through PCIe switches with PCI bus addresses, or through a host
 *    bridge that is known to forward peer-to-peer traffic (PCIe r6.0
 *    sec 6.12 for the Access Control Services that can forbid the former),
 *  - maps provider pages for the DMA API (pci_p2pdma_map_segment()).
 *
 * Lifetime: every allocation unit holds a count on its range's @pin
 * percpu_ref.  Unbinding the provider kills the pins, revokes user
 * mappings, waits for the pins to drain and only then removes the pages.
 */

#define dev_fmt(fmt) "p2pdma: " fmt
#define pr_fmt(fmt) "p2pdma: " fmt

#include <kunit/static_stub.h>
#include <kunit/visibility.h>
#include <linux/bitfield.h>
#include <linux/bitmap.h>
#include <linux/cc_platform.h>
#include <linux/completion.h>
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/dma-map-ops.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/log2.h>
#include <linux/memory_hotplug.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/pagemap.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/percpu.h>
#include <linux/percpu-refcount.h>
#include <linux/pfn_t.h>
#include <linux/processor.h>
#include <linux/random.h>
#include <linux/range.h>
#include <linux/rculist.h>
#include <linux/scatterlist.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/xarray.h>

#include "pci.h"

/* Per-CPU caches keep chunks of 1, 2, 4, ... 64 pages (up to 256 KiB). */
#define P2P_CACHE_ORDERS		7
/* Slots of one per-CPU magazine (one magazine per chunk order). */
#define P2P_CACHE_SLOTS			16
/* Pages one magazine may hold: fewer slots are used for big chunks. */
#define P2P_CACHE_MAG_PAGES		64
/*
 * Ranges with fewer pages than this per possible CPU are not cached.
 * Caching is only an optimisation: an allocation that fails while chunks
 * sit in caches drains them all and tries again.
 */
#define P2P_CACHE_MIN_PAGES_PER_CPU	32

/*
 * A trip through the root complex is charged as this many extra hops, so
 * that a provider behind the same switch always wins over one that is
 * only reachable through a host bridge.
 */
#define P2P_HOST_BRIDGE_HOPS		8

/* Fields of a cached verdict, stored as an xarray value entry. */
#define P2P_V_MAP		GENMASK_ULL(1, 0)
#define P2P_V_REASON		GENMASK_ULL(4, 2)
#define P2P_V_HOPS		GENMASK_ULL(20, 5)
#define P2P_V_BLOCKER		GENMASK_ULL(61, 21)

/**
 * struct p2p_cpu_cache - one CPU's stock of free chunks of one range
 * @lock: protects the other fields; taken by the owning CPU on the fast
 *	paths and by any CPU that drains all caches of the range
 * @nr_pages: pages held in the magazines, for the "available" count
 * @count: number of chunks held, per chunk order
 * @slot: page index, within the range, of every chunk held, per order
 */
struct p2p_cpu_cache {
	spinlock_t lock;	/* see above; nests outside p2p_range.lock */
	unsigned long nr_pages;
	unsigned int count[P2P_CACHE_ORDERS];
	unsigned int slot[P2P_CACHE_ORDERS][P2P_CACHE_SLOTS];
};

struct pci_p2pdma;

/**
 * struct p2p_range - a BAR range registered by pci_p2pdma_add_resource()
 * @p2p: state of the provider the range belongs to
 * @node: entry in @p2p->ranges (RCU list, written under p2p_mutex)
 * @linked: @node is on @p2p->ranges (written under p2p_mutex)
 * @pin: one count per live allocation unit, plus the initial count that
 *	teardown drops; new allocations fail once it has been killed
 * @drained: completed when @pin reaches zero
 * @vaddr: kernel address of the first page
 * @base_pfn: page frame number of the first page
 * @npages: number of pages in the range
 * @bus_off: PCI bus address minus CPU physical address of the BAR
 * @wc: the kernel's mapping of the range really is write-combining (see
 *	p2p_range_granted_wc()); user mappings follow it
 * @lock: protects @used, @hint and @nr_free
 * @used: set bit = page allocated or sitting in a per-CPU cache
 * @hint: page index where the next search of @used starts (next fit)
 * @nr_free: number of clear bits in @used
 * @zero: set bit = the page is known to hold only zeros (atomic bit ops);
 *	see p2p_zero_for_user()
 * @nr_zeroed: pages cleared for user space so far, for debugfs
 * @cache: per-CPU stocks of small chunks; NULL for small ranges
 * @pgmap: ZONE_DEVICE map of the range; last, as it ends in a flexible
 *	array
 *
 * The head page of every live allocation unit carries a tag in its
 * zone_device_data (see p2p_unit_tag()), which lets frees be checked.
 */
struct p2p_range {
	struct pci_p2pdma *p2p;
	struct list_head node;
	bool linked;
	struct percpu_ref pin;
	struct completion drained;
	void *vaddr;
	unsigned long base_pfn;
	unsigned long npages;
	u64 bus_off;
	bool wc;
	spinlock_t lock;	/* the shared pool: @used, @hint, @nr_free */
	unsigned long *used;
	unsigned long hint;
	unsigned long nr_free;
	unsigned long *zero;
	atomic_long_t nr_zeroed;
	struct p2p_cpu_cache __percpu *cache;
	struct dev_pagemap pgmap;
};

/**
 * struct pci_p2pdma - peer-to-peer state of a provider (pdev->p2pdma)
 * @pdev: the provider
 * @node: entry in p2p_providers (protected by p2p_mutex)
 * @ranges: registered ranges (RCU list, written under p2p_mutex)
 * @published: other drivers may use the memory (pci_p2pmem_find())
 * @retiring: the provider's driver is being unbound (see p2p_has_mem()):
 *	nothing more is allocated
 * @sgl_users: lists from pci_p2pmem_alloc_sgl() not freed yet
 * @sgl_wait: woken when @sgl_users drops to zero
 * @map_cache: verdict per client, indexed by p2p_dev_key(); IRQ-safe lock
 * @user_lock: protects @user_inodes
 * @user_inodes: the inodes of p2pmem/allocate that were mmap()ed (one per
 *	sysfs superblock: each network namespace mounts its own), held with
 *	their superblocks until the state goes away, so that teardown can
 *	revoke user mappings after the file itself is gone
 *
 * Private to this file: struct pci_dev only holds an __rcu pointer to it.
 * It lives from the first successful pci_p2pdma_add_resource() until the
 * provider's driver is unbound.
 */
struct pci_p2pdma {
	struct pci_dev *pdev;
	struct list_head node;
	struct list_head ranges;
	bool published;
	bool retiring;
	atomic_t sgl_users;
	wait_queue_head_t sgl_wait;
	struct xarray map_cache;
	struct mutex user_lock;	/* see above */
	struct list_head user_inodes;
};

/* An entry of pci_p2pdma.user_inodes. */
struct p2p_user_inode {
	struct list_head node;
	struct inode *inode;
};

/* Why a client cannot reach a provider. */
enum p2p_reason {
	P2P_OK,
	P2P_NOT_PCI,
	P2P_ACS_REDIRECT,
	P2P_HOST_BRIDGE,
	P2P_UNTRUSTED,
	P2P_CONFIG_ERROR,
};

/**
 * struct p2p_verdict - how a client reaches a provider
 * @map: how the client must address the provider's memory
 * @reason: why @map is PCI_P2PDMA_MAP_NOT_SUPPORTED, else P2P_OK
 * @hops: length of the path, meaningful unless refused
 * @blocker: p2p_dev_key() of the port whose ACS redirects the traffic, or
 *	of the device that is untrusted or whose config space could not be read
 * @transient: derived from a failed config read; never cached
 */
struct p2p_verdict {
	enum pci_p2pdma_map_type map;
	enum p2p_reason reason;
	unsigned int hops;
	unsigned long blocker;
	bool transient;
};

/*
 * p2p_mutex serialises provider registration and removal: it protects
 * p2p_providers, every provider's range list and the assignment of
 * pdev->p2pdma.  Fast paths only read those under RCU.
 */
static DEFINE_MUTEX(p2p_mutex);
static LIST_HEAD(p2p_providers);

static const char *const p2p_map_names[] = {
	[PCI_P2PDMA_MAP_UNKNOWN]		= "unknown",
	[PCI_P2PDMA_MAP_NOT_SUPPORTED]		= "not-supported",
	[PCI_P2PDMA_MAP_BUS_ADDR]		= "bus-address",
	[PCI_P2PDMA_MAP_THRU_HOST_BRIDGE]	= "through-host-bridge",
};

/* ---------------------------------------------------------------------
 * Small helpers
 */

static struct pci_p2pdma *p2p_state_locked(struct pci_dev *pdev)
{
	return rcu_dereference_protected(pdev->p2pdma,
					 lockdep_is_held(&p2p_mutex));
}

static struct p2p_range *p2p_pgmap_to_range(struct dev_pagemap *pgmap)
{
	return container_of(pgmap, struct p2p_range, pgmap);
}

/* Number of pages an allocation of @size bytes takes; no overflow. */
static unsigned long p2p_size_to_pages(size_t size)
{
	return size ? (size - 1) / PAGE_SIZE + 1 : 0;
}

static struct page *p2p_idx_to_page(struct p2p_range *r, unsigned long idx)
{
	return pfn_to_page(r->base_pfn + idx);
}

static void *p2p_idx_to_virt(struct p2p_range *r, unsigned long idx)
{
	return r->vaddr + (idx << PAGE_SHIFT);
}

/* The kernel mapping of the range is of a BAR: the CPU uses MMIO accessors. */
static void __iomem *p2p_idx_to_iomem(struct p2p_range *r, unsigned long idx)
{
	return (void __force __iomem *)p2p_idx_to_virt(r, idx);
}

static bool p2p_range_holds(struct p2p_range *r, const void *addr)
{
	return addr >= r->vaddr && addr < r->vaddr + (r->npages << PAGE_SHIFT);
}

/* The range of @p2p holding @addr; call under rcu_read_lock(). */
static struct p2p_range *p2p_find_range(struct pci_p2pdma *p2p,
					const void *addr)
{
	struct p2p_range *r;

	list_for_each_entry_rcu(r, &p2p->ranges, node)
		if (p2p_range_holds(r, addr))
			return r;
	return NULL;
}

/* ---------------------------------------------------------------------
 * Shared pool of a range: a bitmap of pages, searched next-fit
 */

static long p2p_pool_find_locked(struct p2p_range *r, unsigned long npages,
				 unsigned long align_mask)
{
	unsigned long last, idx;

	lockdep_assert_held(&r->lock);
	if (npages > r->nr_free)
		return -1;

	last = r->npages - npages;
	idx = bitmap_find_next_zero_area(r->used, r->npages, r->hint, npages,
					 align_mask);
	if (idx > last && r->hint)
		idx = bitmap_find_next_zero_area(r->used, r->npages, 0, npages,
						 align_mask);
	if (idx > last)
		return -1;

	bitmap_set(r->used, idx, npages);
	WRITE_ONCE(r->nr_free, r->nr_free - npages);
	r->hint = idx + npages < r->npages ? idx + npages : 0;
	return idx;
}

static void p2p_pool_put_locked(struct p2p_range *r, unsigned long idx,
				unsigned long npages)
{
	lockdep_assert_held(&r->lock);
	bitmap_clear(r->used, idx, npages);
	WRITE_ONCE(r->nr_free, r->nr_free + npages);
}

static long p2p_pool_try(struct p2p_range *r, unsigned long npages,
			 unsigned long align_mask)
{
	unsigned long flags;
	long idx;

	spin_lock_irqsave(&r->lock, flags);
	idx = p2p_pool_find_locked(r, npages, align_mask);
	spin_unlock_irqrestore(&r->lock, flags);
	return idx;
}

static void p2p_pool_put(struct p2p_range *r, unsigned long idx,
			 unsigned long npages)
{
	unsigned long flags;

	spin_lock_irqsave(&r->lock, flags);
	p2p_pool_put_locked(r, idx, npages);
	spin_unlock_irqrestore(&r->lock, flags);
}

/* ---------------------------------------------------------------------
 * Per-CPU magazines of small chunks
 *
 * Lock order: a CPU cache's lock, then the range's pool lock.  Caches are
 * reached with raw_cpu_ptr(): a task that migrates right after picking
 * its cache still works on a consistent (just remote) cache.
 */

/* Order of a cacheable chunk of @npages pages, or -1. */
static int p2p_cache_order(unsigned long npages)
{
	if (!is_power_of_2(npages) || npages > BIT(P2P_CACHE_ORDERS - 1))
		return -1;
	return ilog2(npages);
}

static unsigned int p2p_mag_depth(unsigned int order)
{
	return clamp(P2P_CACHE_MAG_PAGES >> order, 2, P2P_CACHE_SLOTS);
}

static void p2p_mag_push(struct p2p_cpu_cache *c, unsigned int order,
			 unsigned long idx)
{
	c->slot[order][c->count[order]++] = idx;
	WRITE_ONCE(c->nr_pages, c->nr_pages + BIT(order));
}

static unsigned long p2p_mag_pop(struct p2p_cpu_cache *c, unsigned int order)
{
	WRITE_ONCE(c->nr_pages, c->nr_pages - BIT(order));
	return c->slot[order][--c->count[order]];
}

/* Take up to half a magazine of chunks from the pool in one go. */
static void p2p_cache_refill(struct p2p_range *r, struct p2p_cpu_cache *c,
			     unsigned int order)
{
	unsigned int n = p2p_mag_depth(order) / 2;
	long idx;

	lockdep_assert_held(&c->lock);
	spin_lock(&r->lock);
	while (n--) {
		idx = p2p_pool_find_locked(r, BIT(order), BIT(order) - 1);
		if (idx < 0)
			break;
		p2p_mag_push(c, order, idx);
	}
	spin_unlock(&r->lock);
}

/* Give the @n oldest chunks of a magazine back to the pool. */
static void p2p_cache_spill(struct p2p_range *r, struct p2p_cpu_cache *c,
			    unsigned int order, unsigned int n)
{
	unsigned int *slot = c->slot[order];
	unsigned int i;

	lockdep_assert_held(&c->lock);
	spin_lock(&r->lock);
	for (i = 0; i < n; i++)
		p2p_pool_put_locked(r, slot[i], BIT(order));
	spin_unlock(&r->lock);

	c->count[order] -= n;
	WRITE_ONCE(c->nr_pages, c->nr_pages - ((unsigned long)n << order));
	memmove(slot, slot + n, c->count[order] * sizeof(*slot));
}

static long p2p_cache_take(struct p2p_range *r, unsigned int order)
{
	struct p2p_cpu_cache *c = raw_cpu_ptr(r->cache);
	unsigned long flags;
	long idx = -1;

	spin_lock_irqsave(&c->lock, flags);
	if (!c->count[order])
		p2p_cache_refill(r, c, order);
	if (c->count[order])
		idx = p2p_mag_pop(c, order);
	spin_unlock_irqrestore(&c->lock, flags);
	return idx;
}

static void p2p_cache_give(struct p2p_range *r, unsigned int order,
			   unsigned long idx)
{
	struct p2p_cpu_cache *c = raw_cpu_ptr(r->cache);
	unsigned int depth = p2p_mag_depth(order);
	unsigned long flags;

	spin_lock_irqsave(&c->lock, flags);
	if (c->count[order] == depth)
		p2p_cache_spill(r, c, order, depth / 2);
	p2p_mag_push(c, order, idx);
	spin_unlock_irqrestore(&c->lock, flags);
}

/* Empty every CPU's cache into the pool; true if anything came back. */
static bool p2p_cache_drain(struct p2p_range *r)
{
	struct p2p_cpu_cache *c;
	unsigned long flags;
	unsigned int order;
	bool any = false;
	int cpu;

	for_each_possible_cpu(cpu) {
		c = per_cpu_ptr(r->cache, cpu);
		spin_lock_irqsave(&c->lock, flags);
		any |= c->nr_pages != 0;
		for (order = 0; order < P2P_CACHE_ORDERS; order++)
			p2p_cache_spill(r, c, order, c->count[order]);
		spin_unlock_irqrestore(&c->lock, flags);
	}
	return any;
}

static unsigned long p2p_cache_pages(struct p2p_range *r)
{
	unsigned long n = 0;
	int cpu;

	if (!r->cache)
		return 0;
	for_each_possible_cpu(cpu)
		n += READ_ONCE(per_cpu_ptr(r->cache, cpu)->nr_pages);
	return n;
}

/* ---------------------------------------------------------------------
 * Known-zero pages
 *
 * User space must never see what an earlier owner left in a page.  Pages
 * are zeroed on their way into a user mapping unless @zero says they
 * still hold the zeros of an earlier clearing: that is the case for a
 * page that came back from user space clean (p2p_page_free()).  Kernel
 * users get memory as it is, and lose the mark since they may write
 * without telling anyone.
 */

/* Pages [@idx, @idx + @npages) go to a kernel user. */
static void p2p_zero_forget(struct p2p_range *r, unsigned long idx,
			    unsigned long npages)
{
	unsigned long bit = idx;

	for_each_set_bit_from(bit, r->zero, idx + npages)
		clear_bit(bit, r->zero);
}

/* Pages cleared per memset_io() call, between chances to reschedule. */
#define P2P_ZERO_BATCH		16

/*
 * Pages [@idx, @idx + @npages), allocated by the caller, go to user space:
 * clear those that may hold data, a run of pages per memset_io(), and mark
 * them all known-zero.  May sleep.
 */
static void p2p_zero_for_user(struct p2p_range *r, unsigned long idx,
			      unsigned long npages)
{
	unsigned long end = idx + npages, start = idx, stop;

	might_sleep();
	while ((start = find_next_zero_bit(r->zero, end, start)) < end) {
		stop = find_next_bit(r->zero, end, start);
		stop = min(stop, start + P2P_ZERO_BATCH);
		memset_io(p2p_idx_to_iomem(r, start), 0,
			  (stop - start) << PAGE_SHIFT);
		atomic_long_add(stop - start, &r->nr_zeroed);
		start = stop;
		cond_resched();
	}
	/*
	 * The stores may sit in write-combining buffers: push them out before
	 * the pages can be reached through a user mapping, on any CPU, or by
	 * a device.
	 */
	wmb();
	for (start = idx; start < end; start++)
		set_bit(start, r->zero);
}

/* ---------------------------------------------------------------------
 * Allocation units: chunks handed out, each holding one count on @pin
 */

/* Odd, so it can never be mistaken for a pointer left by someone else. */
static void *p2p_unit_tag(unsigned long npages)
{
	return (void *)((npages << 1) | 1);
}

static void p2p_unit_mark(struct p2p_range *r, unsigned long idx,
			  unsigned long npages)
{
	WRITE_ONCE(p2p_idx_to_page(r, idx)->zone_device_data,
		   p2p_unit_tag(npages));
}

/* Clear the tag of a live unit; false if there is no such unit. */
static bool p2p_unit_clear(struct p2p_range *r, unsigned long idx,
			   unsigned long npages)
{
	void *tag = p2p_unit_tag(npages);

	if (!npages || idx >= r->npages || npages > r->npages - idx)
		return false;
	return cmpxchg(&p2p_idx_to_page(r, idx)->zone_device_data, tag,
		       NULL) == tag;
}

/*
 * Take room from the pool, draining the CPU caches if that helps.  Once
 * the pool is used up, allocations keep failing (nvmet tries one for
 * every request): only take every CPU's cache lock when the lockless
 * count says the caches hold something.
 */
static long p2p_pool_take(struct p2p_range *r, unsigned long npages,
			  unsigned long align_mask)
{
	long idx;

	idx = p2p_pool_try(r, npages, align_mask);
	if (idx < 0 && p2p_cache_pages(r) && p2p_cache_drain(r))
		idx = p2p_pool_try(r, npages, align_mask);
	return idx;
}

/* Find room for @npages pages, from the CPU cache when they fit in it. */
static long p2p_take(struct p2p_range *r, unsigned long npages)
{
	int order = p2p_cache_order(npages);
	long idx;

	if (order < 0)
		return p2p_pool_take(r, npages, 0);
	idx = r->cache ? p2p_cache_take(r, order) : -1;
	return idx < 0 ? p2p_pool_take(r, npages, npages - 1) : idx;
}

static void p2p_give(struct p2p_range *r, unsigned long idx,
		     unsigned long npages)
{
	int order = p2p_cache_order(npages);

	if (order >= 0 && r->cache)
		p2p_cache_give(r, order, idx);
	else
		p2p_pool_put(r, idx, npages);
}

/* Allocate one unit of @npages pages; call under rcu_read_lock(). */
static void *p2p_range_alloc(struct p2p_range *r, unsigned long npages)
{
	long idx;

	if (npages > r->npages || !percpu_ref_tryget_live_rcu(&r->pin))
		return NULL;

	idx = p2p_take(r, npages);
	if (idx < 0) {
		percpu_ref_put(&r->pin);
		return NULL;
	}
	p2p_unit_mark(r, idx, npages);
	p2p_zero_forget(r, idx, npages);
	return p2p_idx_to_virt(r, idx);
}

/*
 * Free the unit of @npages pages starting at page @idx.  Returns false,
 * having touched nothing, if no such unit is live.  The range may be
 * freed as soon as @pin is dropped, so that comes last.
 */
static bool p2p_range_free(struct p2p_range *r, unsigned long idx,
			   unsigned long npages)
{
	if (!p2p_unit_clear(r, idx, npages))
		return false;
	p2p_give(r, idx, npages);
	percpu_ref_put(&r->pin);
	return true;
}

/*
 * Allocate @npages contiguous pages for user space, each one its own unit
 * since the pages come back one at a time through p2p_page_free().
 * Call under rcu_read_lock(); returns the first page index or -1.
 */
static long p2p_range_alloc_user(struct p2p_range *r, unsigned long npages)
{
	unsigned long i;
	long idx;

	if (npages > r->npages || !percpu_ref_tryget_live_rcu(&r->pin))
		return -1;

	idx = p2p_pool_take(r, npages, 0);
	if (idx < 0) {
		percpu_ref_put(&r->pin);
		return -1;
	}

	percpu_ref_get_many(&r->pin, npages - 1);
	for (i = 0; i < npages; i++)
		p2p_unit_mark(r, idx + i, 1);
	return idx;
}

static unsigned long p2p_range_avail(struct p2p_range *r)
{
	return READ_ONCE(r->nr_free) + p2p_cache_pages(r);
}

/* ---------------------------------------------------------------------
 * ZONE_DEVICE glue
 */

/*
 * The last reference to a page mapped into user space is gone: give the
 * page back.  Kernel allocations never drop their page reference, so
 * only pages from p2pmem_alloc_mmap() should ever get here.
 *
 * The page was zero when it was mapped.  It still is unless it is dirty:
 * zapping a dirty PTE and a write fault mark it so, and so does the block
 * layer, the only user of FOLL_PCI_P2PDMA pins, when a device has written
 * into it (bio_set_pages_dirty(), bio_release_pages()).
 */
static void p2p_page_free(struct page *page)
{
	struct p2p_range *r = p2p_pgmap_to_range(page->pgmap);
	unsigned long idx = page_to_pfn(page) - r->base_pfn;

	if (TestClearPageDirty(page) && idx < r->npages)
		clear_bit(idx, r->zero);

	if (!p2p_range_free(r, idx, 1))
		dev_err_once(&r->p2p->pdev->dev,
			     "page %#lx was released but is not in use\n",
			     page_to_pfn(page));
}

static const struct dev_pagemap_ops p2p_pgmap_ops = {
	.page_free = p2p_page_free,
};

/* ---------------------------------------------------------------------
 * sysfs: /sys/bus/pci/devices/.../p2pmem/
 */

/* Sum the size (or the free part) of all ranges of @pdev, in bytes. */
static u64 p2p_sum_bytes(struct pci_dev *pdev, bool avail)
{
	struct pci_p2pdma *p2p;
	struct p2p_range *r;
	u64 pages = 0;

	rcu_read_lock();
	p2p = rcu_dereference(pdev->p2pdma);
	if (p2p)
		list_for_each_entry_rcu(r, &p2p->ranges, node)
			pages += avail ? p2p_range_avail(r) : r->npages;
	rcu_read_unlock();
	return pages << PAGE_SHIFT;
}

static ssize_t size_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%llu\n", p2p_sum_bytes(to_pci_dev(dev), false));
}
static DEVICE_ATTR_RO(size);

static ssize_t available_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", p2p_sum_bytes(to_pci_dev(dev), true));
}
static DEVICE_ATTR_RO(available);

static ssize_t published_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	struct pci_dev *pdev = to_pci_dev(dev);
	struct pci_p2pdma *p2p;
	bool published;

	rcu_read_lock();
	p2p = rcu_dereference(pdev->p2pdma);
	published = p2p && READ_ONCE(p2p->published);
	rcu_read_unlock();
	return sysfs_emit(buf, "%d\n", published);
}
static DEVICE_ATTR_RO(published);

/* User mappings use the cache mode of the kernel's mapping of the range. */
static pgprot_t p2p_user_prot(const struct p2p_range *r, pgprot_t prot)
{
	return r->wc ? pgprot_writecombine(prot) : pgprot_noncached(prot);
}

/*
 * Map a one-page unit at page @i of @vma.  On success the mapping holds
 * the page's only reference, and dropping it frees the unit through
 * p2p_page_free(); on failure the unit is still the caller's.
 */
static int p2p_insert_user_page(struct vm_area_struct *vma, unsigned long i,
				struct page *page)
{
	int ret;

	ret = vm_insert_page(vma, vma->vm_start + (i << PAGE_SHIFT), page);
	if (!ret)
		put_page(page);
	return ret;
}

/* Pages inserted into a user mapping per vm_insert_pages() call. */
#define P2P_INSERT_BATCH	32

/*
 * Insert the units at @idx into @vma, a batch at a time (one page table
 * lock per batch); give back the ones not inserted.  Inserted pages hold
 * the mapping's reference only, as with p2p_insert_user_page().
 */
static int p2p_map_user_run(struct vm_area_struct *vma, struct p2p_range *r,
			    unsigned long idx, unsigned long npages)
{
	struct page *pages[P2P_INSERT_BATCH];
	unsigned long i, j, n, left;
	int ret = 0;

	for (i = 0; i < npages && !ret; i += n) {
		n = min_t(unsigned long, npages - i, P2P_INSERT_BATCH);
		for (j = 0; j < n; j++)
			pages[j] = p2p_idx_to_page(r, idx + i + j);
		left = n;
		ret = vm_insert_pages(vma, vma->vm_start + (i << PAGE_SHIFT),
				      pages, &left);
		/*
		 * The range is inside @vma, so -EFAULT can only mean that a
		 * page table above the PTE level could not be allocated.
		 */
		if (ret == -EFAULT)
			ret = -ENOMEM;
		for (j = 0; j < n - left; j++)
			put_page(pages[j]);
		for (; j < n; j++)
			p2p_range_free(r, idx + i + j, 1);
		cond_resched();
	}
	for (; i < npages; i++)
		p2p_range_free(r, idx + i, 1);
	return ret;
}

/*
 * Find a range with @npages free contiguous pages and allocate them.  With
 * @like, only ranges with the same cache mode qualify: a VMA has only one.
 */
static long p2p_alloc_user(struct pci_dev *pdev, unsigned long npages,
			   struct p2p_range **range,
			   const struct p2p_range *like)
{
	struct pci_p2pdma *p2p;
	struct p2p_range *r;
	long idx = -1;

	rcu_read_lock();
	p2p = rcu_dereference(pdev->p2pdma);
	if (p2p)
		list_for_each_entry_rcu(r, &p2p->ranges, node) {
			if (like && r->wc != like->wc)
				continue;
			idx = p2p_range_alloc_user(r, npages);
			if (idx >= 0) {
				*range = r;
				break;
			}
		}
	rcu_read_unlock();
	return idx;
}

/*
 * No range has a contiguous run left: map single pages, from any range
 * with the cache mode of the first one.  Pages already inserted when this
 * fails are freed by the core's unmap.
 */
static int p2p_map_user_scattered(struct vm_area_struct *vma,
				  struct pci_dev *pdev, unsigned long npages)
{
	struct p2p_range *r, *first = NULL;
	unsigned long i;
	long idx;
	int ret;

	for (i = 0; i < npages; i++) {
		idx = p2p_alloc_user(pdev, 1, &r, first);
		if (idx < 0)
			return -ENOMEM;
		if (!first) {
			first = r;
			vma->vm_page_prot = p2p_user_prot(r, vma->vm_page_prot);
		}
		p2p_zero_for_user(r, idx, 1);
		ret = p2p_insert_user_page(vma, i, p2p_idx_to_page(r, idx));
		if (ret) {
			p2p_range_free(r, idx, 1);
			return ret;
		}
		cond_resched();
	}
	return 0;
}

/*
 * A write fault on a page that is mapped read-only, as after mprotect()
 * took write access away and gave it back, or after clear_refs reset the
 * soft-dirty bits, asks the mapping to make the page writable.  The page
 * has no page cache mapping, so without this the core would retry the
 * fault forever: say the page is ready, and locked, as the core expects.
 */
static vm_fault_t p2pmem_page_mkwrite(struct vm_fault *vmf)
{
	folio_lock(page_folio(vmf->page));
	return VM_FAULT_LOCKED;
}

/* No ->close: kernfs cannot wrap it, and pages come back on their own. */
static const struct vm_operations_struct p2pmem_vm_ops = {
	.page_mkwrite = p2pmem_page_mkwrite,
};

static bool p2p_knows_inode(struct pci_p2pdma *p2p, struct inode *inode)
{
	struct p2p_user_inode *ui;

	lockdep_assert_held(&p2p->user_lock);
	list_for_each_entry(ui, &p2p->user_inodes, node)
		if (ui->inode == inode)
			return true;
	return false;
}

/*
 * Keep every inode of "allocate" that is mmap()ed: removing the file zaps
 * the mappings it knows of, but a mapping whose mmap() was running at that
 * time is only linked to the inode after this handler has returned.
 * Teardown zaps it through the inodes kept here (p2p_rezap_user_maps()).
 * The superblock is held too, so that an unmount (a network namespace
 * going away) cannot free it under the inode.  The file cannot be removed,
 * nor the state freed, while this runs: kernfs holds the file active.
 */
static int p2p_note_user_inode(struct pci_dev *pdev, struct inode *inode)
{
	struct p2p_user_inode *ui;
	struct pci_p2pdma *p2p;
	int ret = 0;

	rcu_read_lock();
	p2p = rcu_dereference(pdev->p2pdma);
	rcu_read_unlock();
	if (!p2p)
		return -ENODEV;

	mutex_lock(&p2p->user_lock);
	if (p2p_knows_inode(p2p, inode))
		goto out;
	ui = kmalloc(sizeof(*ui), GFP_KERNEL);
	if (!ui) {
		ret = -ENOMEM;
		goto out;
	}
	/* Both are live: the file being mapped is open on them */
	atomic_inc(&inode->i_sb->s_active);
	ui->inode = igrab(inode);
	list_add(&ui->node, &p2p->user_inodes);
out:
	mutex_unlock(&p2p->user_lock);
	return ret;
}

static int p2pmem_alloc_mmap(struct file *filp, struct kobject *kobj,
			     struct bin_attribute *attr,
			     struct vm_area_struct *vma)
{
	struct pci_dev *pdev = to_pci_dev(kobj_to_dev(kobj));
	unsigned long npages = vma_pages(vma);
	struct p2p_range *r;
	long idx;
	int ret;

	if (!(vma->vm_flags & VM_MAYSHARE) || vma->vm_pgoff)
		return -EINVAL;

	if (npages > p2p_sum_bytes(pdev, true) >> PAGE_SHIFT)
		return -ENOMEM;

	ret = p2p_note_user_inode(pdev, file_inode(filp));
	if (ret)
		return ret;
	vma->vm_ops = &p2pmem_vm_ops;

	idx = p2p_alloc_user(pdev, npages, &r, NULL);
	if (idx < 0)
		return p2p_map_user_scattered(vma, pdev, npages);
	p2p_zero_for_user(r, idx, npages);
	vma->vm_page_prot = p2p_user_prot(r, vma->vm_page_prot);
	return p2p_map_user_run(vma, r, idx, npages);
}

/*
 * Mode and size are ABI.  The size only exists so that tools which check a
 * mapping's length against the file size (Python's mmap, for one) accept
 * any mapping a pool can hold: there is nothing to read or write.
 */
static struct bin_attribute p2pmem_alloc_attr = {
	.attr = { .name = "allocate", .mode = 0660 },
	.mmap = p2pmem_alloc_mmap,
	.size = SZ_1T,
};

static struct attribute *p2pmem_attrs[] = {
	&dev_attr_size.attr,
	&dev_attr_available.attr,
	&dev_attr_published.attr,
	NULL,
};

static struct bin_attribute *p2pmem_bin_attrs[] = {
	&p2pmem_alloc_attr,
	NULL,
};

static const struct attribute_group p2pmem_group = {
	.name = "p2pmem",
	.attrs = p2pmem_attrs,
	.bin_attrs = p2pmem_bin_attrs,
};

/*
 * Remove "allocate": kernfs waits for mmap() calls in flight, then zaps
 * every user mapping of the file; later accesses get SIGBUS.  Pages still
 * pinned (e.g. by O_DIRECT I/O in flight) come back when unpinned.
 */
static void p2p_revoke_user_maps(struct pci_dev *pdev)
{
	sysfs_remove_file_from_group(&pdev->dev.kobj, &p2pmem_alloc_attr.attr,
				     p2pmem_group.name);
}

/* Zap again every user mapping of "allocate", see p2p_note_user_inode(). */
static void p2p_rezap_user_maps(struct pci_p2pdma *p2p)
{
	struct p2p_user_inode *ui;

	mutex_lock(&p2p->user_lock);
	list_for_each_entry(ui, &p2p->user_inodes, node)
		unmap_mapping_range(ui->inode->i_mapping, 0, 0, 1);
	mutex_unlock(&p2p->user_lock);
}

/* ---------------------------------------------------------------------
 * Provider state: created on the first registered range, torn down by
 * devres when the provider's driver goes away.  Each step registers its
 * undo right after it succeeds.
 */

static void p2p_state_put_inodes(void *data)
{
	struct pci_p2pdma *p2p = data;
	struct p2p_user_inode *ui, *next;
	struct super_block *sb;

	list_for_each_entry_safe(ui, next, &p2p->user_inodes, node) {
		sb = ui->inode->i_sb;
		iput(ui->inode);
		deactivate_super(sb);
		kfree(ui);
	}
}

static void p2p_state_forget_verdicts(void *data)
{
	struct pci_p2pdma *p2p = data;

	xa_destroy(&p2p->map_cache);
}

static void p2p_state_remove_sysfs(void *data)
{
	struct pci_p2pdma *p2p = data;

	sysfs_remove_group(&p2p->pdev->dev.kobj, &p2pmem_group);
}

static void p2p_state_unpublish(void *data)
{
	struct pci_p2pdma *p2p = data;

	mutex_lock(&p2p_mutex);
	list_del(&p2p->node);
	RCU_INIT_POINTER(p2p->pdev->p2pdma, NULL);
	mutex_unlock(&p2p_mutex);
	/* Readers that found pdev->p2pdma are done before devres frees it */
	synchronize_rcu();
}

static void p2p_state_publish(struct pci_p2pdma *p2p)
{
	mutex_lock(&p2p_mutex);
	list_add_tail(&p2p->node, &p2p_providers);
	rcu_assign_pointer(p2p->pdev->p2pdma, p2p);
	mutex_unlock(&p2p_mutex);
}

static struct pci_p2pdma *p2p_state_create(struct pci_dev *pdev)
{
	struct device *dev = &pdev->dev;
	struct pci_p2pdma *p2p;
	int ret;

	p2p = devm_kzalloc(dev, sizeof(*p2p), GFP_KERNEL);
	if (!p2p)
		return ERR_PTR(-ENOMEM);
	p2p->pdev = pdev;
	INIT_LIST_HEAD(&p2p->node);
	INIT_LIST_HEAD(&p2p->ranges);
	init_waitqueue_head(&p2p->sgl_wait);
	xa_init_flags(&p2p->map_cache, XA_FLAGS_LOCK_IRQ);
	mutex_init(&p2p->user_lock);
	INIT_LIST_HEAD(&p2p->user_inodes);
	ret = devm_add_action_or_reset(dev, p2p_state_put_inodes, p2p);
	if (ret)
		return ERR_PTR(ret);
	ret = devm_add_action_or_reset(dev, p2p_state_forget_verdicts, p2p);
	if (ret)
		return ERR_PTR(ret);

	ret = sysfs_create_group(&dev->kobj, &p2pmem_group);
	if (ret)
		return ERR_PTR(ret);
	ret = devm_add_action_or_reset(dev, p2p_state_remove_sysfs, p2p);
	if (ret)
		return ERR_PTR(ret);

	p2p_state_publish(p2p);
	ret = devm_add_action_or_reset(dev, p2p_state_unpublish, p2p);
	return ret ? ERR_PTR(ret) : p2p;
}

static struct pci_p2pdma *p2p_state_get(struct pci_dev *pdev)
{
	struct pci_p2pdma *p2p;

	mutex_lock(&p2p_mutex);
	p2p = p2p_state_locked(pdev);
	mutex_unlock(&p2p_mutex);
	return p2p ?: p2p_state_create(pdev);
}

/* ---------------------------------------------------------------------
 * Ranges
 */

static void p2p_pin_release(struct percpu_ref *ref)
{
	struct p2p_range *r = container_of(ref, struct p2p_range, pin);

	complete(&r->drained);
}

static void p2p_pin_exit(void *data)
{
	struct p2p_range *r = data;

	percpu_ref_exit(&r->pin);
}

static void p2p_range_unlink(struct p2p_range *r)
{
	mutex_lock(&p2p_mutex);
	if (r->linked)
		list_del_rcu(&r->node);
	r->linked = false;
	mutex_unlock(&p2p_mutex);
	/* Lookups that found the range are over before it is freed */
	synchronize_rcu();
}

static bool p2p_range_is_linked(struct p2p_range *r)
{
	bool linked;

	mutex_lock(&p2p_mutex);
	linked = r->linked;
	mutex_unlock(&p2p_mutex);
	return linked;
}

/* How long unbinding waits between reports of memory still in use. */
#define P2P_DRAIN_REPORT_SECS	10
/* How often it zaps user mappings again meanwhile. */
#define P2P_DRAIN_REZAP_MS	100

/*
 * Memory still in use by a kernel user (or pinned for I/O) keeps the
 * provider from going away; say so now and then rather than hang silently.
 * Pages may also still be mapped by a mapping that was being set up when
 * "allocate" was removed: zap those as soon as they show up.
 */
static void p2p_range_wait_drained(struct p2p_range *r)
{
	unsigned long report = jiffies + P2P_DRAIN_REPORT_SECS * HZ;
	struct pci_dev *pdev = r->p2p->pdev;

	while (!wait_for_completion_timeout(&r->drained,
					    msecs_to_jiffies(P2P_DRAIN_REZAP_MS))) {
		p2p_rezap_user_maps(r->p2p);
		if (time_before(jiffies, report))
			continue;
		pci_info(pdev, "waiting for %lu of %lu pages at %#llx to be freed\n",
			 r->npages - p2p_range_avail(r), r->npages,
			 r->pgmap.range.start);
		report = jiffies + P2P_DRAIN_REPORT_SECS * HZ;
	}
}

/*
 * Stop handing out the range, and offering it (see p2p_has_mem()), and
 * wait until every unit has come back.  The range stays on the list
 * meanwhile so that frees can still find it.
 */
static void p2p_range_retire(void *data)
{
	struct p2p_range *r = data;

	percpu_ref_kill(&r->pin);
	if (p2p_range_is_linked(r))
		p2p_revoke_user_maps(r->p2p->pdev);
	p2p_range_wait_drained(r);
	p2p_range_unlink(r);
}

static void p2p_range_link(struct p2p_range *r)
{
	mutex_lock(&p2p_mutex);
	list_add_tail_rcu(&r->node, &r->p2p->ranges);
	r->linked = true;
	mutex_unlock(&p2p_mutex);
}

static void p2p_range_init(struct p2p_range *r, struct pci_p2pdma *p2p,
			   int bar, size_t size, u64 offset)
{
	struct pci_dev *pdev = p2p->pdev;
	resource_size_t start = pci_resource_start(pdev, bar);

	r->p2p = p2p;
	INIT_LIST_HEAD(&r->node);
	init_completion(&r->drained);
	spin_lock_init(&r->lock);
	r->base_pfn = PHYS_PFN(start + offset);
	r->npages = size >> PAGE_SHIFT;
	r->nr_free = r->npages;
	r->bus_off = pci_bus_address(pdev, bar) - start;

	r->pgmap.range.start = start + offset;
	r->pgmap.range.end = start + offset + size - 1;
	r->pgmap.nr_range = 1;
	r->pgmap.type = MEMORY_DEVICE_PCI_P2PDMA;
	r->pgmap.ops = &p2p_pgmap_ops;
	r->pgmap.owner = p2p;
	/* A prefetchable BAR tolerates merged writes: let the CPU combine them. */
	if (pci_resource_flags(pdev, bar) & IORESOURCE_PREFETCH)
		r->pgmap.flags |= PGMAP_WRITE_COMBINE;
}

static int p2p_range_init_pin(struct p2p_range *r, struct device *dev)
{
	int ret;

	ret = percpu_ref_init(&r->pin, p2p_pin_release, 0, GFP_KERNEL);
	if (ret)
		return ret;
	return devm_add_action_or_reset(dev, p2p_pin_exit, r);
}

static int p2p_range_init_pool(struct p2p_range *r, struct device *dev)
{
	int cpu;

	r->used = devm_bitmap_zalloc(dev, r->npages, GFP_KERNEL);
	if (!r->used)
		return -ENOMEM;
	/* Nothing is known of what the BAR holds yet. */
	r->zero = devm_bitmap_zalloc(dev, r->npages, GFP_KERNEL);
	if (!r->zero)
		return -ENOMEM;

	if (r->npages < P2P_CACHE_MIN_PAGES_PER_CPU * num_possible_cpus())
		return 0;
	r->cache = devm_alloc_percpu(dev, struct p2p_cpu_cache);
	if (!r->cache)
		return -ENOMEM;
	for_each_possible_cpu(cpu)
		spin_lock_init(&per_cpu_ptr(r->cache, cpu)->lock);
	return 0;
}

/*
 * Whether the kernel's mapping of the range ended up write-combining.
 * Asking for it is not enough: on x86 an earlier reservation of the BAR
 * with another memory type (an ioremap(), or a mapping of the PCI
 * resource file held across a rebind) makes PAT grant that type instead.
 * The other way round, an earlier write-combining reservation makes an
 * uncached request write-combining.  A user mapping of a different type
 * would alias the kernel's, which the architecture forbids, so user
 * mappings follow what was granted.  track_pfn_insert() gives the type of
 * the reservation covering the page; where there is no PAT it leaves the
 * request as it is.
 */
static bool p2p_range_granted_wc(struct p2p_range *r)
{
	pgprot_t wc = pgprot_writecombine(PAGE_KERNEL), prot;

	/* What was asked for, then what PAT says it gave (either way round) */
	prot = r->pgmap.flags & PGMAP_WRITE_COMBINE ? wc : pgprot_noncached(PAGE_KERNEL);
	track_pfn_insert(NULL, &prot, pfn_to_pfn_t(r->base_pfn));
	return pgprot_val(prot) == pgprot_val(wc);
}

static int p2p_range_create(struct pci_p2pdma *p2p, int bar, size_t size,
			    u64 offset)
{
	struct device *dev = &p2p->pdev->dev;
	struct p2p_range *r;
	void *addr;
	int ret;

	r = devm_kzalloc(dev, sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	p2p_range_init(r, p2p, bar, size, offset);

	ret = p2p_range_init_pin(r, dev);
	if (ret)
		return ret;
	ret = p2p_range_init_pool(r, dev);
	if (ret)
		return ret;

	addr = devm_memremap_pages(dev, &r->pgmap);
	if (IS_ERR(addr))
		return PTR_ERR(addr);
	r->vaddr = addr;
	r->wc = p2p_range_granted_wc(r);

	ret = devm_add_action_or_reset(dev, p2p_range_retire, r);
	if (ret)
		return ret;

	p2p_range_link(r);
	return 0;
}

static bool p2p_overlaps(struct pci_p2pdma *p2p, const struct range *new)
{
	struct p2p_range *r;
	bool found = false;

	mutex_lock(&p2p_mutex);
	list_for_each_entry_rcu(r, &p2p->ranges, node,
				lockdep_is_held(&p2p_mutex))
		found |= r->pgmap.range.start <= new->end &&
			 new->start <= r->pgmap.range.end;
	mutex_unlock(&p2p_mutex);
	return found;
}

/* ---------------------------------------------------------------------
 * Registration
 */

/* xarray index naming a PCI function: domain, bus and devfn */
static unsigned long p2p_dev_key(struct pci_dev *pdev)
{
	return (unsigned long)pci_domain_nr(pdev->bus) << 16 | pci_dev_id(pdev);
}

/*
 * Why the last registration of each function failed, for debugfs: a
 * device that offers no memory says why.  Indexed by p2p_dev_key(), each
 * entry a kmalloc()ed line; dropped when a registration of the function
 * succeeds and when the function goes away.
 */
static DEFINE_XARRAY(p2p_refusals);

static void p2p_forget_refusal(struct pci_dev *pdev)
{
	kfree(xa_erase(&p2p_refusals, p2p_dev_key(pdev)));
}

/*
 * Log why BAR @bar of @pdev offers no memory, and keep the line for
 * debugfs.  Logged first, so that it is said even without memory to keep
 * it.  Called from the registration, which the driver core does not run
 * concurrently with the removal of the function (that unbinds it first).
 */
static __printf(3, 4) void p2p_refuse(struct pci_dev *pdev, int bar,
				      const char *fmt, ...)
{
	struct va_format vaf;
	char *why, *old;
	va_list args;

	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	pci_info(pdev, "BAR %d: %pV\n", bar, &vaf);
	va_end(args);

	va_start(args, fmt);
	why = kasprintf(GFP_KERNEL, "BAR %d: %pV", bar, &vaf);
	va_end(args);
	if (!why)
		return;
	old = xa_store(&p2p_refusals, p2p_dev_key(pdev), why, GFP_KERNEL);
	kfree(xa_is_err(old) ? why : old);
}

/**
 * p2pdma_mappable_range - the physical addresses ZONE_DEVICE can map
 *
 * Struct pages for a BAR are made by memory hotplug, which maps the range
 * into the kernel's linear map: a BAR below its start or above its end
 * (arm64 with a PCI window below RAM, or with a small VA and a high PCI
 * window) can have none.  A function of its own, so that KUnit can move
 * either end.
 *
 * Return: the first and last physical address memory hotplug can map.
 */
VISIBLE_IF_KUNIT struct range p2pdma_mappable_range(void)
{
	KUNIT_STATIC_STUB_REDIRECT(p2pdma_mappable_range);
	return mhp_get_pluggable_range(true);
}
EXPORT_SYMBOL_IF_KUNIT(p2pdma_mappable_range);

/* ZONE_DEVICE maps whole memory-hotplug subsections (mm/memory_hotplug.c). */
static unsigned long p2p_hotplug_align(void)
{
	return max_t(unsigned long, memremap_compat_align(), SUBSECTION_SIZE);
}

static int p2p_check_resource(struct pci_dev *pdev, int bar, size_t *size,
			      u64 offset)
{
	unsigned long flags, align = p2p_hotplug_align();
	resource_size_t len, start;
	struct range mappable;

	if (bar < 0 || bar >= PCI_STD_NUM_BARS)
		return -EINVAL;
	flags = pci_resource_flags(pdev, bar);
	if (!(flags & IORESOURCE_MEM) || (flags & IORESOURCE_UNSET)) {
		p2p_refuse(pdev, bar, "not an assigned memory BAR");
		return -EINVAL;
	}

	len = pci_resource_len(pdev, bar);
	if (!*size && offset < len)
		*size = len - offset;
	if (offset >= len || !*size || *size > len - offset) {
		p2p_refuse(pdev, bar, "no room for %zu bytes at offset %#llx",
			   *size, offset);
		return -EINVAL;
	}

	start = pci_resource_start(pdev, bar) + offset;
	if (!IS_ALIGNED(start | *size, align) || *size >> PAGE_SHIFT > UINT_MAX) {
		p2p_refuse(pdev, bar, "range %#llx+%#zx is not %#lx aligned or too large",
			   (u64)start, *size, align);
		return -EINVAL;
	}

	/* Checked here, so that the refusal names the device and the BAR */
	mappable = p2pdma_mappable_range();
	if (start < mappable.start || start + *size - 1 > mappable.end) {
		p2p_refuse(pdev, bar,
			   "[mem %#llx-%#llx] lies outside what memory hotplug can map [mem %#llx-%#llx]: no peer-to-peer memory",
			   (u64)start, (u64)(start + *size - 1), mappable.start,
			   mappable.end);
		return -ERANGE;
	}
	return 0;
}

static int p2p_add_range(struct pci_dev *pdev, int bar, size_t size,
			 u64 offset)
{
	resource_size_t start = pci_resource_start(pdev, bar) + offset;
	struct range new = { .start = start, .end = start + size - 1 };
	struct pci_p2pdma *p2p;

	p2p = p2p_state_get(pdev);
	if (IS_ERR(p2p))
		return PTR_ERR(p2p);
	if (p2p_overlaps(p2p, &new))
		return -EBUSY;
	return p2p_range_create(p2p, bar, size, offset);
}

/**
 * p2pdma_cc_guest - whether this is a guest with encrypted memory
 *
 * In such a guest (AMD SEV, Intel TDX) every DMA goes through swiotlb
 * bounce buffers in shared memory, and the bounce paths refuse P2PDMA
 * pages: no device could ever reach provider memory, so none is offered.
 * A function of its own, so that KUnit can give both answers.
 *
 * Return: true in a guest whose memory is encrypted.
 */
VISIBLE_IF_KUNIT bool p2pdma_cc_guest(void)
{
	KUNIT_STATIC_STUB_REDIRECT(p2pdma_cc_guest);
	return cc_platform_has(CC_ATTR_GUEST_MEM_ENCRYPT);
}
EXPORT_SYMBOL_IF_KUNIT(p2pdma_cc_guest);

/**
 * pci_p2pdma_add_resource - offer part of a BAR as peer-to-peer memory
 * @pdev: the provider
 * @bar: index of a memory BAR of @pdev
 * @size: bytes to offer, 0 for everything from @offset to the end of @bar
 * @offset: where the range starts within @bar
 *
 * Creates struct pages for the range, makes its memory available to
 * pci_alloc_p2pmem() and to user space (p2pmem/allocate in sysfs) and adds
 * the p2pmem sysfs group on the first call.  The memory is private to the
 * caller until pci_p2pmem_publish().  Each refusal logs one line
 * with its reason, which debugfs keeps (p2pdma/refused) until a
 * registration of @pdev succeeds.  Everything is undone when the driver
 * of @pdev is unbound, after all allocations have been freed.
 *
 * The range must start and end on a memory-hotplug subsection boundary
 * (2 MiB on x86-64, see memremap_compat_align()).  Several ranges may be
 * added, but calls for the same device must not run concurrently.
 *
 * Context: process context, typically the probe routine of @pdev's driver.
 *
 * Return: 0 on success, or a negative errno with nothing left behind:
 *  * -EOPNOTSUPP - this is a guest with encrypted memory, where no device
 *    can DMA to a BAR (see p2pdma_cc_guest())
 *  * -EINVAL - @bar is not an assigned memory BAR, the range does not fit
 *    in it or is badly aligned, or the memory hotplug core rejected it
 *  * -ERANGE - the range lies outside the physical addresses memory
 *    hotplug can map (see p2pdma_mappable_range())
 *  * -EBUSY - the range overlaps one already added for @pdev
 *  * -ENOMEM - out of memory
 *  * -ENXIO, -EEXIST - the memory hotplug core refused the range: it
 *    overlaps System RAM or memory that already has struct pages (see
 *    devm_memremap_pages(), which may also return other errnos from the
 *    architecture's memory hotplug code)
 */
int pci_p2pdma_add_resource(struct pci_dev *pdev, int bar, size_t size,
			    u64 offset)
{
	void *group;
	int ret;

	ret = p2p_check_resource(pdev, bar, &size, offset);
	if (ret)
		return ret;
	if (p2pdma_cc_guest()) {
		p2p_refuse(pdev, bar,
			   "no peer-to-peer memory in a guest with encrypted memory: DMA is always bounced");
		return -EOPNOTSUPP;
	}

	group = devres_open_group(&pdev->dev, NULL, GFP_KERNEL);
	if (!group)
		return -ENOMEM;
	ret = p2p_add_range(pdev, bar, size, offset);
	if (ret) {
		devres_release_group(&pdev->dev, group);
		p2p_refuse(pdev, bar, "registration failed (%pe)", ERR_PTR(ret));
		return ret;
	}
	devres_remove_group(&pdev->dev, group);
	p2p_forget_refusal(pdev);

	pci_info(pdev, "BAR %d: %zu KiB at offset %#llx added as peer-to-peer memory\n",
		 bar, size >> 10, offset);
	return 0;
}
EXPORT_SYMBOL_GPL(pci_p2pdma_add_resource);

/* ---------------------------------------------------------------------
 * Topology: who can reach whom, and how
 */

static void p2p_key_name(unsigned long key, char *buf, size_t len)
{
	snprintf(buf, len, "%04lx:%02lx:%02lx.%lu", key >> 16,
		 (key >> 8) & 0xff, PCI_SLOT(key & 0xff), PCI_FUNC(key & 0xff));
}

/* The PCI function a client DMAs through: itself or its closest parent. */
static struct pci_dev *p2p_client_pci(struct device *dev)
{
	for (; dev; dev = dev->parent)
		if (dev_is_pci(dev))
			return to_pci_dev(dev);
	return NULL;
}

/*
 * Lowest device that is @a or @b or upstream of both; *@hops is the number
 * of steps from @a and from @b up to it.  NULL if the only thing they
 * share is the host bridge.
 */
static struct pci_dev *p2p_common_upstream(struct pci_dev *a,
					   struct pci_dev *b,
					   unsigned int *hops)
{
	struct pci_dev *up_a, *up_b;
	unsigned int dist_a, dist_b;

	for (up_a = a, dist_a = 0; up_a;
	     up_a = pci_upstream_bridge(up_a), dist_a++)
		for (up_b = b, dist_b = 0; up_b;
		     up_b = pci_upstream_bridge(up_b), dist_b++)
			if (up_a == up_b) {
				*hops = dist_a + dist_b;
				return up_a;
			}
	return NULL;
}

/* P2P Request/Completion Redirect or Egress Control sends traffic up. */
/*
 * Whether @pdev's ACS redirects peer-to-peer requests.  A read that fails
 * (all ones: the port is unplugged, or in D3cold) counts as a redirect,
 * the safe answer, and sets @failed: such a verdict must not be cached.
 */
static bool p2p_acs_redirects(struct pci_dev *pdev, bool *failed)
{
	u16 ctrl;

	if (!pdev->acs_cap)
		return false;
	pci_read_config_word(pdev, pdev->acs_cap + PCI_ACS_CTRL, &ctrl);
	if (PCI_POSSIBLE_ERROR(ctrl)) {
		*failed = true;
		return true;
	}
	return ctrl & (PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_EC);
}

/*
 * First device from @dev up to, not including, @top whose ACS redirects
 * peer-to-peer traffic.  @dev itself only counts when its own ACS matters:
 * when the peer sits on the same bus, i.e. is another function of the same
 * (multi-function or ARI) device.
 */
static struct pci_dev *p2p_acs_blocker(struct pci_dev *dev,
				       struct pci_dev *top, bool self,
				       bool *failed)
{
	if (!self && dev != top)
		dev = pci_upstream_bridge(dev);
	for (; dev && dev != top; dev = pci_upstream_bridge(dev))
		if (p2p_acs_redirects(dev, failed))
			return dev;
	return NULL;
}

static bool p2p_same_bus(struct pci_dev *a, struct pci_dev *b)
{
	return a != b && a->bus == b->bus;
}

/* Direct path below a common upstream bridge, with bus addresses. */
static bool p2p_switch_path(struct pci_dev *provider, struct pci_dev *client,
			    struct p2p_verdict *v)
{
	bool peers = p2p_same_bus(provider, client), failed = false;
	struct pci_dev *top, *blocker;

	top = p2p_common_upstream(provider, client, &v->hops);
	if (!top)
		return false;

	blocker = p2p_acs_blocker(provider, top, peers, &failed) ?:
		  p2p_acs_blocker(client, top, peers, &failed);
	if (blocker) {
		v->reason = failed ? P2P_CONFIG_ERROR : P2P_ACS_REDIRECT;
		v->blocker = p2p_dev_key(blocker);
		v->transient = failed;
		return false;
	}
	v->map = PCI_P2PDMA_MAP_BUS_ADDR;
	return true;
}

/* Zen and later AMD cores, and Hygon's, route P2P between root ports. */
static bool p2p_cpu_routes_p2p(void)
{
#ifdef CONFIG_X86
	const struct cpuinfo_x86 *c = &boot_cpu_data;

	if (c->x86_vendor == X86_VENDOR_AMD && c->x86 >= 0x17)
		return true;
	if (c->x86_vendor == X86_VENDOR_HYGON)
		return true;
#endif
	return false;
}

/*
 * Intel root-complex functions whose host bridge is known to forward
 * peer-to-peer traffic.  Each is device 00.0 of a root bus ("stack"), or
 * a root port, of the CPUs named.  IDs as listed in pci.ids.
 */
static const u16 p2p_intel_hosts[] = {
	0x2020,	/* Xeon Scalable (Skylake-SP, Cascade Lake): DMI3 registers */
	0x2030,	/* Xeon Scalable (Skylake-SP, Cascade Lake): root port A */
	0x2031,	/* Xeon Scalable (Skylake-SP, Cascade Lake): root port B */
	0x2032,	/* Xeon Scalable (Skylake-SP, Cascade Lake): root port C */
	0x2033,	/* Xeon Scalable (Skylake-SP, Cascade Lake): root port D */
	0x09a2,	/* 3rd gen Xeon Scalable (Ice Lake-SP): memory map/VT-d */
};

static bool p2p_id_routes_p2p(u16 vendor, u16 device)
{
	unsigned int i;

	if (vendor != PCI_VENDOR_ID_INTEL)
		return false;
	for (i = 0; i < ARRAY_SIZE(p2p_intel_hosts); i++)
		if (device == p2p_intel_hosts[i])
			return true;
	return false;
}

/*
 * Read the ID of device 00.0 on the root bus straight from config space:
 * looking the pci_dev up could sleep, and this runs from DMA mapping.
 */
static bool p2p_root_bus_routes_p2p(struct pci_bus *bus, bool *failed)
{
	u32 id;

	while (!pci_is_root_bus(bus))
		bus = bus->parent;
	if (pci_bus_read_config_dword(bus, PCI_DEVFN(0, 0), PCI_VENDOR_ID, &id) ||
	    PCI_POSSIBLE_ERROR(id)) {
		/* Refuse, and let the next query read again */
		*failed = true;
		return false;
	}
	return p2p_id_routes_p2p(id & 0xffff, id >> 16);
}

static bool p2p_host_routes_p2p(struct pci_dev *pdev, bool *failed)
{
	struct pci_dev *port = pcie_find_root_port(pdev);

	if (p2p_cpu_routes_p2p())
		return true;
	if (port && p2p_id_routes_p2p(port->vendor, port->device))
		return true;
	return p2p_root_bus_routes_p2p(pdev->bus, failed);
}

/* Steps from @pdev up into its host bridge. */
static unsigned int p2p_depth(struct pci_dev *pdev)
{
	unsigned int depth = 1;

	while ((pdev = pci_upstream_bridge(pdev)))
		depth++;
	return depth;
}

/* Path through the root complex, mapped like host memory. */
static bool p2p_host_path(struct pci_dev *provider, struct pci_dev *client,
			  struct p2p_verdict *v)
{
	bool failed = false;

	if (!p2p_host_routes_p2p(provider, &failed) ||
	    !p2p_host_routes_p2p(client, &failed)) {
		if (v->reason == P2P_OK)
			v->reason = P2P_HOST_BRIDGE;
		v->transient |= failed;
		return false;
	}
	v->map = PCI_P2PDMA_MAP_THRU_HOST_BRIDGE;
	v->reason = P2P_OK;
	v->hops = p2p_depth(provider) + p2p_depth(client) +
		  P2P_HOST_BRIDGE_HOPS;
	return true;
}

/*
 * Devices that the platform does not trust (behind an external-facing
 * port, say Thunderbolt) get their DMA confined by the IOMMU; letting them
 * reach a BAR directly, or a peer reach theirs, would get around that.
 */
static bool p2p_untrusted(struct pci_dev *provider, struct pci_dev *client,
			  struct p2p_verdict *v)
{
	struct pci_dev *bad = provider->untrusted ? provider :
			      client->untrusted ? client : NULL;

	if (!bad)
		return false;
	v->reason = P2P_UNTRUSTED;
	v->blocker = p2p_dev_key(bad);
	return true;
}

/* Work out the verdict from the topology.  Never sleeps. */
static void p2p_compute(struct pci_dev *provider, struct pci_dev *client,
			struct p2p_verdict *v)
{
	*v = (struct p2p_verdict) { .map = PCI_P2PDMA_MAP_NOT_SUPPORTED };

	if (p2p_untrusted(provider, client, v))
		return;
	if (p2p_switch_path(provider, client, v))
		return;
	p2p_host_path(provider, client, v);
}

static unsigned long p2p_verdict_pack(const struct p2p_verdict *v)
{
	return FIELD_PREP(P2P_V_MAP, v->map) |
	       FIELD_PREP(P2P_V_REASON, v->reason) |
	       FIELD_PREP(P2P_V_HOPS, min_t(unsigned int, v->hops, U16_MAX)) |
	       FIELD_PREP(P2P_V_BLOCKER, v->blocker);
}

static void p2p_verdict_unpack(unsigned long val, struct p2p_verdict *v)
{
	v->map = FIELD_GET(P2P_V_MAP, val);
	v->reason = FIELD_GET(P2P_V_REASON, val);
	v->hops = FIELD_GET(P2P_V_HOPS, val);
	v->blocker = FIELD_GET(P2P_V_BLOCKER, val);
}

/*
 * Remember a verdict; on failure it is simply computed again next time.
 *
 * A client that is being removed may still be looked at (a debugfs read
 * or a distance query holding a reference), after p2p_pci_notify() erased
 * its entry: a verdict stored then would be inherited by the next device
 * at the same address.  Removal clears PCI_DEV_ADDED before the notifier
 * runs, and the notifier erases under the xarray lock, so checking the
 * flag under that lock is enough: either the store comes first and is
 * erased, or it sees the flag clear.
 */
static void p2p_verdict_store(struct pci_p2pdma *p2p, struct pci_dev *client,
			      const struct p2p_verdict *v, bool atomic)
{
	void *entry = xa_mk_value(p2p_verdict_pack(v));
	unsigned long key = p2p_dev_key(client);
	unsigned long flags;

	if (v->transient)
		return;
	if (!atomic) {
		/* Preallocate outside the lock: the store below cannot sleep */
		if (xa_reserve_irq(&p2p->map_cache, key, GFP_KERNEL))
			return;
	}
	xa_lock_irqsave(&p2p->map_cache, flags);
	if (pci_dev_is_added(client))
		__xa_store(&p2p->map_cache, key, entry, GFP_ATOMIC | __GFP_NOWARN);
	else
		__xa_erase(&p2p->map_cache, key);
	xa_unlock_irqrestore(&p2p->map_cache, flags);
}

/* Verdict for @client against the provider of @p2p, cached. */
static void p2p_verdict_cached(struct pci_p2pdma *p2p, struct pci_dev *client,
			       struct p2p_verdict *v, bool atomic)
{
	unsigned long key = p2p_dev_key(client);
	void *entry = xa_load(&p2p->map_cache, key);

	if (xa_is_value(entry)) {
		p2p_verdict_unpack(xa_to_value(entry), v);
		return;
	}
	p2p_compute(p2p->pdev, client, v);
	p2p_verdict_store(p2p, client, v, atomic);
}

#if IS_ENABLED(CONFIG_KUNIT)
/**
 * p2pdma_verdict_is_cached - whether @provider holds a verdict for @client
 * @provider: a provider with registered memory
 * @client: a PCI device; only its address is looked at
 *
 * For the KUnit tests of the cache.
 *
 * Return: true if a verdict is cached under @client's address.
 */
VISIBLE_IF_KUNIT bool p2pdma_verdict_is_cached(struct pci_dev *provider,
					       struct pci_dev *client)
{
	struct pci_p2pdma *p2p;
	bool cached = false;

	rcu_read_lock();
	p2p = rcu_dereference(provider->p2pdma);
	if (p2p)
		cached = xa_is_value(xa_load(&p2p->map_cache, p2p_dev_key(client)));
	rcu_read_unlock();
	return cached;
}
EXPORT_SYMBOL_IF_KUNIT(p2pdma_verdict_is_cached);

/**
 * p2pdma_is_listed - whether @pdev is on the list of providers
 * @pdev: a PCI device
 *
 * For the KUnit tests: the list (which debugfs shows) must not keep a
 * device whose registration failed.
 *
 * Return: true if a provider state of @pdev is on the list.
 */
VISIBLE_IF_KUNIT bool p2pdma_is_listed(struct pci_dev *pdev)
{
	struct pci_p2pdma *p2p;
	bool listed = false;

	mutex_lock(&p2p_mutex);
	list_for_each_entry(p2p, &p2p_providers, node)
		listed |= p2p->pdev == pdev;
	mutex_unlock(&p2p_mutex);
	return listed;
}
EXPORT_SYMBOL_IF_KUNIT(p2pdma_is_listed);
#endif

/*
 * Verdict for any client device; @p2p is the state of @provider, or NULL
 * if it has registered no memory (nothing is cached then).
 */
static void p2p_verdict_get(struct pci_dev *provider, struct pci_p2pdma *p2p,
			    struct device *dev, struct p2p_verdict *v)
{
	struct pci_dev *client = p2p_client_pci(dev);

	if (!client)
		*v = (struct p2p_verdict) { .map = PCI_P2PDMA_MAP_NOT_SUPPORTED,
					    .reason = P2P_NOT_PCI };
	else if (p2p)
		p2p_verdict_cached(p2p, client, v, false);
	else
		p2p_compute(provider, client, v);
}

static const char *p2p_reason_text(const struct p2p_verdict *v, char *buf,
				   size_t len)
{
	char port[32];

	switch (v->reason) {
	case P2P_OK:
		return "ok";
	case P2P_NOT_PCI:
		return "the client is not a PCI device and has no PCI parent";
	case P2P_ACS_REDIRECT:
		p2p_key_name(v->blocker, port, sizeof(port));
		snprintf(buf, len,
			 "ACS on %s redirects the traffic to a host bridge not known to forward it",
			 port);
		return buf;
	case P2P_HOST_BRIDGE:
		return "the path crosses a host bridge not known to forward peer-to-peer traffic";
	case P2P_UNTRUSTED:
		p2p_key_name(v->blocker, port, sizeof(port));
		snprintf(buf, len, "%s is untrusted (behind an external-facing port)",
			 port);
		return buf;
	case P2P_CONFIG_ERROR:
		p2p_key_name(v->blocker, port, sizeof(port));
		snprintf(buf, len,
			 "the config space of %s could not be read (removed, or powered off?)",
			 port);
		return buf;
	}
	return "unknown";
}

/*
 * The provider's driver is about to be unbound, and its ->remove() may
 * stop the device from answering on its BAR at once: an NVMe controller
 * that is disabled takes its CMB away.  Scatterlists handed out are in
 * use by peers DMAing to and from that memory right now (an nvmet
 * request, a block request), and would read garbage or lose writes, with
 * no error anywhere.  So, with nothing more allocated (@retiring), wait
 * for them to come back before ->remove() runs, saying so now and then
 * as the range teardown does.  Memory from pci_alloc_p2pmem() is waited
 * for after ->remove(), by devres: the provider's own driver keeps some
 * there until then (nvme-pci's submission queues).
 */
static void p2p_wait_sgl_users(struct pci_p2pdma *p2p)
{
	while (!wait_event_timeout(p2p->sgl_wait, !atomic_read(&p2p->sgl_users),
				   P2P_DRAIN_REPORT_SECS * HZ))
		pci_info(p2p->pdev, "waiting for %d scatterlists of p2p memory to be freed before unbinding\n",
			 atomic_read(&p2p->sgl_users));
}

/*
 * A device that goes away may be replaced by another one at the same
 * address (hot-plug): forget what was worked out about it.
 */
static int p2p_pci_notify(struct notifier_block *nb, unsigned long action,
			  void *data)
{
	struct pci_dev *pdev = to_pci_dev(data);
	struct pci_p2pdma *p2p;
	unsigned long key;

	if (action == BUS_NOTIFY_UNBIND_DRIVER) {
		/* Withdraw all of it now: devres retires one range at a time */
		mutex_lock(&p2p_mutex);
		p2p = p2p_state_locked(pdev);
		if (p2p)
			WRITE_ONCE(p2p->retiring, true);
		mutex_unlock(&p2p_mutex);
		/* The state is devres's, freed after the driver's ->remove() */
		if (p2p) {
			/* Pairs with the counting in p2p_sgl_get() */
			smp_mb();
			p2p_wait_sgl_users(p2p);
		}
		return NOTIFY_OK;
	}
	if (action != BUS_NOTIFY_DEL_DEVICE)
		return NOTIFY_DONE;

	key = p2p_dev_key(pdev);
	mutex_lock(&p2p_mutex);
	list_for_each_entry(p2p, &p2p_providers, node)
		xa_erase_irq(&p2p->map_cache, key);
	mutex_unlock(&p2p_mutex);
	p2p_forget_refusal(pdev);
	return NOTIFY_OK;
}

static struct notifier_block p2p_pci_nb = {
	.notifier_call = p2p_pci_notify,
};

static void p2p_explain(struct pci_dev *provider, struct device *client,
			const struct p2p_verdict *v)
{
	char buf[128];

	pci_warn(provider, "no peer-to-peer DMA with %s: %s\n",
		 client ? dev_name(client) : "(none)",
		 p2p_reason_text(v, buf, sizeof(buf)));
}

static int p2p_distance_locked(struct pci_dev *provider,
			       struct device **clients, int num_clients,
			       bool verbose)
{
	struct pci_p2pdma *p2p = p2p_state_locked(provider);
	bool refused = num_clients < 1;
	struct p2p_verdict v;
	int i, total = 0;

	lockdep_assert_held(&p2p_mutex);
	for (i = 0; i < num_clients; i++) {
		p2p_verdict_get(provider, p2p, clients[i], &v);
		if (v.map != PCI_P2PDMA_MAP_NOT_SUPPORTED) {
			total += v.hops;
			continue;
		}
		refused = true;
		if (!verbose)
			break;
		p2p_explain(provider, clients[i], &v);
	}
	return refused ? -1 : total;
}

/**
 * pci_p2pdma_distance_many - how far clients are from a provider's memory
 * @provider: PCI function that provides (or would provide) the memory; it
 *	need not have registered any
 * @clients: devices that would DMA to or from that memory; a device that is
 *	not a PCI function is represented by its closest PCI parent
 * @num_clients: number of entries in @clients
 * @verbose: log one line per refused client, naming it and the reason
 *
 * A client can reach the provider when both sit below a common upstream
 * bridge and no port on the way has ACS redirection enabled (it then uses
 * PCI bus addresses), or else when the host bridges on both sides are
 * known to forward peer-to-peer traffic (it then maps the memory like
 * host memory, through its IOMMU if it has one).  The distance is the
 * number of hops; a trip through the root complex is charged extra.
 *
 * Context: process context; takes a mutex.
 *
 * Return: the sum of the distances of all clients (0 if every client is
 * @provider itself), or -1 if at least one client cannot reach @provider
 * or @num_clients is less than one.
 */
int pci_p2pdma_distance_many(struct pci_dev *provider, struct device **clients,
			     int num_clients, bool verbose)
{
	int ret;

	mutex_lock(&p2p_mutex);
	ret = p2p_distance_locked(provider, clients, num_clients, verbose);
	mutex_unlock(&p2p_mutex);
	return ret;
}
EXPORT_SYMBOL_GPL(pci_p2pdma_distance_many);

/*
 * Published, with a range that is not being torn down.  A provider whose
 * driver is being unbound is marked before the driver's ->remove() runs
 * (p2p_pci_notify()), and retiring a range (a devres group released by
 * its owner) starts with killing its pin, so a provider that is going
 * away stops being offered (pci_p2pmem_find_many(), pci_has_p2pmem() and
 * so pci_p2pdma_enable_store()) before anything else happens to it.  Call
 * under rcu_read_lock() or p2p_mutex.
 */
static bool p2p_has_mem(struct pci_p2pdma *p2p)
{
	struct p2p_range *r;

	if (!READ_ONCE(p2p->published) || READ_ONCE(p2p->retiring))
		return false;
	list_for_each_entry_rcu(r, &p2p->ranges, node,
				lockdep_is_held(&p2p_mutex))
		if (!percpu_ref_is_dying(&r->pin))
			return true;
	return false;
}

/**
 * pci_has_p2pmem - tell whether a device offers published p2p memory
 * @pdev: the device to check
 *
 * Context: any context.
 *
 * Return: true if @pdev has registered peer-to-peer memory and published
 * it with pci_p2pmem_publish(), false otherwise.
 */
bool pci_has_p2pmem(struct pci_dev *pdev)
{
	struct pci_p2pdma *p2p;
	bool ret;

	rcu_read_lock();
	p2p = rcu_dereference(pdev->p2pdma);
	ret = p2p && p2p_has_mem(p2p);
	rcu_read_unlock();
	return ret;
}
EXPORT_SYMBOL_GPL(pci_has_p2pmem);

/**
 * pci_p2pmem_find_many - find the closest published p2p memory for clients
 * @clients: devices that will DMA to or from the memory
 * @num_clients: number of entries in @clients
 *
 * Looks at every provider that published its memory and picks the one
 * with the smallest pci_p2pdma_distance_many() to all @clients.  Among
 * equally close providers one is chosen at random, to spread the load.
 *
 * Context: process context; takes a mutex.
 *
 * Return: the provider with a reference held, to be dropped with
 * pci_dev_put(), or NULL if no published provider is reachable by all
 * @clients (or @num_clients is less than one).
 */
struct pci_dev *pci_p2pmem_find_many(struct device **clients, int num_clients)
{
	struct pci_p2pdma *p2p, *pick = NULL;
	struct pci_dev *found = NULL;
	unsigned int ties = 0;
	int dist, best = INT_MAX;

	mutex_lock(&p2p_mutex);
	list_for_each_entry(p2p, &p2p_providers, node) {
		if (!p2p_has_mem(p2p))
			continue;
		dist = p2p_distance_locked(p2p->pdev, clients, num_clients,
					   false);
		if (dist < 0 || dist > best)
			continue;
		if (dist < best) {
			best = dist;
			ties = 0;
		}
		if (!get_random_u32_below(++ties))
			pick = p2p;
	}
	if (pick)
		found = pci_dev_get(pick->pdev);
	mutex_unlock(&p2p_mutex);
	return found;
}
EXPORT_SYMBOL_GPL(pci_p2pmem_find_many);

/**
 * pci_p2pmem_publish - let other drivers find a device's p2p memory
 * @pdev: provider that registered memory with pci_p2pdma_add_resource()
 * @publish: true to publish, false to withdraw
 *
 * Published memory is returned by pci_p2pmem_find_many() and accepted by
 * pci_p2pdma_enable_store().  Withdrawing does not affect memory already
 * allocated.  Does nothing if @pdev has no p2p memory.
 *
 * Context: any context.
 *
 * Return: nothing.
 */
void pci_p2pmem_publish(struct pci_dev *pdev, bool publish)
{
	struct pci_p2pdma *p2p;

	rcu_read_lock();
	p2p = rcu_dereference(pdev->p2pdma);
	if (p2p)
		WRITE_ONCE(p2p->published, publish);
	rcu_read_unlock();
}
EXPORT_SYMBOL_GPL(pci_p2pmem_publish);

/* ---------------------------------------------------------------------
 * Kernel allocation API
 */

/**
 * pci_alloc_p2pmem - allocate peer-to-peer memory
 * @pdev: provider to allocate from
 * @size: number of bytes
 *
 * The memory is page aligned; power-of-two chunks of up to 64 pages are
 * aligned to their size.  It is served from per-CPU caches when possible and
 * keeps the provider's memory in place until pci_free_p2pmem().
 *
 * Context: any context; does not sleep.
 *
 * Return: the kernel address of the memory, or NULL if @size is 0, if
 * @pdev has no p2p memory, if its driver is being unbound, or if no range
 * has @size contiguous bytes free.
 */
void *pci_alloc_p2pmem(struct pci_dev *pdev, size_t size)
{
	unsigned long npages = p2p_size_to_pages(size);
	struct pci_p2pdma *p2p;
	struct p2p_range *r;
	void *addr = NULL;

	if (!npages)
		return NULL;

	rcu_read_lock();
	p2p = rcu_dereference(pdev->p2pdma);
	if (p2p && !READ_ONCE(p2p->retiring))
		list_for_each_entry_rcu(r, &p2p->ranges, node) {
			addr = p2p_range_alloc(r, npages);
			if (addr)
				break;
		}
	rcu_read_unlock();
	return addr;
}
EXPORT_SYMBOL_GPL(pci_alloc_p2pmem);

/**
 * pci_free_p2pmem - free memory from pci_alloc_p2pmem()
 * @pdev: provider the memory was allocated from
 * @addr: address returned by pci_alloc_p2pmem(); NULL is ignored
 * @size: the size passed to pci_alloc_p2pmem()
 *
 * A free that does not match a live allocation (wrong device, address or
 * size, or a double free) is reported once in the log and ignored.
 *
 * Context: any context; does not sleep.
 *
 * Return: nothing.
 */
void pci_free_p2pmem(struct pci_dev *pdev, void *addr, size_t size)
{
	struct pci_p2pdma *p2p;
	struct p2p_range *r;
	bool freed = false;

	if (!addr)
		return;

	rcu_read_lock();
	p2p = rcu_dereference(pdev->p2pdma);
	r = p2p ? p2p_find_range(p2p, addr) : NULL;
	if (r && PAGE_ALIGNED(addr - r->vaddr))
		freed = p2p_range_free(r, (addr - r->vaddr) >> PAGE_SHIFT,
				       p2p_size_to_pages(size));
	rcu_read_unlock();

	if (!freed)
		dev_err_once(&pdev->dev, "ignoring free of %zu bytes at %p: not allocated\n",
			     size, addr);
}
EXPORT_SYMBOL_GPL(pci_free_p2pmem);

/**
 * pci_p2pmem_virt_to_bus - PCI bus address of peer-to-peer memory
 * @pdev: provider of the memory
 * @addr: kernel address within memory from pci_alloc_p2pmem()
 *
 * The bus address is what a device behind the same switch as @pdev (or
 * @pdev itself) must use to reach the memory without an IOMMU.
 *
 * Context: any context.
 *
 * Return: the bus address of @addr, or 0 if @addr is not p2p memory of
 * @pdev.
 */
pci_bus_addr_t pci_p2pmem_virt_to_bus(struct pci_dev *pdev, void *addr)
{
	struct pci_p2pdma *p2p;
	pci_bus_addr_t bus = 0;
	struct p2p_range *r;

	rcu_read_lock();
	p2p = rcu_dereference(pdev->p2pdma);
	r = p2p ? p2p_find_range(p2p, addr) : NULL;
	if (r)
		bus = PFN_PHYS(r->base_pfn) + (addr - r->vaddr) + r->bus_off;
	rcu_read_unlock();
	return bus;
}
EXPORT_SYMBOL_GPL(pci_p2pmem_virt_to_bus);

/* Entries of a fragmented scatterlist: the biggest chunks CPUs cache. */
#define P2P_SGL_CHUNK	(BIT(P2P_CACHE_ORDERS - 1) * PAGE_SIZE)

/*
 * Fill @n entries of @sgl with p2p memory for @length bytes in total: all
 * but the last entry take P2P_SGL_CHUNK bytes, the last takes the rest.
 * The entries are marked as I/O memory, so that the scatterlist helpers
 * never give the CPU a plain pointer to them.  sg_virt() is still the
 * address to free: it is only passed back to pci_free_p2pmem().
 */
static bool p2p_fill_sgl(struct pci_dev *pdev, struct scatterlist *sgl,
			 unsigned int n, u32 length)
{
	unsigned int i, len;
	void *addr;

	sg_init_table(sgl, n);
	for (i = 0; i < n; i++, length -= len) {
		len = i + 1 < n ? P2P_SGL_CHUNK : length;
		addr = pci_alloc_p2pmem(pdev, len);
		if (!addr)
			break;
		sg_set_iomem_page(&sgl[i], virt_to_page(addr), len,
				  offset_in_page(addr));
	}
	if (i == n)
		return true;

	while (i--)
		pci_free_p2pmem(pdev, sg_virt(&sgl[i]), sgl[i].length);
	return false;
}

/*
 * A list from pci_p2pmem_alloc_sgl() is memory a peer is about to DMA to or
 * from; the unbind of the provider's driver waits for all of them (see
 * p2p_wait_sgl_users()).  An allocation is counted before it looks at
 * @retiring, and the unbind sets @retiring before it looks at the count
 * (both fully ordered), so either the allocation fails or the unbind
 * waits for it.  The state outlives every list: its ranges wait for all
 * of their memory to come back before it goes.
 */
static void p2p_sgl_get(struct pci_dev *pdev)
{
	struct pci_p2pdma *p2p;

	rcu_read_lock();
	p2p = rcu_dereference(pdev->p2pdma);
	if (p2p) {
		atomic_inc(&p2p->sgl_users);
		/* Counted before @retiring is read: pairs with the unbind */
		smp_mb__after_atomic();
	}
	rcu_read_unlock();
}

static void p2p_sgl_put(struct pci_dev *pdev)
{
	struct pci_p2pdma *p2p;

	rcu_read_lock();
	p2p = rcu_dereference(pdev->p2pdma);
	/* Never below zero: a list freed twice is logged by the frees */
	if (p2p && atomic_dec_if_positive(&p2p->sgl_users) == 0)
		wake_up_all(&p2p->sgl_wait);
	rcu_read_unlock();
}

static struct scatterlist *p2p_alloc_sgl(struct pci_dev *pdev,
					 unsigned int n, u32 length)
{
	struct scatterlist *sgl;

	sgl = kmalloc_array(n, sizeof(*sgl), GFP_KERNEL);
	if (sgl && !p2p_fill_sgl(pdev, sgl, n, length)) {
		kfree(sgl);
		sgl = NULL;
	}
	return sgl;
}

/**
 * pci_p2pmem_alloc_sgl - allocate peer-to-peer memory in a scatterlist
 * @pdev: provider to allocate from
 * @nents: set to the number of entries of the returned list
 * @length: number of bytes
 *
 * The memory is one contiguous chunk described by a single entry when
 * possible; otherwise it is made of chunks of up to 256 KiB, one entry each.
 * Every entry is marked with sg_set_iomem_page(): users that touch the
 * data with the CPU must go through the sg_copy_*() helpers or a mapping
 * iterator started with %SG_MITER_IOMEM; sg_kmap() refuses the entries.
 *
 * Context: process context (the list itself is allocated GFP_KERNEL).
 *
 * Return: the scatterlist, to be freed with pci_p2pmem_free_sgl(), or
 * NULL if @length is 0, or if memory for the list or @length bytes of
 * p2p memory could not be allocated (see pci_alloc_p2pmem()).
 */
struct scatterlist *pci_p2pmem_alloc_sgl(struct pci_dev *pdev,
					 unsigned int *nents, u32 length)
{
	unsigned int n = 1;
	struct scatterlist *sgl;

	if (!length)
		return NULL;

	p2p_sgl_get(pdev);
	sgl = p2p_alloc_sgl(pdev, n, length);
	if (!sgl && length > P2P_SGL_CHUNK) {
		n = DIV_ROUND_UP(length, P2P_SGL_CHUNK);
		sgl = p2p_alloc_sgl(pdev, n, length);
	}
	if (sgl)
		*nents = n;
	else
		p2p_sgl_put(pdev);
	return sgl;
}
EXPORT_SYMBOL_GPL(pci_p2pmem_alloc_sgl);

/**
 * pci_p2pmem_free_sgl - free a scatterlist from pci_p2pmem_alloc_sgl()
 * @pdev: provider the memory was allocated from
 * @sgl: the list; NULL is ignored
 *
 * Context: any context.
 *
 * Return: nothing.
 */
void pci_p2pmem_free_sgl(struct pci_dev *pdev, struct scatterlist *sgl)
{
	struct scatterlist *sg;

	if (!sgl)
		return;
	for (sg = sgl; sg; sg = sg_next(sg))
		pci_free_p2pmem(pdev, sg_virt(sg), sg->length);
	kfree(sgl);
	p2p_sgl_put(pdev);
}
EXPORT_SYMBOL_GPL(pci_p2pmem_free_sgl);

/* ---------------------------------------------------------------------
 * DMA mapping glue
 */

/* Map type of @dev against @r; may run in atomic context. */
static enum pci_p2pdma_map_type p2p_map_type(struct p2p_range *r,
					     struct device *dev)
{
	struct pci_dev *client = p2p_client_pci(dev);
	struct p2p_verdict v;

	if (!client)
		return PCI_P2PDMA_MAP_NOT_SUPPORTED;
	p2p_verdict_cached(r->p2p, client, &v, true);
	return v.map;
}

/*
 * The peer reaches the memory at its PCI bus address, which the IOMMU (if
 * any) never sees: the segment is mapped once this is filled in, and the
 * mark tells unmapping to leave it alone.
 */
static void p2p_sg_set_bus_addr(struct scatterlist *sg, u64 bus_off)
{
	phys_addr_t phys = page_to_phys(sg_page(sg)) + sg->offset;

	sg_dma_mark_bus_address(sg);
	sg_dma_len(sg) = sg->length;
	sg->dma_address = phys + bus_off;
}

/**
 * pci_p2pdma_map_segment - prepare a P2PDMA segment for the DMA API
 * @state: per-call state, zero-initialised by the caller before the first
 *	segment; remembers the last page map seen
 * @dev: device that will perform the DMA
 * @sg: segment whose page is a P2PDMA page (is_pci_p2pdma_page())
 *
 * For PCI_P2PDMA_MAP_BUS_ADDR the segment is fully mapped here: its DMA
 * address is the PCI bus address of the memory and it is marked with
 * sg_dma_mark_bus_address() so that unmapping skips it.  For
 * PCI_P2PDMA_MAP_THRU_HOST_BRIDGE the caller maps it like host memory;
 * for PCI_P2PDMA_MAP_NOT_SUPPORTED the caller must fail with -EREMOTEIO.
 *
 * Context: any context; does not sleep.
 *
 * Return: the map type, never PCI_P2PDMA_MAP_UNKNOWN.
 */
enum pci_p2pdma_map_type
pci_p2pdma_map_segment(struct pci_p2pdma_map_state *state, struct device *dev,
		       struct scatterlist *sg)
{
	struct dev_pagemap *pgmap = sg_page(sg)->pgmap;

	if (state->pgmap != pgmap) {
		struct p2p_range *r = p2p_pgmap_to_range(pgmap);

		state->pgmap = pgmap;
		state->map = p2p_map_type(r, dev);
		state->bus_off = r->bus_off;
	}

	if (state->map == PCI_P2PDMA_MAP_BUS_ADDR)
		p2p_sg_set_bus_addr(sg, state->bus_off);
	return state->map;
}
EXPORT_SYMBOL_GPL(pci_p2pdma_map_segment);

/* ---------------------------------------------------------------------
 * Helpers for configfs/sysfs "use p2p memory" attributes (nvmet)
 */

/*
 * The boolean words of a "use p2p memory" attribute, false ones at even
 * indexes.  Unlike kstrtobool(), which only looks at the first letters,
 * the whole word must match: "nvme0" or "10" are typos of a device name,
 * not booleans.
 */
static const char *const p2p_bool_words[] = {
	"0", "1", "n", "y", "no", "yes", "f", "t", "off", "on", "false", "true",
};

/* Parse a whole boolean word, in any case, with an optional newline. */
static int p2p_parse_bool(const char *page, bool *val)
{
	size_t len = strcspn(page, "\n");
	unsigned int i;

	if (page[len] && page[len + 1])
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(p2p_bool_words); i++) {
		if (strlen(p2p_bool_words[i]) == len &&
		    !strncasecmp(page, p2p_bool_words[i], len)) {
			*val = i & 1;
			return 0;
		}
	}
	return -EINVAL;
}

/**
 * pci_p2pdma_enable_store - parse a "use p2p memory" attribute
 * @page: the string written: a boolean word (0, 1, n, y, no, yes, f, t,
 *	off, on, false or true, in any case), or the name of a PCI device
 *	("0000:01:00.0") whose published p2p memory must be used; one
 *	trailing newline is ignored
 * @p2p_dev: set to the named device, with a reference the caller must
 *	drop with pci_dev_put(), or to NULL for a boolean
 * @use_p2pdma: set to whether p2p memory should be used
 *
 * A true boolean means "use p2p memory, any provider will do".  The show
 * side is pci_p2pdma_enable_show().
 *
 * Context: process context.
 *
 * Return: 0 on success, or -ENODEV (and a log line) if @page names no PCI
 * device and is not a boolean, or names a device without published p2p
 * memory.  Nothing is set and no reference is held on failure.
 */
int pci_p2pdma_enable_store(const char *page, struct pci_dev **p2p_dev,
			    bool *use_p2pdma)
{
	struct device *dev;
	bool enable;

	/* Look the name up first: kstrtobool() takes "0000:..." for "0". */
	dev = bus_find_device_by_name(&pci_bus_type, NULL, page);
	if (dev) {
		if (!pci_has_p2pmem(to_pci_dev(dev))) {
			pci_err(to_pci_dev(dev), "has no published peer-to-peer memory\n");
			put_device(dev);
			return -ENODEV;
		}
		*p2p_dev = to_pci_dev(dev);
		*use_p2pdma = true;
		return 0;
	}

	if (p2p_parse_bool(page, &enable)) {
		pr_err("%.*s is neither a boolean nor a PCI device\n",
		       (int)strcspn(page, "\n"), page);
		return -ENODEV;
	}
	*p2p_dev = NULL;
	*use_p2pdma = enable;
	return 0;
}
EXPORT_SYMBOL_GPL(pci_p2pdma_enable_store);

/**
 * pci_p2pdma_enable_show - show a "use p2p memory" attribute
 * @page: buffer of at least PAGE_SIZE bytes to write to, with any alignment
 * @p2p_dev: device chosen with pci_p2pdma_enable_store(), or NULL
 * @use_p2pdma: whether p2p memory is to be used
 *
 * Context: process context.
 *
 * Return: number of bytes written: "0" if p2p memory is not used, the
 * device name if one was chosen, "1" otherwise, each with a newline.
 */
ssize_t pci_p2pdma_enable_show(char *page, struct pci_dev *p2p_dev,
			       bool use_p2pdma)
{
	/* Not sysfs_emit(): callers may pass buffers that are not pages. */
	if (!use_p2pdma)
		return scnprintf(page, PAGE_SIZE, "0\n");
	if (!p2p_dev)
		return scnprintf(page, PAGE_SIZE, "1\n");
	return scnprintf(page, PAGE_SIZE, "%s\n", pci_name(p2p_dev));
}
EXPORT_SYMBOL_GPL(pci_p2pdma_enable_show);

/* ---------------------------------------------------------------------
 * debugfs: /sys/kernel/debug/p2pdma/{providers,paths,refused}
 */

/*
 * The cache mode each range was granted, in order ("wc,uc"), then the
 * bytes cleared for user space so far.
 */
static void p2p_dbg_show_ranges(struct seq_file *m, struct pci_p2pdma *p2p)
{
	unsigned long zeroed = 0;
	const char *sep = "";
	struct p2p_range *r;

	list_for_each_entry_rcu(r, &p2p->ranges, node,
				lockdep_is_held(&p2p_mutex)) {
		seq_printf(m, "%s%s", sep, r->wc ? "wc" : "uc");
		zeroed += atomic_long_read(&r->nr_zeroed);
		sep = ",";
	}
	seq_printf(m, "%s %llu\n", *sep ? "" : "-", (u64)zeroed << PAGE_SHIFT);
}

static int p2p_dbg_providers_show(struct seq_file *m, void *unused)
{
	struct pci_p2pdma *p2p;
	struct pci_dev *pdev;

	seq_puts(m, "# provider size available published cache-modes zeroed\n");
	mutex_lock(&p2p_mutex);
	list_for_each_entry(p2p, &p2p_providers, node) {
		pdev = p2p->pdev;
		seq_printf(m, "%s %llu %llu %d ", pci_name(pdev),
			   p2p_sum_bytes(pdev, false), p2p_sum_bytes(pdev, true),
			   READ_ONCE(p2p->published));
		p2p_dbg_show_ranges(m, p2p);
	}
	mutex_unlock(&p2p_mutex);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(p2p_dbg_providers);

static int p2p_dbg_refused_show(struct seq_file *m, void *unused)
{
	unsigned long key;
	char name[16];
	char *why;

	seq_puts(m, "# device reason\n");
	xa_lock(&p2p_refusals);
	xa_for_each(&p2p_refusals, key, why) {
		p2p_key_name(key, name, sizeof(name));
		seq_printf(m, "%s %s\n", name, why);
	}
	xa_unlock(&p2p_refusals);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(p2p_dbg_refused);

static void p2p_dbg_show_path(struct seq_file *m, struct pci_p2pdma *p2p,
			      struct pci_dev *client)
{
	struct p2p_verdict v;
	char buf[128];
	int dist;

	p2p_verdict_cached(p2p, client, &v, false);
	dist = v.map == PCI_P2PDMA_MAP_NOT_SUPPORTED ? -1 : v.hops;
	seq_printf(m, "%s %s %s %d %s\n", pci_name(p2p->pdev), pci_name(client),
		   p2p_map_names[v.map], dist,
		   p2p_reason_text(&v, buf, sizeof(buf)));
}

static int p2p_dbg_paths_show(struct seq_file *m, void *unused)
{
	struct pci_dev *client = NULL;
	struct pci_p2pdma *p2p;

	seq_puts(m, "# provider client map-type distance reason\n");
	mutex_lock(&p2p_mutex);
	list_for_each_entry(p2p, &p2p_providers, node)
		for_each_pci_dev(client)
			p2p_dbg_show_path(m, p2p, client);
	mutex_unlock(&p2p_mutex);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(p2p_dbg_paths);

/**
 * p2pdma_forget_verdicts - drop every cached verdict of every provider
 *
 * For an administrator who changed ACS (setpci) or anything else the
 * verdicts depend on at run time, through the debugfs invalidate file,
 * and for the KUnit tests.
 *
 * Context: process context; takes a mutex.
 *
 * Return: nothing.
 */
VISIBLE_IF_KUNIT void p2pdma_forget_verdicts(void)
{
	struct pci_p2pdma *p2p;

	mutex_lock(&p2p_mutex);
	list_for_each_entry(p2p, &p2p_providers, node)
		xa_destroy(&p2p->map_cache);
	mutex_unlock(&p2p_mutex);
}
EXPORT_SYMBOL_IF_KUNIT(p2pdma_forget_verdicts);

/* Any write drops every cached verdict. */
static ssize_t p2p_dbg_invalidate_write(struct file *file,
					const char __user *buf, size_t count,
					loff_t *ppos)
{
	p2pdma_forget_verdicts();
	return count;
}

static const struct file_operations p2p_dbg_invalidate_fops = {
	.owner = THIS_MODULE,
	.write = p2p_dbg_invalidate_write,
	.llseek = noop_llseek,
};

/**
 * p2pdma_debugfs_create - create the "p2pdma" debugfs directory and files
 * @parent: directory to create it in, or NULL for the debugfs root
 *
 * Done once at boot, in the root.  The KUnit tests make more copies below
 * a directory of their own, to check that a failure to create any part of
 * it is harmless.  By debugfs convention nothing is reported: the files
 * are simply missing, and creating one in a directory that could not be
 * created does nothing.
 *
 * Context: process context.
 *
 * Return: the directory, or an error pointer; debugfs_remove() of it
 * removes everything this created.
 */
VISIBLE_IF_KUNIT struct dentry *p2pdma_debugfs_create(struct dentry *parent)
{
	struct dentry *dir = debugfs_create_dir("p2pdma", parent);

	debugfs_create_file("providers", 0400, dir, NULL, &p2p_dbg_providers_fops);
	debugfs_create_file("paths", 0400, dir, NULL, &p2p_dbg_paths_fops);
	debugfs_create_file("refused", 0400, dir, NULL, &p2p_dbg_refused_fops);
	debugfs_create_file("invalidate", 0200, dir, NULL, &p2p_dbg_invalidate_fops);
	return dir;
}
EXPORT_SYMBOL_IF_KUNIT(p2pdma_debugfs_create);

static int __init p2p_init(void)
{
	p2pdma_debugfs_create(NULL);
	return bus_register_notifier(&pci_bus_type, &p2p_pci_nb);
}
late_initcall(p2p_init);
