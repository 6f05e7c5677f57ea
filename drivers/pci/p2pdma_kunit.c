// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the PCI peer-to-peer DMA (P2PDMA) core
 *
 * These tests use the machine's real devices rather than fake ones.  Load
 * the module after the nvme driver has probed QEMU's emulated NVMe
 * controllers (PCI ID 1b36:0010).  Usually one of them has a controller
 * memory buffer that the nvme driver registered and published as p2pmem:
 * that function is "the provider".  The "expect" parameter says what the
 * topology allows between two different NVMe functions:
 *
 *   bus     - they sit below a common PCIe switch: PCI_P2PDMA_MAP_BUS_ADDR
 *   host    - through the host bridge: PCI_P2PDMA_MAP_THRU_HOST_BRIDGE
 *   refused - no peer-to-peer DMA between them (distance < 0)
 *   none    - no NVMe function has p2pmem at all
 *
 * A case that needs a provider is skipped when there is none and expect is
 * "none", and fails when there is none otherwise.
 *
 * The core exports no free-memory counter, so the amount of p2pmem that is
 * available is measured by allocating everything that can be allocated
 * (1 MiB chunks, then single pages) and freeing it all again.  The nvme
 * driver keeps its submission queues in the buffer, so nothing else may
 * allocate from the provider while the tests run.
 */

#include <kunit/device.h>
#include <kunit/static_stub.h>
#include <kunit/test.h>

#include <linux/completion.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/device.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/kernfs.h>
#include <linux/kthread.h>
#include <linux/log2.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/panic.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/scatterlist.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "pci.h"

/* QEMU's emulated NVMe controller */
#define P2P_TEST_VENDOR		PCI_VENDOR_ID_REDHAT
#define P2P_TEST_DEVICE		0x0010
#define P2P_TEST_MAX_NVME	16

/* pci_alloc_p2pmem() aligns power-of-two chunks of up to this many pages */
#define P2P_TEST_ALIGNED_PAGES	64
/* Entries of a scatterlist built from fragmented memory are at most this */
#define P2P_TEST_SGL_CHUNK	SZ_256K

/* Stress run: alloc/free pairs per thread, allocations each keeps live */
#define P2P_STRESS_ITERS	2000
#define P2P_STRESS_LIVE		4

static char *expect;
module_param(expect, charp, 0444);
MODULE_PARM_DESC(expect,
		 "P2P DMA between two different NVMe functions: bus, host, refused or none");

enum p2p_expect {
	P2P_EXPECT_UNSET,
	P2P_EXPECT_INVALID,
	P2P_EXPECT_BUS,
	P2P_EXPECT_HOST,
	P2P_EXPECT_REFUSED,
	P2P_EXPECT_NONE,
};

static const char * const p2p_expect_names[] = {
	[P2P_EXPECT_BUS]	= "bus",
	[P2P_EXPECT_HOST]	= "host",
	[P2P_EXPECT_REFUSED]	= "refused",
	[P2P_EXPECT_NONE]	= "none",
};

/* What the suite found at start; the pci_devs are referenced. */
static struct {
	enum p2p_expect expect;
	struct pci_dev *nvme[P2P_TEST_MAX_NVME];
	unsigned int nr_nvme;
	struct pci_dev *provider;
} p2p_env;

/* ---------------------------------------------------------------------
 * Environment
 */

static enum p2p_expect p2p_parse_expect(const char *s)
{
	enum p2p_expect e;

	if (!s || !*s)
		return P2P_EXPECT_UNSET;
	for (e = P2P_EXPECT_BUS; e <= P2P_EXPECT_NONE; e++)
		if (sysfs_streq(s, p2p_expect_names[e]))
			return e;
	return P2P_EXPECT_INVALID;
}

static const char *p2p_expect_str(void)
{
	return expect ?: "(unset)";
}

static int p2p_suite_init(struct kunit_suite *suite)
{
	struct pci_dev *pdev = NULL;

	memset(&p2p_env, 0, sizeof(p2p_env));
	p2p_env.expect = p2p_parse_expect(expect);

	while ((pdev = pci_get_device(P2P_TEST_VENDOR, P2P_TEST_DEVICE, pdev))) {
		if (p2p_env.nr_nvme == ARRAY_SIZE(p2p_env.nvme)) {
			pci_dev_put(pdev);
			break;
		}
		p2p_env.nvme[p2p_env.nr_nvme++] = pci_dev_get(pdev);
		if (!p2p_env.provider && pci_has_p2pmem(pdev))
			p2p_env.provider = pdev;
	}
	return 0;
}

static void p2p_suite_exit(struct kunit_suite *suite)
{
	while (p2p_env.nr_nvme)
		pci_dev_put(p2p_env.nvme[--p2p_env.nr_nvme]);
	p2p_env.provider = NULL;
}

/* The provider; skips the case if expect=none, fails it otherwise. */
static struct pci_dev *p2p_need_provider(struct kunit *test)
{
	if (p2p_env.provider)
		return p2p_env.provider;
	if (p2p_env.expect == P2P_EXPECT_NONE)
		kunit_skip(test, "no NVMe function has p2pmem (expect=none)");
	KUNIT_FAIL_AND_ABORT(test, "no NVMe function has published p2pmem, expect=%s",
			     p2p_expect_str());
	return NULL;
}

/* The expected verdict between different NVMe functions, or skip. */
static enum p2p_expect p2p_need_expect(struct kunit *test)
{
	switch (p2p_env.expect) {
	case P2P_EXPECT_BUS:
	case P2P_EXPECT_HOST:
	case P2P_EXPECT_REFUSED:
		return p2p_env.expect;
	case P2P_EXPECT_NONE:
		kunit_skip(test, "expect=none says nothing about paths between functions");
		break;
	default:
		kunit_skip(test, "expect=%s: not bus, host, refused or none",
			   p2p_expect_str());
		break;
	}
	return P2P_EXPECT_INVALID;
}

static bool p2p_expect_reachable(enum p2p_expect e)
{
	return e == P2P_EXPECT_BUS || e == P2P_EXPECT_HOST;
}

/* The @n-th NVMe function other than the provider, or NULL. */
static struct pci_dev *p2p_nth_other(unsigned int n)
{
	unsigned int i;

	for (i = 0; i < p2p_env.nr_nvme; i++) {
		if (p2p_env.nvme[i] == p2p_env.provider)
			continue;
		if (!n--)
			return p2p_env.nvme[i];
	}
	return NULL;
}

/* An NVMe function without published p2pmem, or skip. */
static struct pci_dev *p2p_need_plain(struct kunit *test)
{
	unsigned int i;

	for (i = 0; i < p2p_env.nr_nvme; i++)
		if (!pci_has_p2pmem(p2p_env.nvme[i]))
			return p2p_env.nvme[i];
	kunit_skip(test, "every NVMe function has p2pmem");
	return NULL;
}

/* Any NVMe function, preferably the provider, or fail. */
static struct pci_dev *p2p_need_nvme(struct kunit *test)
{
	if (p2p_env.provider)
		return p2p_env.provider;
	KUNIT_ASSERT_GT_MSG(test, p2p_env.nr_nvme, 0, "no QEMU NVMe function found");
	return p2p_env.nvme[0];
}

/* A WARN*() taints the kernel; p2p_no_new_warn() checks that none came. */
static bool p2p_warned(void)
{
	return test_taint(TAINT_WARN);
}

static void p2p_no_new_warn(struct kunit *test, bool warned_before)
{
	if (warned_before)
		kunit_info(test, "the kernel had warned before: cannot tell if it warned again\n");
	else
		KUNIT_EXPECT_FALSE_MSG(test, p2p_warned(), "the kernel warned during the case");
}

/* ZONE_DEVICE ranges start and end on memory-hotplug subsections. */
static unsigned long p2p_hotplug_align(void)
{
	return max_t(unsigned long, memremap_compat_align(), SUBSECTION_SIZE);
}

/* Memory BAR of @pdev whose bus range holds [@bus, @bus + @size), or -1. */
static int p2p_bar_of(struct pci_dev *pdev, pci_bus_addr_t bus, u64 size)
{
	pci_bus_addr_t start;
	u64 len;
	int bar;

	for (bar = 0; bar < PCI_STD_NUM_BARS; bar++) {
		if (!(pci_resource_flags(pdev, bar) & IORESOURCE_MEM))
			continue;
		start = pci_bus_address(pdev, bar);
		len = pci_resource_len(pdev, bar);
		if (bus >= start && size <= len && bus - start <= len - size)
			return bar;
	}
	return -1;
}

/* Read a p2pmem sysfs attribute of @pdev as a number. */
static int p2p_sysfs_read(struct pci_dev *pdev, const char *attr, u64 *val)
{
	char path[96], buf[32] = {};
	struct file *file;
	loff_t pos = 0;
	ssize_t len;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/p2pmem/%s",
		 pci_name(pdev), attr);
	file = filp_open(path, O_RDONLY, 0);
	if (IS_ERR(file))
		return PTR_ERR(file);
	len = kernel_read(file, buf, sizeof(buf) - 1, &pos);
	filp_close(file, NULL);
	if (len < 0)
		return len;
	return kstrtou64(buf, 10, val);
}

/* ---------------------------------------------------------------------
 * Test-managed p2pmem: freed by KUnit if the case ends early
 */

struct p2p_buf {
	struct pci_dev *pdev;
	void *addr;
	size_t size;
};

static void p2p_buf_release(void *data)
{
	struct p2p_buf *b = data;

	pci_free_p2pmem(b->pdev, b->addr, b->size);
}

/* pci_alloc_p2pmem() that KUnit undoes; NULL if the allocation fails. */
static struct p2p_buf *p2p_buf_alloc(struct kunit *test, struct pci_dev *pdev,
				     size_t size)
{
	struct p2p_buf *b;

	b = kunit_kzalloc(test, sizeof(*b), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, b);
	b->pdev = pdev;
	b->size = size;
	b->addr = pci_alloc_p2pmem(pdev, size);
	if (!b->addr)
		return NULL;
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, p2p_buf_release, b), 0);
	return b;
}

static void p2p_buf_free(struct kunit *test, struct p2p_buf *b)
{
	kunit_release_action(test, p2p_buf_release, b);
}

struct p2p_sgl {
	struct pci_dev *pdev;
	struct scatterlist *sgl;
	unsigned int nents;
};

static void p2p_sgl_release(void *data)
{
	struct p2p_sgl *s = data;

	pci_p2pmem_free_sgl(s->pdev, s->sgl);
}

static struct p2p_sgl *p2p_sgl_alloc(struct kunit *test, struct pci_dev *pdev,
				     u32 length)
{
	struct p2p_sgl *s;

	s = kunit_kzalloc(test, sizeof(*s), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, s);
	s->pdev = pdev;
	s->sgl = pci_p2pmem_alloc_sgl(pdev, &s->nents, length);
	if (!s->sgl)
		return NULL;
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, p2p_sgl_release, s), 0);
	return s;
}

/*
 * A set of allocations that together hold (a part of) the provider's
 * memory.  Entries whose @addr is NULL have been given back already.
 */
struct p2p_chunk {
	void *addr;
	size_t size;
};

struct p2p_fill {
	struct pci_dev *pdev;
	struct p2p_chunk *chunk;
	unsigned int nr;
	unsigned int cap;
	u64 bytes;
};

static void p2p_fill_release(void *data)
{
	struct p2p_fill *f = data;

	while (f->nr--)
		pci_free_p2pmem(f->pdev, f->chunk[f->nr].addr, f->chunk[f->nr].size);
	kfree(f->chunk);
	f->chunk = NULL;
	f->nr = 0;
	f->cap = 0;
	f->bytes = 0;
}

static struct p2p_fill *p2p_fill_new(struct kunit *test, struct pci_dev *pdev)
{
	struct p2p_fill *f;

	f = kunit_kzalloc(test, sizeof(*f), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, f);
	f->pdev = pdev;
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, p2p_fill_release, f), 0);
	return f;
}

/* Allocate chunks of @size bytes until the provider has no more room. */
static void p2p_fill_with(struct kunit *test, struct p2p_fill *f, size_t size)
{
	struct p2p_chunk *chunk;
	void *addr;

	while ((addr = pci_alloc_p2pmem(f->pdev, size))) {
		if (f->nr == f->cap) {
			chunk = krealloc_array(f->chunk, f->cap ? 2 * f->cap : 64,
					       sizeof(*chunk), GFP_KERNEL);
			if (!chunk) {
				pci_free_p2pmem(f->pdev, addr, size);
				KUNIT_FAIL_AND_ABORT(test, "out of memory for the chunk list");
			}
			f->chunk = chunk;
			f->cap = f->cap ? 2 * f->cap : 64;
		}
		f->chunk[f->nr].addr = addr;
		f->chunk[f->nr].size = size;
		f->nr++;
		f->bytes += PAGE_ALIGN(size);
	}
}

/* Take everything the provider can hand out right now. */
static struct p2p_fill *p2p_fill_all(struct kunit *test, struct pci_dev *pdev)
{
	struct p2p_fill *f = p2p_fill_new(test, pdev);

	p2p_fill_with(test, f, SZ_1M);
	p2p_fill_with(test, f, PAGE_SIZE);
	return f;
}

static void p2p_fill_free(struct kunit *test, struct p2p_fill *f)
{
	kunit_release_action(test, p2p_fill_release, f);
}

/* Bytes of p2pmem that can be allocated from @pdev right now. */
static u64 p2p_available(struct kunit *test, struct pci_dev *pdev)
{
	struct p2p_fill *f = p2p_fill_all(test, pdev);
	u64 bytes = f->bytes;

	p2p_fill_free(test, f);
	return bytes;
}

/* Properties every allocation of @size bytes at @addr must have. */
static void p2p_check_buf(struct kunit *test, struct pci_dev *pdev, void *addr,
			  size_t size)
{
	unsigned long npages = DIV_ROUND_UP(size, PAGE_SIZE);
	pci_bus_addr_t bus = pci_p2pmem_virt_to_bus(pdev, addr);
	phys_addr_t phys;
	int bar;

	KUNIT_EXPECT_TRUE(test, PAGE_ALIGNED(addr));
	KUNIT_EXPECT_TRUE(test, is_pci_p2pdma_page(virt_to_page(addr)));
	KUNIT_EXPECT_TRUE(test, is_pci_p2pdma_page(virt_to_page(addr + size - 1)));
	KUNIT_ASSERT_NE_MSG(test, bus, 0, "no bus address for %p", addr);
	KUNIT_EXPECT_TRUE(test, IS_ALIGNED(bus, PAGE_SIZE));
	if (is_power_of_2(npages) && npages <= P2P_TEST_ALIGNED_PAGES)
		KUNIT_EXPECT_TRUE_MSG(test, IS_ALIGNED(bus, npages * PAGE_SIZE),
				      "%lu pages at bus address %#llx", npages, (u64)bus);
	KUNIT_EXPECT_EQ(test, pci_p2pmem_virt_to_bus(pdev, addr + size - 1),
			bus + size - 1);

	bar = p2p_bar_of(pdev, bus, npages * PAGE_SIZE);
	KUNIT_ASSERT_GE_MSG(test, bar, 0, "%lu pages at bus address %#llx are outside the BARs",
			    npages, (u64)bus);
	phys = page_to_phys(virt_to_page(addr));
	KUNIT_EXPECT_EQ(test, bus - pci_bus_address(pdev, bar),
			phys - pci_resource_start(pdev, bar));
}

/* ---------------------------------------------------------------------
 * The machine is what the module parameter says
 */

static void p2pdma_test_environment(struct kunit *test)
{
	unsigned int i;

	for (i = 0; i < p2p_env.nr_nvme; i++)
		kunit_info(test, "NVMe function %s%s\n", pci_name(p2p_env.nvme[i]),
			   pci_has_p2pmem(p2p_env.nvme[i]) ? ": has p2pmem" : "");

	KUNIT_ASSERT_GT_MSG(test, p2p_env.nr_nvme, 0, "no QEMU NVMe function found");
	KUNIT_ASSERT_NE_MSG(test, p2p_env.expect, P2P_EXPECT_UNSET,
			    "the module parameter expect= is not set");
	KUNIT_ASSERT_NE_MSG(test, p2p_env.expect, P2P_EXPECT_INVALID,
			    "expect=%s: not bus, host, refused or none", expect);
	if (p2p_env.expect == P2P_EXPECT_NONE) {
		KUNIT_EXPECT_NULL_MSG(test, p2p_env.provider,
				      "expect=none, but %s has p2pmem",
				      pci_name(p2p_env.provider));
		return;
	}
	KUNIT_EXPECT_NOT_NULL_MSG(test, p2p_env.provider,
				  "expect=%s, but no NVMe function has published p2pmem",
				  expect);
	KUNIT_EXPECT_GE_MSG(test, p2p_env.nr_nvme, 2,
			    "expect=%s needs two NVMe functions", expect);
}

/* ---------------------------------------------------------------------
 * pci_p2pdma_add_resource(): bad arguments fail and change nothing
 */

enum p2p_target {
	P2P_ON_PROVIDER,	/* the provider, which has registered memory */
	P2P_ON_PLAIN,		/* an NVMe function without p2pmem */
};

enum p2p_bar_sel {
	P2P_BAR_INDEX,		/* the index in the table */
	P2P_BAR_MEM,		/* the provider's p2pmem BAR, else BAR 0 */
	P2P_BAR_EMPTY,		/* a BAR that has no resource */
};

enum p2p_arg {
	P2P_ARG_ZERO,
	P2P_ARG_ALIGN,		/* the hotplug alignment (2 MiB on x86-64) */
	P2P_ARG_HALF_ALIGN,	/* half of it */
	P2P_ARG_BAR_LEN,	/* length of the BAR */
	P2P_ARG_BAR_LEN_ALIGN,	/* length of the BAR plus the alignment */
	P2P_ARG_NEAR_U64_MAX,	/* U64_MAX - 0x1000 */
	P2P_ARG_SIZE_MAX,
	P2P_ARG_IN_USE,		/* aligned offset of a live allocation */
};

struct p2p_add_case {
	const char *desc;
	enum p2p_target target;
	enum p2p_bar_sel bar_sel;
	int bar;
	enum p2p_arg size;
	enum p2p_arg offset;
	int err;
};

static const struct p2p_add_case p2p_add_cases[] = {
	{ "BAR 6", P2P_ON_PROVIDER, P2P_BAR_INDEX, 6,
	  P2P_ARG_ALIGN, P2P_ARG_ZERO, -EINVAL },
	{ "BAR -1", P2P_ON_PROVIDER, P2P_BAR_INDEX, -1,
	  P2P_ARG_ALIGN, P2P_ARG_ZERO, -EINVAL },
	{ "BAR INT_MAX", P2P_ON_PROVIDER, P2P_BAR_INDEX, INT_MAX,
	  P2P_ARG_ALIGN, P2P_ARG_ZERO, -EINVAL },
	{ "BAR without a resource", P2P_ON_PROVIDER, P2P_BAR_EMPTY, 0,
	  P2P_ARG_ALIGN, P2P_ARG_ZERO, -EINVAL },
	{ "BAR without a resource, size 0", P2P_ON_PROVIDER, P2P_BAR_EMPTY, 0,
	  P2P_ARG_ZERO, P2P_ARG_ZERO, -EINVAL },
	{ "size larger than the BAR", P2P_ON_PROVIDER, P2P_BAR_MEM, 0,
	  P2P_ARG_BAR_LEN_ALIGN, P2P_ARG_ZERO, -EINVAL },
	{ "size SIZE_MAX", P2P_ON_PROVIDER, P2P_BAR_MEM, 0,
	  P2P_ARG_SIZE_MAX, P2P_ARG_ZERO, -EINVAL },
	{ "offset at the end of the BAR", P2P_ON_PROVIDER, P2P_BAR_MEM, 0,
	  P2P_ARG_ALIGN, P2P_ARG_BAR_LEN, -EINVAL },
	{ "offset past the BAR, size 0", P2P_ON_PROVIDER, P2P_BAR_MEM, 0,
	  P2P_ARG_ZERO, P2P_ARG_BAR_LEN_ALIGN, -EINVAL },
	{ "offset + size overflows", P2P_ON_PROVIDER, P2P_BAR_MEM, 0,
	  P2P_ARG_ALIGN, P2P_ARG_NEAR_U64_MAX, -EINVAL },
	{ "offset near U64_MAX, size 0", P2P_ON_PROVIDER, P2P_BAR_MEM, 0,
	  P2P_ARG_ZERO, P2P_ARG_NEAR_U64_MAX, -EINVAL },
	{ "size not hotplug aligned", P2P_ON_PROVIDER, P2P_BAR_MEM, 0,
	  P2P_ARG_HALF_ALIGN, P2P_ARG_IN_USE, -EINVAL },
	{ "offset not hotplug aligned", P2P_ON_PROVIDER, P2P_BAR_MEM, 0,
	  P2P_ARG_ALIGN, P2P_ARG_HALF_ALIGN, -EINVAL },
	{ "overlaps the registered range", P2P_ON_PROVIDER, P2P_BAR_MEM, 0,
	  P2P_ARG_ALIGN, P2P_ARG_IN_USE, -EBUSY },
	{ "rest of the BAR from the registered range", P2P_ON_PROVIDER, P2P_BAR_MEM, 0,
	  P2P_ARG_ZERO, P2P_ARG_IN_USE, -EBUSY },
	{ "no p2pmem: BAR 6", P2P_ON_PLAIN, P2P_BAR_INDEX, 6,
	  P2P_ARG_ALIGN, P2P_ARG_ZERO, -EINVAL },
	{ "no p2pmem: BAR -1", P2P_ON_PLAIN, P2P_BAR_INDEX, -1,
	  P2P_ARG_ALIGN, P2P_ARG_ZERO, -EINVAL },
	{ "no p2pmem: BAR without a resource", P2P_ON_PLAIN, P2P_BAR_EMPTY, 0,
	  P2P_ARG_ALIGN, P2P_ARG_ZERO, -EINVAL },
	{ "no p2pmem: size larger than BAR 0", P2P_ON_PLAIN, P2P_BAR_MEM, 0,
	  P2P_ARG_BAR_LEN_ALIGN, P2P_ARG_ZERO, -EINVAL },
	{ "no p2pmem: offset at the end of BAR 0", P2P_ON_PLAIN, P2P_BAR_MEM, 0,
	  P2P_ARG_ALIGN, P2P_ARG_BAR_LEN, -EINVAL },
	{ "no p2pmem: offset + size overflows", P2P_ON_PLAIN, P2P_BAR_MEM, 0,
	  P2P_ARG_ALIGN, P2P_ARG_NEAR_U64_MAX, -EINVAL },
	{ "no p2pmem: size not hotplug aligned", P2P_ON_PLAIN, P2P_BAR_MEM, 0,
	  P2P_ARG_HALF_ALIGN, P2P_ARG_ZERO, -EINVAL },
};

KUNIT_ARRAY_PARAM_DESC(p2p_add, p2p_add_cases, desc);

struct p2p_add_ctx {
	struct pci_dev *pdev;
	int mem_bar;
	u64 len;
	u64 in_use;
	unsigned long align;
};

static u64 p2p_arg_value(const struct p2p_add_ctx *c, enum p2p_arg arg)
{
	switch (arg) {
	case P2P_ARG_ZERO:
		return 0;
	case P2P_ARG_ALIGN:
		return c->align;
	case P2P_ARG_HALF_ALIGN:
		return c->align / 2;
	case P2P_ARG_BAR_LEN:
		return c->len;
	case P2P_ARG_BAR_LEN_ALIGN:
		return c->len + c->align;
	case P2P_ARG_NEAR_U64_MAX:
		return U64_MAX - 0x1000;
	case P2P_ARG_SIZE_MAX:
		return SIZE_MAX;
	case P2P_ARG_IN_USE:
		return c->in_use;
	}
	return 0;
}

/* A standard BAR slot of @pdev with no resource behind it, or -1. */
static int p2p_empty_bar(struct pci_dev *pdev)
{
	int bar;

	for (bar = 0; bar < PCI_STD_NUM_BARS; bar++)
		if (!pci_resource_len(pdev, bar))
			return bar;
	return -1;
}

/* Find the provider's p2pmem BAR through a live allocation, kept. */
static void p2p_add_ctx_provider(struct kunit *test, struct p2p_add_ctx *c)
{
	pci_bus_addr_t bus;
	struct p2p_buf *b;

	c->pdev = p2p_need_provider(test);
	b = p2p_buf_alloc(test, c->pdev, PAGE_SIZE);
	KUNIT_ASSERT_NOT_NULL_MSG(test, b, "the provider has no free page");
	bus = pci_p2pmem_virt_to_bus(c->pdev, b->addr);
	c->mem_bar = p2p_bar_of(c->pdev, bus, PAGE_SIZE);
	KUNIT_ASSERT_GE(test, c->mem_bar, 0);
	c->in_use = ALIGN_DOWN(bus - pci_bus_address(c->pdev, c->mem_bar), c->align);
}

/* An overlap must be rejected as such, not for some other reason. */
static void p2p_add_check_valid(struct kunit *test, const struct p2p_add_ctx *c,
				u64 size, u64 offset)
{
	u64 start = pci_resource_start(c->pdev, c->mem_bar) + offset;

	if (!size && offset < c->len)
		size = c->len - offset;
	if (offset >= c->len || !size || size > c->len - offset ||
	    !IS_ALIGNED(start | size, c->align))
		kunit_skip(test, "%#llx bytes at %#llx in BAR %d are not a valid range",
			   size, offset, c->mem_bar);
}

static void p2pdma_test_add_resource_rejects(struct kunit *test)
{
	const struct p2p_add_case *p = test->param_value;
	struct p2p_add_ctx c = { .align = p2p_hotplug_align() };
	u64 size, offset, avail = 0, sysfs_size = 0, val;
	bool warned = p2p_warned();
	bool sysfs_ok = false;
	int bar, ret;

	if (p->target == P2P_ON_PROVIDER)
		p2p_add_ctx_provider(test, &c);
	else
		c.pdev = p2p_need_plain(test);
	c.len = pci_resource_len(c.pdev, c.mem_bar);

	switch (p->bar_sel) {
	case P2P_BAR_INDEX:
		bar = p->bar;
		break;
	case P2P_BAR_EMPTY:
		bar = p2p_empty_bar(c.pdev);
		if (bar < 0)
			kunit_skip(test, "%s uses all its BARs", pci_name(c.pdev));
		break;
	default:
		bar = c.mem_bar;
		break;
	}
	size = p2p_arg_value(&c, p->size);
	offset = p2p_arg_value(&c, p->offset);
	if (p->err == -EBUSY)
		p2p_add_check_valid(test, &c, size, offset);

	if (p->target == P2P_ON_PROVIDER) {
		avail = p2p_available(test, c.pdev);
		sysfs_ok = !p2p_sysfs_read(c.pdev, "size", &sysfs_size);
	}

	ret = pci_p2pdma_add_resource(c.pdev, bar, size, offset);
	KUNIT_EXPECT_EQ_MSG(test, ret, p->err, "%s: BAR %d, size %#llx, offset %#llx",
			    pci_name(c.pdev), bar, size, offset);

	if (p->target == P2P_ON_PROVIDER) {
		KUNIT_EXPECT_TRUE(test, pci_has_p2pmem(c.pdev));
		KUNIT_EXPECT_EQ(test, p2p_available(test, c.pdev), avail);
		if (sysfs_ok) {
			KUNIT_EXPECT_EQ(test, p2p_sysfs_read(c.pdev, "size", &val), 0);
			KUNIT_EXPECT_EQ(test, val, sysfs_size);
		}
	} else {
		KUNIT_EXPECT_FALSE(test, pci_has_p2pmem(c.pdev));
		KUNIT_EXPECT_NULL(test, p2p_buf_alloc(test, c.pdev, PAGE_SIZE));
	}
	p2p_no_new_warn(test, warned);
}

/* ---------------------------------------------------------------------
 * pci_p2pdma_enable_store() and pci_p2pdma_enable_show()
 */

enum p2p_name {
	P2P_NAME_TEXT,		/* the string in the table */
	P2P_NAME_PROVIDER,	/* pci_name() of the provider */
	P2P_NAME_PROVIDER_NL,	/* the same with a newline */
	P2P_NAME_PLAIN,		/* pci_name() of an NVMe without p2pmem */
};

struct p2p_enable_case {
	const char *desc;
	enum p2p_name name;
	const char *text;
	int err;
	bool use;
	const char *show;	/* NULL: the provider's name and a newline */
};

static const struct p2p_enable_case p2p_enable_cases[] = {
	{ "0", P2P_NAME_TEXT, "0", 0, false, "0\n" },
	{ "1", P2P_NAME_TEXT, "1", 0, true, "1\n" },
	{ "y", P2P_NAME_TEXT, "y", 0, true, "1\n" },
	{ "n", P2P_NAME_TEXT, "n", 0, false, "0\n" },
	{ "yes", P2P_NAME_TEXT, "yes", 0, true, "1\n" },
	{ "no", P2P_NAME_TEXT, "no", 0, false, "0\n" },
	{ "on", P2P_NAME_TEXT, "on", 0, true, "1\n" },
	{ "off", P2P_NAME_TEXT, "off", 0, false, "0\n" },
	{ "true", P2P_NAME_TEXT, "true", 0, true, "1\n" },
	{ "false", P2P_NAME_TEXT, "false", 0, false, "0\n" },
	{ "t", P2P_NAME_TEXT, "t", 0, true, "1\n" },
	{ "f", P2P_NAME_TEXT, "f", 0, false, "0\n" },
	{ "ON in capitals", P2P_NAME_TEXT, "ON", 0, true, "1\n" },
	{ "False, capitalised", P2P_NAME_TEXT, "False", 0, false, "0\n" },
	{ "Y and newline", P2P_NAME_TEXT, "Y\n", 0, true, "1\n" },
	{ "0 and newline", P2P_NAME_TEXT, "0\n", 0, false, "0\n" },
	{ "provider name", P2P_NAME_PROVIDER, NULL, 0, true, NULL },
	{ "provider name and newline", P2P_NAME_PROVIDER_NL, NULL, 0, true, NULL },
	{ "absent device 0000:7f:1f.7", P2P_NAME_TEXT, "0000:7f:1f.7", -ENODEV },
	{ "name of an NVMe without p2pmem", P2P_NAME_PLAIN, NULL, -ENODEV },
	{ "bogus", P2P_NAME_TEXT, "bogus", -ENODEV },
	{ "empty string", P2P_NAME_TEXT, "", -ENODEV },
	{ "newline only", P2P_NAME_TEXT, "\n", -ENODEV },
	/* kstrtobool() would read the first letters of these as booleans */
	{ "device", P2P_NAME_TEXT, "device", -ENODEV },
	{ "nvme0", P2P_NAME_TEXT, "nvme0", -ENODEV },
	{ "10", P2P_NAME_TEXT, "10", -ENODEV },
	{ "enable-later", P2P_NAME_TEXT, "enable-later", -ENODEV },
	{ "yes-please", P2P_NAME_TEXT, "yes-please", -ENODEV },
	{ "offline", P2P_NAME_TEXT, "offline", -ENODEV },
	{ "two newlines", P2P_NAME_TEXT, "1\n\n", -ENODEV },
};

KUNIT_ARRAY_PARAM_DESC(p2p_enable, p2p_enable_cases, desc);

static void p2p_free_page(void *page)
{
	free_page((unsigned long)page);
}

/* The page-sized, page-aligned buffer that sysfs_emit() insists on. */
static char *p2p_show_page(struct kunit *test)
{
	char *page = (char *)__get_free_page(GFP_KERNEL | __GFP_ZERO);

	KUNIT_ASSERT_NOT_NULL(test, page);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, p2p_free_page, page), 0);
	return page;
}

KUNIT_DEFINE_ACTION_WRAPPER(p2p_dev_put, pci_dev_put, struct pci_dev *);

static unsigned int p2p_dev_refs(struct pci_dev *pdev)
{
	return kref_read(&pdev->dev.kobj.kref);
}

static void p2p_check_show(struct kunit *test, struct pci_dev *p2p_dev, bool use,
			   const char *want)
{
	char *page = p2p_show_page(test);
	ssize_t len;

	len = pci_p2pdma_enable_show(page, p2p_dev, use);
	KUNIT_EXPECT_STREQ(test, page, want);
	KUNIT_EXPECT_EQ(test, len, strlen(want));
}

static void p2pdma_test_enable_store(struct kunit *test)
{
	const struct p2p_enable_case *p = test->param_value;
	struct pci_dev *unset = ERR_PTR(-ESRCH), *named = NULL, *p2p_dev;
	char text[64], want[64];
	unsigned int refs = 0;
	struct device *dev;
	bool use, init;
	int ret, err, i;

	switch (p->name) {
	case P2P_NAME_PROVIDER:
	case P2P_NAME_PROVIDER_NL:
		named = p2p_need_provider(test);
		snprintf(text, sizeof(text), "%s%s", pci_name(named),
			 p->name == P2P_NAME_PROVIDER_NL ? "\n" : "");
		break;
	case P2P_NAME_PLAIN:
		named = p2p_need_plain(test);
		strscpy(text, pci_name(named), sizeof(text));
		break;
	default:
		strscpy(text, p->text, sizeof(text));
		dev = bus_find_device_by_name(&pci_bus_type, NULL, text);
		if (dev) {
			put_device(dev);
			kunit_skip(test, "there is a PCI device named %s", text);
		}
		break;
	}

	/* Once with each starting value of the flag: both must be written. */
	for (i = 0; i < 2; i++) {
		init = i;
		use = init;
		p2p_dev = unset;
		if (named)
			refs = p2p_dev_refs(named);

		ret = pci_p2pdma_enable_store(text, &p2p_dev, &use);
		if (!ret && !IS_ERR_OR_NULL(p2p_dev)) {
			err = kunit_add_action_or_reset(test, p2p_dev_put, p2p_dev);
			KUNIT_ASSERT_EQ(test, err, 0);
		}
		KUNIT_ASSERT_EQ_MSG(test, ret, p->err, "store(\"%s\")", text);
		if (ret) {
			KUNIT_EXPECT_PTR_EQ(test, p2p_dev, unset);
			KUNIT_EXPECT_EQ(test, use, init);
			if (named)
				KUNIT_EXPECT_EQ(test, p2p_dev_refs(named), refs);
			continue;
		}

		KUNIT_EXPECT_EQ(test, use, p->use);
		KUNIT_EXPECT_PTR_EQ(test, p2p_dev, named);
		if (!named) {
			p2p_check_show(test, NULL, use, p->show);
			continue;
		}
		if (p2p_dev != named)
			continue;
		KUNIT_EXPECT_EQ_MSG(test, p2p_dev_refs(named), refs + 1,
				    "no reference held on %s", pci_name(named));
		snprintf(want, sizeof(want), "%s\n", pci_name(named));
		p2p_check_show(test, p2p_dev, use, want);
		kunit_release_action(test, p2p_dev_put, p2p_dev);
		KUNIT_EXPECT_EQ(test, p2p_dev_refs(named), refs);
	}
}

static void p2pdma_test_enable_show(struct kunit *test)
{
	struct pci_dev *pdev = p2p_need_nvme(test);
	char want[64];

	snprintf(want, sizeof(want), "%s\n", pci_name(pdev));
	p2p_check_show(test, NULL, false, "0\n");
	p2p_check_show(test, NULL, true, "1\n");
	p2p_check_show(test, pdev, false, "0\n");
	p2p_check_show(test, pdev, true, want);
}

/*
 * Callers may show into their own buffers, which need not be pages: the
 * result is the same, and nothing is logged (the harness fails any WARN).
 */
static void p2pdma_test_enable_show_any_buffer(struct kunit *test)
{
	struct pci_dev *pdev = p2p_need_nvme(test);
	char want[64], *buf;
	ssize_t len;

	buf = kunit_kzalloc(test, PAGE_SIZE + 1, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	snprintf(want, sizeof(want), "%s\n", pci_name(pdev));
	len = pci_p2pdma_enable_show(buf + 1, pdev, true);
	KUNIT_EXPECT_STREQ(test, buf + 1, want);
	KUNIT_EXPECT_EQ(test, len, strlen(want));
	len = pci_p2pdma_enable_show(buf + 1, NULL, false);
	KUNIT_EXPECT_STREQ(test, buf + 1, "0\n");
	KUNIT_EXPECT_EQ(test, len, 2);
}

/* ---------------------------------------------------------------------
 * Allocator
 */

static void p2pdma_test_alloc_zero(struct kunit *test)
{
	struct pci_dev *pdev = p2p_need_provider(test);
	u64 avail = p2p_available(test, pdev);
	unsigned int nents = 12345;

	KUNIT_EXPECT_NULL(test, p2p_buf_alloc(test, pdev, 0));
	KUNIT_EXPECT_NULL(test, p2p_sgl_alloc(test, pdev, 0));
	KUNIT_EXPECT_NULL(test, pci_p2pmem_alloc_sgl(pdev, &nents, 0));
	KUNIT_EXPECT_EQ(test, nents, 12345);
	/* Both frees ignore NULL */
	pci_free_p2pmem(pdev, NULL, PAGE_SIZE);
	pci_p2pmem_free_sgl(pdev, NULL);
	KUNIT_EXPECT_EQ(test, p2p_available(test, pdev), avail);
}

enum p2p_big {
	P2P_BIG_AVAIL_PLUS_PAGE,
	P2P_BIG_TWICE_AVAIL,
	P2P_BIG_HALF_MAX,
	P2P_BIG_SIZE_MAX,
};

struct p2p_big_case {
	const char *desc;
	enum p2p_big kind;
};

static const struct p2p_big_case p2p_big_cases[] = {
	{ "available + 1 page", P2P_BIG_AVAIL_PLUS_PAGE },
	{ "twice available", P2P_BIG_TWICE_AVAIL },
	{ "SIZE_MAX / 2", P2P_BIG_HALF_MAX },
	{ "SIZE_MAX", P2P_BIG_SIZE_MAX },
};

KUNIT_ARRAY_PARAM_DESC(p2p_big, p2p_big_cases, desc);

static void p2pdma_test_alloc_too_big(struct kunit *test)
{
	const struct p2p_big_case *p = test->param_value;
	struct pci_dev *pdev = p2p_need_provider(test);
	u64 avail = p2p_available(test, pdev);
	bool warned = p2p_warned();
	size_t size;

	switch (p->kind) {
	case P2P_BIG_AVAIL_PLUS_PAGE:
		size = avail + PAGE_SIZE;
		break;
	case P2P_BIG_TWICE_AVAIL:
		size = 2 * avail + PAGE_SIZE;
		break;
	case P2P_BIG_HALF_MAX:
		size = SIZE_MAX / 2;
		break;
	default:
		size = SIZE_MAX;
		break;
	}
	KUNIT_EXPECT_NULL_MSG(test, p2p_buf_alloc(test, pdev, size),
			      "%zu bytes allocated, %llu available", size, avail);
	KUNIT_EXPECT_EQ(test, p2p_available(test, pdev), avail);
	p2p_no_new_warn(test, warned);
}

struct p2p_size_case {
	const char *desc;
	size_t size;
};

static const struct p2p_size_case p2p_size_cases[] = {
	{ "1 byte", 1 },
	{ "1 page", PAGE_SIZE },
	{ "1 page + 1 byte", PAGE_SIZE + 1 },
	{ "3 pages", 3 * PAGE_SIZE },
	{ "64 pages", 64 * PAGE_SIZE },
	{ "65 pages", 65 * PAGE_SIZE },
	{ "1 MiB", SZ_1M },
	{ "2 MiB + 1 byte", SZ_2M + 1 },
};

KUNIT_ARRAY_PARAM_DESC(p2p_size, p2p_size_cases, desc);

static void p2pdma_test_alloc_free_balance(struct kunit *test)
{
	const struct p2p_size_case *p = test->param_value;
	struct pci_dev *pdev = p2p_need_provider(test);
	u64 avail = p2p_available(test, pdev);
	struct p2p_buf *b;

	b = p2p_buf_alloc(test, pdev, p->size);
	KUNIT_ASSERT_NOT_NULL_MSG(test, b, "%zu bytes, %llu available", p->size, avail);
	p2p_check_buf(test, pdev, b->addr, p->size);
	KUNIT_EXPECT_EQ(test, p2p_available(test, pdev), avail - PAGE_ALIGN(p->size));
	p2p_buf_free(test, b);
	KUNIT_EXPECT_EQ(test, p2p_available(test, pdev), avail);
}

static const size_t p2p_mixed_sizes[] = {
	PAGE_SIZE, 2 * PAGE_SIZE, 3 * PAGE_SIZE, SZ_64K, 5 * PAGE_SIZE,
	SZ_256K, PAGE_SIZE, SZ_1M, 17 * PAGE_SIZE, SZ_128K, 2 * PAGE_SIZE,
	SZ_2M, PAGE_SIZE, 100 * PAGE_SIZE, 8 * PAGE_SIZE, SZ_256K,
};

static bool p2p_overlap(u64 a, u64 alen, u64 b, u64 blen)
{
	return a < b + blen && b < a + alen;
}

static void p2pdma_test_alloc_distinct_in_bar(struct kunit *test)
{
	struct pci_dev *pdev = p2p_need_provider(test);
	pci_bus_addr_t bus[ARRAY_SIZE(p2p_mixed_sizes)];
	struct p2p_buf *b[ARRAY_SIZE(p2p_mixed_sizes)];
	unsigned int i, j;
	size_t si, sj;

	for (i = 0; i < ARRAY_SIZE(p2p_mixed_sizes); i++) {
		b[i] = p2p_buf_alloc(test, pdev, p2p_mixed_sizes[i]);
		KUNIT_ASSERT_NOT_NULL(test, b[i]);
		p2p_check_buf(test, pdev, b[i]->addr, b[i]->size);
		bus[i] = pci_p2pmem_virt_to_bus(pdev, b[i]->addr);
	}
	for (i = 0; i < ARRAY_SIZE(p2p_mixed_sizes); i++) {
		for (j = 0; j < i; j++) {
			si = PAGE_ALIGN(b[i]->size);
			sj = PAGE_ALIGN(b[j]->size);
			KUNIT_EXPECT_FALSE_MSG(test, p2p_overlap(bus[i], si, bus[j], sj),
					       "bus %#llx+%#zx overlaps %#llx+%#zx",
					       (u64)bus[i], si, (u64)bus[j], sj);
			KUNIT_EXPECT_FALSE(test, p2p_overlap((unsigned long)b[i]->addr, si,
							     (unsigned long)b[j]->addr, sj));
		}
	}
}

static void p2pdma_test_virt_to_bus_foreign(struct kunit *test)
{
	struct pci_dev *pdev = p2p_need_provider(test);
	struct pci_dev *other = p2p_nth_other(0);
	struct p2p_buf *b;
	void *ram;

	ram = kunit_kzalloc(test, PAGE_SIZE, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ram);
	KUNIT_EXPECT_EQ(test, pci_p2pmem_virt_to_bus(pdev, ram), 0);

	b = p2p_buf_alloc(test, pdev, PAGE_SIZE);
	KUNIT_ASSERT_NOT_NULL(test, b);
	KUNIT_EXPECT_NE(test, pci_p2pmem_virt_to_bus(pdev, b->addr), 0);
	if (other && !pci_has_p2pmem(other))
		KUNIT_EXPECT_EQ(test, pci_p2pmem_virt_to_bus(other, b->addr), 0);
}

/* Memory pattern of word @i of a buffer tagged @seed */
static u64 p2p_pattern(u64 seed, unsigned int i)
{
	return seed ^ ((u64)i * 0x9e3779b97f4a7c15ULL);
}

static void p2p_write_pattern(void *addr, size_t size, u64 seed)
{
	u64 *word = addr;
	unsigned int i;

	for (i = 0; i < size / sizeof(u64); i++)
		WRITE_ONCE(word[i], p2p_pattern(seed, i));
	/* Push write-combined stores out before they are read back */
	wmb();
}

static unsigned int p2p_check_pattern(void *addr, size_t size, u64 seed)
{
	u64 *word = addr;
	unsigned int i, bad = 0;

	for (i = 0; i < size / sizeof(u64); i++)
		bad += READ_ONCE(word[i]) != p2p_pattern(seed, i);
	return bad;
}

#define P2P_SEED_A	0xa5a5a5a5a5a5a5a5ULL
#define P2P_SEED_B	0x5a5a5a5a00000000ULL

static void p2pdma_test_alloc_write_read(struct kunit *test)
{
	struct pci_dev *pdev = p2p_need_provider(test);
	struct p2p_buf *a, *b;
	u8 *byte, below, above;

	/* The core hands out plain kernel pointers (ZONE_DEVICE memory) */
	a = p2p_buf_alloc(test, pdev, SZ_16K);
	b = p2p_buf_alloc(test, pdev, SZ_16K);
	KUNIT_ASSERT_NOT_NULL(test, a);
	KUNIT_ASSERT_NOT_NULL(test, b);

	p2p_write_pattern(a->addr, a->size, P2P_SEED_A);
	p2p_write_pattern(b->addr, b->size, P2P_SEED_B);
	KUNIT_EXPECT_EQ(test, p2p_check_pattern(a->addr, a->size, P2P_SEED_A), 0);
	KUNIT_EXPECT_EQ(test, p2p_check_pattern(b->addr, b->size, P2P_SEED_B), 0);

	/* A byte store lands where it should and nowhere else */
	byte = a->addr + PAGE_SIZE + 3;
	below = READ_ONCE(byte[-1]);
	above = READ_ONCE(byte[1]);
	WRITE_ONCE(*byte, ~READ_ONCE(*byte));
	/* Push the store out of a write-combining buffer before reading */
	wmb();
	KUNIT_EXPECT_EQ(test, READ_ONCE(byte[-1]), below);
	KUNIT_EXPECT_EQ(test, READ_ONCE(byte[1]), above);
	KUNIT_EXPECT_EQ(test, p2p_check_pattern(a->addr, a->size, P2P_SEED_A), 1);
	KUNIT_EXPECT_EQ(test, p2p_check_pattern(b->addr, b->size, P2P_SEED_B), 0);
}

/* A stamp that depends on where a page is, not on who allocated it. */
static u64 p2p_page_stamp(void *page)
{
	return P2P_SEED_A ^ page_to_phys(virt_to_page(page));
}

static void p2p_stamp_pages(void *addr, size_t size)
{
	u64 *word;
	size_t off;

	for (off = 0; off < size; off += PAGE_SIZE) {
		word = addr + off;
		WRITE_ONCE(word[0], p2p_page_stamp(word));
		WRITE_ONCE(word[PAGE_SIZE / sizeof(u64) - 1], ~p2p_page_stamp(word));
	}
	/* Push write-combined stores out before they are read back */
	wmb();
}

static unsigned int p2p_unstamped_pages(void *addr, size_t size)
{
	unsigned int bad = 0;
	u64 *word;
	size_t off;

	for (off = 0; off < size; off += PAGE_SIZE) {
		word = addr + off;
		bad += READ_ONCE(word[0]) != p2p_page_stamp(word) ||
		       READ_ONCE(word[PAGE_SIZE / sizeof(u64) - 1]) != ~p2p_page_stamp(word);
	}
	return bad;
}

/*
 * Kernel users get memory as it is: only memory on its way into a user
 * mapping is cleared.  Stamp every page of the pool, give it all back and
 * take it all again: every page still holds its stamp.  The selftests
 * that check that user mappings start zeroed run after this suite, on a
 * pool this leaves full of kernel data (p2pmem_safety_test).
 */
static void p2pdma_test_alloc_not_cleared(struct kunit *test)
{
	struct pci_dev *pdev = p2p_need_provider(test);
	struct p2p_fill *fill;
	unsigned int i, bad = 0;
	u64 bytes;

	fill = p2p_fill_all(test, pdev);
	KUNIT_ASSERT_GT(test, fill->nr, 0);
	bytes = fill->bytes;
	for (i = 0; i < fill->nr; i++)
		p2p_stamp_pages(fill->chunk[i].addr, fill->chunk[i].size);
	p2p_fill_free(test, fill);

	fill = p2p_fill_all(test, pdev);
	KUNIT_EXPECT_EQ(test, fill->bytes, bytes);
	for (i = 0; i < fill->nr; i++)
		bad += p2p_unstamped_pages(fill->chunk[i].addr, fill->chunk[i].size);
	KUNIT_EXPECT_EQ_MSG(test, bad, 0, "pages of %llu bytes lost their contents", bytes);
	p2p_fill_free(test, fill);
}

static void p2pdma_test_alloc_exhaust_then_free(struct kunit *test)
{
	struct pci_dev *pdev = p2p_need_provider(test);
	bool warned = p2p_warned();
	struct p2p_chunk *chunk;
	struct p2p_fill *fill;
	u64 got;
	void *addr;

	fill = p2p_fill_all(test, pdev);
	KUNIT_ASSERT_GT(test, fill->nr, 0);
	got = fill->bytes;

	addr = pci_alloc_p2pmem(pdev, PAGE_SIZE);
	KUNIT_EXPECT_NULL(test, addr);
	pci_free_p2pmem(pdev, addr, PAGE_SIZE);

	/* Give the first chunk back: the same size fits again, once */
	chunk = &fill->chunk[0];
	pci_free_p2pmem(pdev, chunk->addr, chunk->size);
	chunk->addr = pci_alloc_p2pmem(pdev, chunk->size);
	KUNIT_EXPECT_NOT_NULL(test, chunk->addr);

	addr = pci_alloc_p2pmem(pdev, PAGE_SIZE);
	KUNIT_EXPECT_NULL(test, addr);
	pci_free_p2pmem(pdev, addr, PAGE_SIZE);

	p2p_fill_free(test, fill);
	KUNIT_EXPECT_EQ(test, p2p_available(test, pdev), got);
	p2p_no_new_warn(test, warned);
}

/* Checks for a list of @nents entries holding @length bytes of p2pmem. */
static void p2p_check_sgl(struct kunit *test, struct scatterlist *sgl,
			  unsigned int nents, u32 length, u32 max_entry)
{
	unsigned int i, j, bad_pages = 0;
	struct scatterlist *sg;
	u64 total = 0;

	KUNIT_EXPECT_GE(test, nents, 1);
	KUNIT_EXPECT_EQ(test, sg_nents(sgl), nents);
	for_each_sg(sgl, sg, nents, i) {
		total += sg->length;
		KUNIT_EXPECT_EQ(test, sg->offset, 0);
		KUNIT_EXPECT_GT(test, sg->length, 0);
		KUNIT_EXPECT_LE(test, sg->length, max_entry);
		KUNIT_EXPECT_TRUE(test, sg_is_iomem(sg));
		for (j = 0; j < DIV_ROUND_UP(sg->length, PAGE_SIZE); j++)
			bad_pages += !is_pci_p2pdma_page(nth_page(sg_page(sg), j));
		if (i + 1 == nents)
			KUNIT_EXPECT_TRUE(test, sg_is_last(sg));
	}
	KUNIT_EXPECT_EQ(test, total, length);
	KUNIT_EXPECT_EQ(test, bad_pages, 0);
}

struct p2p_sgl_case {
	const char *desc;
	u32 length;
};

static const struct p2p_sgl_case p2p_sgl_cases[] = {
	{ "1 page", PAGE_SIZE },
	{ "1 MiB", SZ_1M },
	{ "1 MiB + 1 byte", SZ_1M + 1 },
	{ "3 MiB + 1 page", SZ_2M + SZ_1M + PAGE_SIZE },
};

KUNIT_ARRAY_PARAM_DESC(p2p_sgl, p2p_sgl_cases, desc);

static void p2pdma_test_alloc_sgl(struct kunit *test)
{
	const struct p2p_sgl_case *p = test->param_value;
	struct pci_dev *pdev = p2p_need_provider(test);
	u64 avail = p2p_available(test, pdev);
	struct p2p_sgl *s;

	s = p2p_sgl_alloc(test, pdev, p->length);
	KUNIT_ASSERT_NOT_NULL_MSG(test, s, "%u bytes, %llu available", p->length, avail);
	p2p_check_sgl(test, s->sgl, s->nents, p->length, p->length);
	KUNIT_EXPECT_EQ(test, p2p_available(test, pdev),
			avail - (u64)DIV_ROUND_UP(p->length, PAGE_SIZE) * PAGE_SIZE);
	kunit_release_action(test, p2p_sgl_release, s);
	KUNIT_EXPECT_EQ(test, p2p_available(test, pdev), avail);
}

/*
 * The list points at the BAR: every entry says so, sg_kmap() refuses it,
 * and the copy helpers move data in and out of it intact, also at offsets
 * that straddle entries.
 */
static void p2pdma_test_sgl_is_iomem(struct kunit *test)
{
	const size_t len = SZ_1M, skip = PAGE_SIZE - 24;
	struct pci_dev *pdev = p2p_need_provider(test);
	struct scatterlist *sg;
	struct p2p_sgl *s;
	u8 *src, *dst;
	unsigned int i;

	s = p2p_sgl_alloc(test, pdev, len);
	KUNIT_ASSERT_NOT_NULL(test, s);
	src = kunit_kmalloc(test, len, GFP_KERNEL);
	dst = kunit_kzalloc(test, len, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, src);
	KUNIT_ASSERT_NOT_NULL(test, dst);

	for_each_sg(s->sgl, sg, s->nents, i) {
		KUNIT_EXPECT_TRUE(test, sg_is_iomem(sg));
		KUNIT_EXPECT_NULL(test, sg_kmap(sg));
	}

	get_random_bytes(src, len);
	KUNIT_EXPECT_EQ(test, sg_copy_from_buffer(s->sgl, s->nents, src, len), len);
	KUNIT_EXPECT_EQ(test, sg_copy_to_buffer(s->sgl, s->nents, dst, len), len);
	KUNIT_EXPECT_EQ(test, memcmp(src, dst, len), 0);

	/* Partial copies at an offset that crosses a page. */
	memset(dst, 0, len);
	KUNIT_EXPECT_EQ(test, sg_pcopy_from_buffer(s->sgl, s->nents, src, 4096, skip), 4096);
	KUNIT_EXPECT_EQ(test, sg_pcopy_to_buffer(s->sgl, s->nents, dst, 4096, skip), 4096);
	KUNIT_EXPECT_EQ(test, memcmp(src, dst, 4096), 0);

	/* Zeroing reaches the device memory too. */
	KUNIT_EXPECT_EQ(test, sg_zero_buffer(s->sgl, s->nents, len, 0), len);
	KUNIT_EXPECT_EQ(test, sg_copy_to_buffer(s->sgl, s->nents, dst, len), len);
	KUNIT_EXPECT_TRUE(test, !memchr_inv(dst, 0, len));
}

/* QEMU's ivshmem: a 64-bit prefetchable memory BAR no driver claims. */
#define P2P_SPARE_VENDOR	0x1af4
#define P2P_SPARE_DEVICE	0x1110
#define P2P_SPARE_BAR		2

struct p2p_spare {
	struct pci_dev *pdev;
	void *group;
};

static void p2p_spare_release(void *data)
{
	struct p2p_spare *sp = data;

	if (sp->group)
		devres_release_group(&sp->pdev->dev, sp->group);
	pci_disable_device(sp->pdev);
	pci_dev_put(sp->pdev);
}

/*
 * The spare device, enabled, with a devres group open on it: everything
 * pci_p2pdma_add_resource() registers goes away when the group is
 * released, as it would when a provider's driver is unbound.
 */
static struct p2p_spare *p2p_spare_get(struct kunit *test)
{
	struct p2p_spare *sp;
	struct pci_dev *pdev;

	pdev = pci_get_device(P2P_SPARE_VENDOR, P2P_SPARE_DEVICE, NULL);
	if (!pdev)
		kunit_skip(test, "no spare BAR device (QEMU ivshmem-plain)");
	sp = kunit_kzalloc(test, sizeof(*sp), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, sp);
	sp->pdev = pdev;
	KUNIT_ASSERT_EQ(test, pci_enable_device_mem(pdev), 0);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, p2p_spare_release, sp), 0);
	KUNIT_ASSERT_GE(test, pci_resource_len(pdev, P2P_SPARE_BAR), (resource_size_t)SZ_16M);
	sp->group = devres_open_group(&pdev->dev, NULL, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, sp->group);
	return sp;
}

/* Tear the provider down now, as unbinding its driver would. */
static void p2p_spare_teardown(struct kunit *test, struct p2p_spare *sp)
{
	devres_release_group(&sp->pdev->dev, sp->group);
	sp->group = NULL;
	KUNIT_EXPECT_FALSE(test, pci_has_p2pmem(sp->pdev));
}

/*
 * Two ranges of one BAR make one provider: each serves allocations from
 * its own part of the BAR, an overlapping third is refused, and tearing
 * the provider down leaves nothing behind, so it can be set up again.
 */
static void p2pdma_test_several_ranges(struct kunit *test)
{
	struct p2p_spare *sp = p2p_spare_get(test);
	struct pci_dev *pdev = sp->pdev;
	pci_bus_addr_t bus = pci_bus_address(pdev, P2P_SPARE_BAR);
	pci_bus_addr_t a_bus, b_bus;
	int round;
	void *a, *b;

	for (round = 0; round < 2; round++) {
		KUNIT_ASSERT_EQ(test, pci_p2pdma_add_resource(pdev, P2P_SPARE_BAR,
							      SZ_4M, 0), 0);
		KUNIT_ASSERT_EQ(test, pci_p2pdma_add_resource(pdev, P2P_SPARE_BAR,
							      SZ_4M, SZ_8M), 0);
		KUNIT_EXPECT_EQ(test, pci_p2pdma_add_resource(pdev, P2P_SPARE_BAR,
							      SZ_4M, SZ_2M), -EBUSY);
		/* Memory only counts for others once it is published. */
		KUNIT_EXPECT_FALSE(test, pci_has_p2pmem(pdev));
		pci_p2pmem_publish(pdev, true);
		KUNIT_EXPECT_TRUE(test, pci_has_p2pmem(pdev));

		/* Each range holds exactly one 4 MiB allocation. */
		a = pci_alloc_p2pmem(pdev, SZ_4M);
		b = pci_alloc_p2pmem(pdev, SZ_4M);
		KUNIT_ASSERT_NOT_NULL(test, a);
		KUNIT_ASSERT_NOT_NULL(test, b);
		KUNIT_EXPECT_NULL(test, pci_alloc_p2pmem(pdev, PAGE_SIZE));
		a_bus = pci_p2pmem_virt_to_bus(pdev, a);
		b_bus = pci_p2pmem_virt_to_bus(pdev, b);
		if (a_bus > b_bus)
			swap(a_bus, b_bus);
		KUNIT_EXPECT_EQ(test, a_bus, bus);
		KUNIT_EXPECT_EQ(test, b_bus, bus + SZ_8M);

		/* The memory is the BAR's: what is written reads back. */
		WRITE_ONCE(*(u64 *)a, 0x1122334455667788ULL);
		WRITE_ONCE(*(u64 *)(b + SZ_4M - 8), 0x8877665544332211ULL);
		wmb();	/* drain write-combining buffers before reading back */
		KUNIT_EXPECT_EQ(test, READ_ONCE(*(u64 *)a), 0x1122334455667788ULL);
		KUNIT_EXPECT_EQ(test, READ_ONCE(*(u64 *)(b + SZ_4M - 8)),
				0x8877665544332211ULL);

		pci_free_p2pmem(pdev, a, SZ_4M);
		pci_free_p2pmem(pdev, b, SZ_4M);
		p2p_spare_teardown(test, sp);
		sp->group = devres_open_group(&pdev->dev, NULL, GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, sp->group);
	}
}

struct p2p_teardown {
	struct p2p_spare *sp;
	struct completion done;
};

static int p2p_teardown_fn(void *data)
{
	struct p2p_teardown *td = data;

	devres_release_group(&td->sp->pdev->dev, td->sp->group);
	complete(&td->done);
	return 0;
}

/*
 * A provider whose teardown has started, and waits for memory still in
 * use, is no longer offered: not by pci_has_p2pmem(), not by
 * pci_p2pmem_find() and not by pci_p2pdma_enable_store().
 */
static void p2pdma_test_teardown_withdraws_first(struct kunit *test)
{
	struct p2p_spare *sp = p2p_spare_get(test);
	struct pci_dev *pdev = sp->pdev, *found, *named = NULL;
	struct p2p_teardown td = { .sp = sp };
	struct device *client = &pdev->dev;
	struct task_struct *t;
	bool use = false;
	void *held;
	int i;

	KUNIT_ASSERT_EQ(test, pci_p2pdma_add_resource(pdev, P2P_SPARE_BAR, SZ_4M, 0), 0);
	pci_p2pmem_publish(pdev, true);
	KUNIT_ASSERT_TRUE(test, pci_has_p2pmem(pdev));
	held = pci_alloc_p2pmem(pdev, PAGE_SIZE);
	KUNIT_ASSERT_NOT_NULL(test, held);

	init_completion(&td.done);
	t = kthread_run(p2p_teardown_fn, &td, "p2pdma-kunit-teardown");
	if (IS_ERR(t)) {
		pci_free_p2pmem(pdev, held, PAGE_SIZE);
		KUNIT_FAIL_AND_ABORT(test, "no teardown thread: %ld", PTR_ERR(t));
	}
	/* From here on the thread owns the group: no assertions until done. */
	for (i = 0; i < 500 && pci_has_p2pmem(pdev); i++)
		usleep_range(10000, 20000);
	KUNIT_EXPECT_FALSE(test, pci_has_p2pmem(pdev));
	found = pci_p2pmem_find(client);
	KUNIT_EXPECT_PTR_NE(test, found, pdev);
	pci_dev_put(found);
	KUNIT_EXPECT_EQ(test, pci_p2pdma_enable_store(pci_name(pdev), &named, &use),
			-ENODEV);
	KUNIT_EXPECT_FALSE_MSG(test, completion_done(&td.done),
			       "the teardown did not wait for memory in use");

	pci_free_p2pmem(pdev, held, PAGE_SIZE);
	if (!wait_for_completion_timeout(&td.done, 30 * HZ)) {
		KUNIT_FAIL(test, "the teardown is still waiting 30 s after the free");
		/* @td is on this stack: never return before the thread is done */
		wait_for_completion(&td.done);
	}
	sp->group = NULL;
}

/*
 * A registration that fails leaves the provider as it was: a bad range
 * after a good one keeps the good one working, and a bad first range
 * leaves no provider at all.
 */
static void p2pdma_test_failed_add_unwinds(struct kunit *test)
{
	struct p2p_spare *sp = p2p_spare_get(test);
	struct pci_dev *pdev = sp->pdev;
	void *a;

	KUNIT_EXPECT_EQ(test, pci_p2pdma_add_resource(pdev, P2P_SPARE_BAR,
						      SZ_1M, 0), -EINVAL);
	KUNIT_EXPECT_FALSE(test, pci_has_p2pmem(pdev));
	KUNIT_EXPECT_NULL(test, rcu_access_pointer(pdev->p2pdma));

	KUNIT_ASSERT_EQ(test, pci_p2pdma_add_resource(pdev, P2P_SPARE_BAR, SZ_2M, 0), 0);
	KUNIT_EXPECT_EQ(test, pci_p2pdma_add_resource(pdev, P2P_SPARE_BAR,
						      pci_resource_len(pdev, P2P_SPARE_BAR) +
						      SZ_2M, 0), -EINVAL);
	a = pci_alloc_p2pmem(pdev, SZ_2M);
	KUNIT_EXPECT_NOT_NULL(test, a);
	if (a)
		pci_free_p2pmem(pdev, a, SZ_2M);
	p2p_spare_teardown(test, sp);
	KUNIT_EXPECT_NULL(test, rcu_access_pointer(pdev->p2pdma));
}

/*
 * The I/O memory mark is for the CPU only: the DMA API maps a marked list
 * exactly as before.  The provider reaches its own memory by bus address.
 */
static void p2pdma_test_sgl_iomem_dma_map(struct kunit *test)
{
	struct pci_dev *pdev = p2p_need_provider(test);
	struct scatterlist *sg;
	struct p2p_sgl *s;
	unsigned int i;
	int mapped;

	s = p2p_sgl_alloc(test, pdev, SZ_1M);
	KUNIT_ASSERT_NOT_NULL(test, s);
	mapped = dma_map_sg(&pdev->dev, s->sgl, s->nents, DMA_TO_DEVICE);
	KUNIT_ASSERT_EQ(test, mapped, (int)s->nents);
	for_each_sg(s->sgl, sg, s->nents, i) {
		KUNIT_EXPECT_TRUE(test, sg_is_iomem(sg));
		KUNIT_EXPECT_TRUE(test, sg_dma_is_bus_address(sg));
		KUNIT_EXPECT_EQ(test, sg_dma_address(sg),
				pci_p2pmem_virt_to_bus(pdev, sg_virt(sg)));
		KUNIT_EXPECT_EQ(test, sg_dma_len(sg), sg->length);
	}
	dma_unmap_sg(&pdev->dev, s->sgl, s->nents, DMA_TO_DEVICE);
	for_each_sg(s->sgl, sg, s->nents, i)
		KUNIT_EXPECT_TRUE(test, sg_is_iomem(sg));
}

/* No 1 MiB is contiguous any more: the list is made of smaller chunks. */
static void p2pdma_test_alloc_sgl_fragmented(struct kunit *test)
{
	struct pci_dev *pdev = p2p_need_provider(test);
	u64 avail = p2p_available(test, pdev);
	struct p2p_chunk *chunk;
	struct p2p_fill *fill;
	unsigned int i, freed = 0;
	struct p2p_sgl *s;

	/*
	 * Take everything in naturally aligned 256 KiB blocks (and the rest
	 * in pages), then give back the blocks at even block numbers: no
	 * two free blocks touch, so no free run exceeds 256 KiB.
	 */
	fill = p2p_fill_new(test, pdev);
	p2p_fill_with(test, fill, SZ_256K);
	p2p_fill_with(test, fill, PAGE_SIZE);
	for (i = 0; i < fill->nr; i++) {
		chunk = &fill->chunk[i];
		if (chunk->size != SZ_256K ||
		    (pci_p2pmem_virt_to_bus(pdev, chunk->addr) / SZ_256K) & 1)
			continue;
		pci_free_p2pmem(pdev, chunk->addr, chunk->size);
		chunk->addr = NULL;
		freed++;
	}
	if (freed < SZ_1M / SZ_256K)
		kunit_skip(test, "only %u blocks of 256 KiB could be freed", freed);

	s = p2p_sgl_alloc(test, pdev, SZ_1M);
	KUNIT_ASSERT_NOT_NULL(test, s);
	KUNIT_EXPECT_GE(test, s->nents, SZ_1M / P2P_TEST_SGL_CHUNK);
	p2p_check_sgl(test, s->sgl, s->nents, SZ_1M, P2P_TEST_SGL_CHUNK);

	kunit_release_action(test, p2p_sgl_release, s);
	p2p_fill_free(test, fill);
	KUNIT_EXPECT_EQ(test, p2p_available(test, pdev), avail);
}

static void p2pdma_test_alloc_sgl_too_big(struct kunit *test)
{
	struct pci_dev *pdev = p2p_need_provider(test);
	u64 avail = p2p_available(test, pdev);

	if (avail + PAGE_SIZE > U32_MAX)
		kunit_skip(test, "%llu bytes available: more than a list can hold", avail);
	KUNIT_EXPECT_NULL(test, p2p_sgl_alloc(test, pdev, avail + PAGE_SIZE));
	KUNIT_EXPECT_EQ(test, p2p_available(test, pdev), avail);
}

enum p2p_bad_free {
	P2P_FREE_TWICE,
	P2P_FREE_SECOND_PAGE,
	P2P_FREE_SHORT,
	P2P_FREE_LONG,
	P2P_FREE_UNALIGNED,
	P2P_FREE_OTHER_DEVICE,
	P2P_FREE_NOT_P2PMEM,
};

struct p2p_bad_free_case {
	const char *desc;
	enum p2p_bad_free kind;
};

static const struct p2p_bad_free_case p2p_bad_free_cases[] = {
	{ "double free", P2P_FREE_TWICE },
	{ "second page of a 2-page allocation", P2P_FREE_SECOND_PAGE },
	{ "size 1 page for a 2-page allocation", P2P_FREE_SHORT },
	{ "size 4 pages for a 2-page allocation", P2P_FREE_LONG },
	{ "address not page aligned", P2P_FREE_UNALIGNED },
	{ "another device", P2P_FREE_OTHER_DEVICE },
	{ "memory that is not p2pmem", P2P_FREE_NOT_P2PMEM },
};

KUNIT_ARRAY_PARAM_DESC(p2p_bad_free, p2p_bad_free_cases, desc);

/*
 * A free that matches no live allocation is reported (dev_err_once(), not
 * a WARN) and ignored: the allocation stays live and nothing is handed out
 * twice afterwards.
 */
static void p2pdma_test_free_invalid(struct kunit *test)
{
	const struct p2p_bad_free_case *p = test->param_value;
	struct pci_dev *pdev = p2p_need_provider(test), *free_dev = pdev;
	const size_t size = 2 * PAGE_SIZE;
	bool warned = p2p_warned();
	size_t bad_size = size;
	struct p2p_buf *b, *x, *y;
	void *bad_addr;
	u64 avail;

	if (p->kind == P2P_FREE_OTHER_DEVICE)
		free_dev = p2p_need_plain(test);

	avail = p2p_available(test, pdev);
	b = p2p_buf_alloc(test, pdev, size);
	KUNIT_ASSERT_NOT_NULL(test, b);
	bad_addr = b->addr;

	switch (p->kind) {
	case P2P_FREE_TWICE:
		p2p_buf_free(test, b);
		break;
	case P2P_FREE_SECOND_PAGE:
		bad_addr += PAGE_SIZE;
		bad_size = PAGE_SIZE;
		break;
	case P2P_FREE_SHORT:
		bad_size = PAGE_SIZE;
		break;
	case P2P_FREE_LONG:
		bad_size = 4 * PAGE_SIZE;
		break;
	case P2P_FREE_UNALIGNED:
		bad_addr += 8;
		break;
	case P2P_FREE_OTHER_DEVICE:
		break;
	case P2P_FREE_NOT_P2PMEM:
		bad_addr = kunit_kzalloc(test, size, GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, bad_addr);
		break;
	}
	pci_free_p2pmem(free_dev, bad_addr, bad_size);

	if (p->kind != P2P_FREE_TWICE) {
		KUNIT_EXPECT_EQ_MSG(test, p2p_available(test, pdev), avail - size,
				    "the bad free released memory");
		p2p_buf_free(test, b);
	}

	/* A chunk the bad free had put back would now come out twice */
	x = p2p_buf_alloc(test, pdev, size);
	y = p2p_buf_alloc(test, pdev, size);
	KUNIT_ASSERT_NOT_NULL(test, x);
	KUNIT_ASSERT_NOT_NULL(test, y);
	KUNIT_EXPECT_PTR_NE(test, x->addr, y->addr);
	p2p_buf_free(test, y);
	p2p_buf_free(test, x);

	KUNIT_EXPECT_EQ(test, p2p_available(test, pdev), avail);
	p2p_no_new_warn(test, warned);
}

/* The sysfs counters agree with what can really be allocated. */
static void p2pdma_test_sysfs_counters(struct kunit *test)
{
	struct pci_dev *pdev = p2p_need_provider(test);
	u64 size, avail, now, published;
	struct p2p_buf *b;
	int ret;

	ret = p2p_sysfs_read(pdev, "available", &avail);
	if (ret)
		kunit_skip(test, "cannot read p2pmem/available of %s: %d",
			   pci_name(pdev), ret);
	KUNIT_ASSERT_EQ(test, p2p_sysfs_read(pdev, "size", &size), 0);
	KUNIT_ASSERT_EQ(test, p2p_sysfs_read(pdev, "published", &published), 0);
	KUNIT_EXPECT_EQ(test, published, 1);
	KUNIT_EXPECT_GE(test, size, avail);
	KUNIT_EXPECT_TRUE(test, IS_ALIGNED(size, p2p_hotplug_align()));
	KUNIT_EXPECT_EQ(test, p2p_available(test, pdev), avail);

	b = p2p_buf_alloc(test, pdev, SZ_2M);
	KUNIT_ASSERT_NOT_NULL(test, b);
	KUNIT_ASSERT_EQ(test, p2p_sysfs_read(pdev, "available", &now), 0);
	KUNIT_EXPECT_EQ(test, now, avail - SZ_2M);
	p2p_buf_free(test, b);
	KUNIT_ASSERT_EQ(test, p2p_sysfs_read(pdev, "available", &now), 0);
	KUNIT_EXPECT_EQ(test, now, avail);
}

static void p2p_republish(void *pdev)
{
	pci_p2pmem_publish(pdev, true);
}

static void p2pdma_test_publish_toggle(struct kunit *test)
{
	struct pci_dev *pdev = p2p_need_provider(test), *p2p_dev, *found;
	struct p2p_buf *b;
	bool use;

	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, p2p_republish, pdev), 0);
	pci_p2pmem_publish(pdev, false);

	KUNIT_EXPECT_FALSE(test, pci_has_p2pmem(pdev));
	found = pci_p2pmem_find(&pdev->dev);
	KUNIT_EXPECT_PTR_NE(test, found, pdev);
	pci_dev_put(found);
	KUNIT_EXPECT_EQ(test, pci_p2pdma_enable_store(pci_name(pdev), &p2p_dev, &use),
			-ENODEV);
	/* The owner may still allocate from memory it did not publish */
	b = p2p_buf_alloc(test, pdev, PAGE_SIZE);
	KUNIT_EXPECT_NOT_NULL(test, b);
	KUNIT_EXPECT_EQ(test, pci_p2pdma_distance(pdev, &pdev->dev, false), 0);

	kunit_release_action(test, p2p_republish, pdev);
	KUNIT_EXPECT_TRUE(test, pci_has_p2pmem(pdev));
	found = pci_p2pmem_find(&pdev->dev);
	KUNIT_EXPECT_PTR_EQ(test, found, pdev);
	pci_dev_put(found);
}

static void p2pdma_test_no_p2pmem_device(struct kunit *test)
{
	unsigned int i, nents = 12345, checked = 0;
	struct pci_dev *pdev;
	void *addr;

	for (i = 0; i < p2p_env.nr_nvme; i++) {
		pdev = p2p_env.nvme[i];
		if (pci_has_p2pmem(pdev))
			continue;
		checked++;
		addr = pci_alloc_p2pmem(pdev, PAGE_SIZE);
		KUNIT_EXPECT_NULL_MSG(test, addr, "%s", pci_name(pdev));
		pci_free_p2pmem(pdev, addr, PAGE_SIZE);
		KUNIT_EXPECT_NULL(test, p2p_sgl_alloc(test, pdev, PAGE_SIZE));
		KUNIT_EXPECT_NULL(test, pci_p2pmem_alloc_sgl(pdev, &nents, 0));
		KUNIT_EXPECT_EQ(test, nents, 12345);
	}
	if (!checked)
		kunit_skip(test, "every NVMe function has p2pmem");
}

/* ---------------------------------------------------------------------
 * Concurrency smoke test
 */

struct p2p_stress {
	struct pci_dev *pdev;
	unsigned int id;
	struct completion done;
	bool started;
	unsigned int alloc_failures;
	unsigned int bad_tags;
	unsigned int bad_addrs;
};

static const size_t p2p_stress_sizes[] = {
	SZ_4K, SZ_8K, 3 * SZ_4K, SZ_16K, SZ_64K, 25 * SZ_4K, SZ_128K, SZ_256K,
};

/* Every page of a buffer starts with its owner's tag. */
static void p2p_stress_tag(void *addr, size_t size, u64 tag)
{
	size_t off;

	for (off = 0; off < size; off += PAGE_SIZE)
		WRITE_ONCE(*(u64 *)(addr + off), tag);
	/* Make the tags visible to the other threads right away */
	wmb();
}

static bool p2p_stress_check(void *addr, size_t size, u64 tag)
{
	size_t off;

	for (off = 0; off < size; off += PAGE_SIZE)
		if (READ_ONCE(*(u64 *)(addr + off)) != tag)
			return false;
	return true;
}

static int p2p_stress_fn(void *data)
{
	struct p2p_stress *s = data;
	size_t size[P2P_STRESS_LIVE] = {};
	void *addr[P2P_STRESS_LIVE] = {};
	u64 tag[P2P_STRESS_LIVE] = {};
	unsigned int i, slot;

	for (i = 0; i < P2P_STRESS_ITERS + P2P_STRESS_LIVE; i++) {
		slot = i % P2P_STRESS_LIVE;
		if (addr[slot]) {
			s->bad_tags += !p2p_stress_check(addr[slot], size[slot], tag[slot]);
			pci_free_p2pmem(s->pdev, addr[slot], size[slot]);
			addr[slot] = NULL;
		}
		if (i >= P2P_STRESS_ITERS)
			continue;

		size[slot] = p2p_stress_sizes[(i * 7 + s->id) % ARRAY_SIZE(p2p_stress_sizes)];
		addr[slot] = pci_alloc_p2pmem(s->pdev, size[slot]);
		if (!addr[slot]) {
			s->alloc_failures++;
			continue;
		}
		s->bad_addrs += !PAGE_ALIGNED(addr[slot]) ||
				!pci_p2pmem_virt_to_bus(s->pdev, addr[slot]);
		tag[slot] = (u64)(s->id + 1) << 32 | i;
		p2p_stress_tag(addr[slot], size[slot], tag[slot]);
		cond_resched();
	}
	kthread_complete_and_exit(&s->done, 0);
}

static void p2pdma_test_alloc_concurrent(struct kunit *test)
{
	struct pci_dev *pdev = p2p_need_provider(test);
	unsigned int n = max(2U, 2 * num_online_cpus());
	unsigned int i, failures = 0, bad_tags = 0, bad_addrs = 0;
	u64 need = (u64)n * P2P_STRESS_LIVE * SZ_256K;
	u64 avail = p2p_available(test, pdev);
	struct task_struct *task;
	struct p2p_stress *s;

	s = kunit_kcalloc(test, n, sizeof(*s), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, s);
	for (i = 0; i < n; i++) {
		s[i].pdev = pdev;
		s[i].id = i;
		init_completion(&s[i].done);
		task = kthread_run(p2p_stress_fn, &s[i], "p2pdma_kunit/%u", i);
		KUNIT_EXPECT_FALSE_MSG(test, IS_ERR(task), "thread %u: %pe", i, task);
		s[i].started = !IS_ERR(task);
	}
	for (i = 0; i < n; i++) {
		if (!s[i].started)
			continue;
		wait_for_completion(&s[i].done);
		failures += s[i].alloc_failures;
		bad_tags += s[i].bad_tags;
		bad_addrs += s[i].bad_addrs;
	}

	kunit_info(test, "%u threads, %u allocation failures\n", n, failures);
	KUNIT_EXPECT_EQ_MSG(test, bad_tags, 0, "memory was handed to two threads at once");
	KUNIT_EXPECT_EQ(test, bad_addrs, 0);
	if (avail >= 2 * need)
		KUNIT_EXPECT_EQ_MSG(test, failures, 0, "%llu bytes available, %llu needed",
				    avail, need);
	KUNIT_EXPECT_EQ(test, p2p_available(test, pdev), avail);
}

/* ---------------------------------------------------------------------
 * Who can reach whom
 */

static void p2pdma_test_distance_same_function(struct kunit *test)
{
	struct device *clients[2];
	struct pci_dev *pdev;
	unsigned int i;

	KUNIT_ASSERT_GT(test, p2p_env.nr_nvme, 0);
	for (i = 0; i < p2p_env.nr_nvme; i++) {
		pdev = p2p_env.nvme[i];
		clients[0] = &pdev->dev;
		clients[1] = &pdev->dev;
		KUNIT_EXPECT_EQ_MSG(test, pci_p2pdma_distance(pdev, &pdev->dev, true), 0,
				    "%s", pci_name(pdev));
		KUNIT_EXPECT_EQ(test, pci_p2pdma_distance_many(pdev, clients, 2, true), 0);
	}
}

/* A child device (e.g. the nvme controller) counts as its PCI function. */
static void p2pdma_test_distance_child_device(struct kunit *test)
{
	unsigned int i, checked = 0;
	struct pci_dev *pdev;
	struct device *child;

	for (i = 0; i < p2p_env.nr_nvme; i++) {
		pdev = p2p_env.nvme[i];
		child = device_find_any_child(&pdev->dev);
		if (!child)
			continue;
		checked++;
		KUNIT_EXPECT_EQ_MSG(test, pci_p2pdma_distance(pdev, child, true), 0,
				    "%s below %s", dev_name(child), pci_name(pdev));
		put_device(child);
	}
	if (!checked)
		kunit_skip(test, "no NVMe function has a child device");
}

static void p2pdma_test_distance_non_pci_client(struct kunit *test)
{
	struct pci_dev *pdev = p2p_need_nvme(test), *found;
	struct device *clients[2];
	struct device *dev;

	dev = kunit_device_register(test, "p2pdma-kunit-client");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	clients[0] = &pdev->dev;
	clients[1] = dev;

	KUNIT_EXPECT_EQ(test, pci_p2pdma_distance(pdev, dev, true), -1);
	KUNIT_EXPECT_EQ(test, pci_p2pdma_distance_many(pdev, clients, 2, false), -1);
	found = pci_p2pmem_find(dev);
	KUNIT_EXPECT_NULL(test, found);
	pci_dev_put(found);
}

static void p2pdma_test_distance_no_clients(struct kunit *test)
{
	struct pci_dev *pdev = p2p_need_nvme(test), *found;
	struct device *clients[1] = { &pdev->dev };

	KUNIT_EXPECT_EQ(test, pci_p2pdma_distance_many(pdev, clients, 0, true), -1);
	found = pci_p2pmem_find_many(clients, 0);
	KUNIT_EXPECT_NULL(test, found);
	pci_dev_put(found);
}

static void p2pdma_test_distance_other_functions(struct kunit *test)
{
	struct pci_dev *pdev = p2p_need_provider(test), *other;
	enum p2p_expect e = p2p_need_expect(test);
	unsigned int i;
	int d, back;

	KUNIT_ASSERT_NOT_NULL_MSG(test, p2p_nth_other(0), "only one NVMe function");
	for (i = 0; (other = p2p_nth_other(i)); i++) {
		d = pci_p2pdma_distance(pdev, &other->dev, true);
		if (p2p_expect_reachable(e))
			KUNIT_EXPECT_GT_MSG(test, d, 0, "%s -> %s, expect=%s",
					    pci_name(pdev), pci_name(other), expect);
		else
			KUNIT_EXPECT_EQ_MSG(test, d, -1, "%s -> %s, expect=%s",
					    pci_name(pdev), pci_name(other), expect);

		/* The rules are symmetric; @other has no memory to cache with */
		back = pci_p2pdma_distance(other, &pdev->dev, false);
		KUNIT_EXPECT_EQ_MSG(test, back, d, "%s -> %s", pci_name(other),
				    pci_name(pdev));
	}
}

static void p2pdma_test_distance_many(struct kunit *test)
{
	struct pci_dev *pdev = p2p_need_provider(test), *a, *b;
	enum p2p_expect e = p2p_need_expect(test);
	struct device *clients[2];
	int da, db;

	a = p2p_nth_other(0);
	KUNIT_ASSERT_NOT_NULL_MSG(test, a, "only one NVMe function");
	b = p2p_nth_other(1) ?: pdev;
	da = pci_p2pdma_distance(pdev, &a->dev, false);
	db = pci_p2pdma_distance(pdev, &b->dev, false);
	clients[0] = &a->dev;
	clients[1] = &b->dev;

	if (p2p_expect_reachable(e)) {
		KUNIT_ASSERT_GE(test, da, 0);
		KUNIT_ASSERT_GE(test, db, 0);
		KUNIT_EXPECT_EQ(test, pci_p2pdma_distance_many(pdev, clients, 2, false),
				da + db);
	} else {
		KUNIT_EXPECT_EQ(test, pci_p2pdma_distance_many(pdev, clients, 2, false), -1);
	}

	/* The provider itself adds nothing, but cannot mask a refusal */
	clients[1] = &pdev->dev;
	KUNIT_EXPECT_EQ(test, pci_p2pdma_distance_many(pdev, clients, 2, false),
			da < 0 ? -1 : da);
}

static void p2pdma_test_find(struct kunit *test)
{
	struct pci_dev *pdev = p2p_need_provider(test), *other, *found;
	enum p2p_expect e = p2p_need_expect(test);
	struct device *clients[2];
	unsigned int i;

	/* Distance 0 beats every other provider */
	found = pci_p2pmem_find(&pdev->dev);
	KUNIT_EXPECT_PTR_EQ(test, found, pdev);
	pci_dev_put(found);

	for (i = 0; (other = p2p_nth_other(i)); i++) {
		found = pci_p2pmem_find(&other->dev);
		if (p2p_expect_reachable(e))
			KUNIT_EXPECT_PTR_EQ_MSG(test, found, pdev, "client %s, expect=%s",
						pci_name(other), expect);
		else
			KUNIT_EXPECT_PTR_NE_MSG(test, found, pdev, "client %s, expect=%s",
						pci_name(other), expect);
		pci_dev_put(found);

		clients[0] = &pdev->dev;
		clients[1] = &other->dev;
		found = pci_p2pmem_find_many(clients, 2);
		if (p2p_expect_reachable(e))
			KUNIT_EXPECT_PTR_EQ(test, found, pdev);
		else
			KUNIT_EXPECT_PTR_NE(test, found, pdev);
		pci_dev_put(found);
	}
}

/* ---------------------------------------------------------------------
 * What the DMA layer does with p2pmem
 */

static enum pci_p2pdma_map_type p2p_expected_map(enum p2p_expect e)
{
	switch (e) {
	case P2P_EXPECT_BUS:
		return PCI_P2PDMA_MAP_BUS_ADDR;
	case P2P_EXPECT_HOST:
		return PCI_P2PDMA_MAP_THRU_HOST_BRIDGE;
	default:
		return PCI_P2PDMA_MAP_NOT_SUPPORTED;
	}
}

static enum pci_p2pdma_map_type p2p_map_one(struct device *dev,
					    struct scatterlist *sg, void *addr)
{
	struct pci_p2pdma_map_state state = {};

	sg_init_table(sg, 1);
	/* Not sg_set_buf(): p2pmem is no valid linear address on arm64 */
	sg_set_page(sg, virt_to_page(addr), PAGE_SIZE, offset_in_page(addr));
	return pci_p2pdma_map_segment(&state, dev, sg);
}

static void p2pdma_test_map_segment(struct kunit *test)
{
	struct pci_dev *pdev = p2p_need_provider(test), *other;
	enum pci_p2pdma_map_type map;
	struct scatterlist sg;
	enum p2p_expect e;
	struct p2p_buf *b;
	struct device *dev;
	unsigned int i;

	b = p2p_buf_alloc(test, pdev, PAGE_SIZE);
	KUNIT_ASSERT_NOT_NULL(test, b);

	map = p2p_map_one(&pdev->dev, &sg, b->addr);
	KUNIT_EXPECT_EQ(test, map, PCI_P2PDMA_MAP_BUS_ADDR);
	KUNIT_EXPECT_TRUE(test, sg_dma_is_bus_address(&sg));
	KUNIT_EXPECT_EQ(test, sg_dma_address(&sg), pci_p2pmem_virt_to_bus(pdev, b->addr));
	KUNIT_EXPECT_EQ(test, sg_dma_len(&sg), PAGE_SIZE);

	dev = kunit_device_register(test, "p2pdma-kunit-map");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	map = p2p_map_one(dev, &sg, b->addr);
	KUNIT_EXPECT_EQ(test, map, PCI_P2PDMA_MAP_NOT_SUPPORTED);
	KUNIT_EXPECT_FALSE(test, sg_dma_is_bus_address(&sg));

	e = p2p_need_expect(test);
	for (i = 0; (other = p2p_nth_other(i)); i++) {
		map = p2p_map_one(&other->dev, &sg, b->addr);
		KUNIT_EXPECT_EQ_MSG(test, map, p2p_expected_map(e), "client %s, expect=%s",
				    pci_name(other), expect);
		KUNIT_EXPECT_EQ(test, sg_dma_is_bus_address(&sg), map == PCI_P2PDMA_MAP_BUS_ADDR);
		if (map == PCI_P2PDMA_MAP_BUS_ADDR)
			KUNIT_EXPECT_EQ(test, sg_dma_address(&sg),
					pci_p2pmem_virt_to_bus(pdev, b->addr));
	}
}

struct p2p_dma_case {
	const char *desc;
	bool host_page_first;
};

static const struct p2p_dma_case p2p_dma_cases[] = {
	{ "p2pmem page", false },
	{ "host page, then p2pmem page", true },
};

KUNIT_ARRAY_PARAM_DESC(p2p_dma, p2p_dma_cases, desc);

KUNIT_DEFINE_ACTION_WRAPPER(p2p_sg_free_table, sg_free_table, struct sg_table *);

/* An sg_table whose last entry is a page of p2pmem at @addr. */
static struct sg_table *p2p_dma_table(struct kunit *test, void *addr, bool host_first)
{
	struct sg_table *sgt;
	void *host;

	sgt = kunit_kzalloc(test, sizeof(*sgt), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, sgt);
	KUNIT_ASSERT_EQ(test, sg_alloc_table(sgt, host_first ? 2 : 1, GFP_KERNEL), 0);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, p2p_sg_free_table, sgt), 0);
	if (host_first) {
		host = kunit_kzalloc(test, PAGE_SIZE, GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, host);
		sg_set_buf(sgt->sgl, host, PAGE_SIZE);
		sg_set_page(sg_next(sgt->sgl), virt_to_page(addr), PAGE_SIZE,
			    offset_in_page(addr));
	} else {
		sg_set_page(sgt->sgl, virt_to_page(addr), PAGE_SIZE, offset_in_page(addr));
	}
	return sgt;
}

/*
 * Map with the DMA API for @dev; returns dma_map_sgtable()'s result and
 * checks what it did to the p2pmem entry when @want is BUS_ADDR.
 */
static int p2p_dma_map_check(struct kunit *test, struct device *dev,
			     struct pci_dev *provider, void *addr, bool host_first,
			     enum pci_p2pdma_map_type want)
{
	struct sg_table *sgt = p2p_dma_table(test, addr, host_first);
	struct scatterlist *sg, *p2p = NULL;
	unsigned int i, bus_marked = 0;
	int ret;

	ret = dma_map_sgtable(dev, sgt, DMA_BIDIRECTIONAL, 0);
	if (ret)
		return ret;

	for_each_sgtable_dma_sg(sgt, sg, i) {
		bus_marked += sg_dma_is_bus_address(sg);
		p2p = sg;
	}
	if (want == PCI_P2PDMA_MAP_BUS_ADDR) {
		KUNIT_EXPECT_EQ(test, bus_marked, 1);
		KUNIT_EXPECT_TRUE(test, p2p && sg_dma_is_bus_address(p2p));
		if (p2p) {
			KUNIT_EXPECT_EQ(test, sg_dma_address(p2p),
					pci_p2pmem_virt_to_bus(provider, addr));
			KUNIT_EXPECT_EQ(test, sg_dma_len(p2p), PAGE_SIZE);
		}
	} else {
		KUNIT_EXPECT_EQ(test, bus_marked, 0);
	}
	dma_unmap_sgtable(dev, sgt, DMA_BIDIRECTIONAL, 0);
	return 0;
}

static void p2pdma_test_dma_map_same_function(struct kunit *test)
{
	const struct p2p_dma_case *p = test->param_value;
	struct pci_dev *pdev = p2p_need_provider(test);
	struct p2p_buf *b;

	b = p2p_buf_alloc(test, pdev, PAGE_SIZE);
	KUNIT_ASSERT_NOT_NULL(test, b);
	KUNIT_EXPECT_EQ(test, p2p_dma_map_check(test, &pdev->dev, pdev, b->addr,
						p->host_page_first,
						PCI_P2PDMA_MAP_BUS_ADDR), 0);
}

static void p2pdma_test_dma_map_other_functions(struct kunit *test)
{
	const struct p2p_dma_case *p = test->param_value;
	struct pci_dev *pdev = p2p_need_provider(test), *other;
	enum p2p_expect e = p2p_need_expect(test);
	enum pci_p2pdma_map_type want = p2p_expected_map(e);
	struct p2p_buf *b;
	unsigned int i;
	int ret;

	KUNIT_ASSERT_NOT_NULL_MSG(test, p2p_nth_other(0), "only one NVMe function");
	b = p2p_buf_alloc(test, pdev, PAGE_SIZE);
	KUNIT_ASSERT_NOT_NULL(test, b);

	for (i = 0; (other = p2p_nth_other(i)); i++) {
		ret = p2p_dma_map_check(test, &other->dev, pdev, b->addr,
					p->host_page_first, want);
		KUNIT_EXPECT_EQ_MSG(test, ret,
				    want == PCI_P2PDMA_MAP_NOT_SUPPORTED ? -EREMOTEIO : 0,
				    "client %s, expect=%s", pci_name(other), expect);
	}
}

/* ---------------------------------------------------------------------
 * Trust: untrusted devices, single-page mappings, encrypted guests
 */

static void p2p_trust_again(void *pdev)
{
	((struct pci_dev *)pdev)->untrusted = false;
}

/* Make @pdev untrusted, as if it sat behind an external-facing port. */
static void p2p_make_untrusted(struct kunit *test, struct pci_dev *pdev)
{
	KUNIT_ASSERT_FALSE(test, pdev->untrusted);
	pdev->untrusted = true;
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, p2p_trust_again, pdev), 0);
}

/*
 * An untrusted client, or an untrusted provider, is refused, even by
 * itself; mapping fails with -EREMOTEIO, also through an IOMMU, where the
 * untrusted client takes dma-iommu's swiotlb bounce path.  The provider
 * is registered by the test (the spare BAR), so no verdict is cached yet.
 */
static void p2pdma_test_untrusted_refused(struct kunit *test)
{
	struct p2p_spare *sp = p2p_spare_get(test);
	struct pci_dev *spare = sp->pdev, *nvme = p2p_need_nvme(test);
	struct p2p_buf *b;
	int ret;

	KUNIT_ASSERT_EQ(test, pci_p2pdma_add_resource(spare, P2P_SPARE_BAR, SZ_2M, 0), 0);
	b = p2p_buf_alloc(test, spare, PAGE_SIZE);
	KUNIT_ASSERT_NOT_NULL(test, b);

	p2p_make_untrusted(test, nvme);
	KUNIT_EXPECT_EQ(test, pci_p2pdma_distance(spare, &nvme->dev, true), -1);
	ret = p2p_dma_map_check(test, &nvme->dev, spare, b->addr, false,
				PCI_P2PDMA_MAP_NOT_SUPPORTED);
	KUNIT_EXPECT_EQ(test, ret, -EREMOTEIO);

	p2p_make_untrusted(test, spare);
	KUNIT_EXPECT_EQ(test, pci_p2pdma_distance(spare, &spare->dev, true), -1);
}

/* dma_map_page() and dma_map_single() do not map P2PDMA memory as RAM. */
static void p2pdma_test_dma_map_page_refused(struct kunit *test)
{
	struct pci_dev *pdev = p2p_need_provider(test);
	struct device *dev = &pdev->dev;
	struct p2p_buf *b;
	dma_addr_t addr;

	b = p2p_buf_alloc(test, pdev, PAGE_SIZE);
	KUNIT_ASSERT_NOT_NULL(test, b);

	addr = dma_map_page(dev, virt_to_page(b->addr), 0, PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_EXPECT_TRUE(test, dma_mapping_error(dev, addr));
	if (!dma_mapping_error(dev, addr))
		dma_unmap_page(dev, addr, PAGE_SIZE, DMA_TO_DEVICE);

	addr = dma_map_single(dev, b->addr, PAGE_SIZE, DMA_FROM_DEVICE);
	KUNIT_EXPECT_TRUE(test, dma_mapping_error(dev, addr));
	if (!dma_mapping_error(dev, addr))
		dma_unmap_single(dev, addr, PAGE_SIZE, DMA_FROM_DEVICE);
}

static bool p2p_cc_yes(void)
{
	return true;
}

static bool p2p_cc_no(void)
{
	return false;
}

/*
 * In a guest with encrypted memory nothing is registered, and nothing is
 * left behind; elsewhere the same registration works.  TCG runs no such
 * guest: the test gives both answers through p2pdma_cc_guest()'s stub.
 */
static void p2pdma_test_encrypted_guest(struct kunit *test)
{
	struct p2p_spare *sp = p2p_spare_get(test);
	struct pci_dev *pdev = sp->pdev;
	u64 size;

	kunit_activate_static_stub(test, p2pdma_cc_guest, p2p_cc_yes);
	KUNIT_EXPECT_EQ(test, pci_p2pdma_add_resource(pdev, P2P_SPARE_BAR, SZ_2M, 0),
			-EOPNOTSUPP);
	pci_p2pmem_publish(pdev, true);
	KUNIT_EXPECT_FALSE(test, pci_has_p2pmem(pdev));
	KUNIT_EXPECT_NULL(test, pci_alloc_p2pmem(pdev, PAGE_SIZE));
	KUNIT_EXPECT_EQ(test, p2p_sysfs_read(pdev, "size", &size), -ENOENT);

	kunit_activate_static_stub(test, p2pdma_cc_guest, p2p_cc_no);
	KUNIT_ASSERT_EQ(test, pci_p2pdma_add_resource(pdev, P2P_SPARE_BAR, SZ_2M, 0), 0);
	pci_p2pmem_publish(pdev, true);
	KUNIT_EXPECT_TRUE(test, pci_has_p2pmem(pdev));
	KUNIT_EXPECT_EQ(test, p2p_sysfs_read(pdev, "size", &size), 0);
	KUNIT_EXPECT_EQ(test, size, SZ_2M);
}

/* What the stub of p2pdma_mappable_range() answers */
static struct range p2p_fake_mappable;

static struct range p2p_mappable_fake(void)
{
	return p2p_fake_mappable;
}

/*
 * A range that memory hotplug could not map (arm64 with a small VA and a
 * high PCI window) is refused before anything is made for it, whether it
 * ends past the mappable addresses or starts below them; the part of the
 * same BAR that lies inside is registered.
 */
static void p2pdma_test_unmappable_bar(struct kunit *test)
{
	struct p2p_spare *sp = p2p_spare_get(test);
	struct pci_dev *pdev = sp->pdev;
	u64 bar = pci_resource_start(pdev, P2P_SPARE_BAR), size;

	kunit_activate_static_stub(test, p2pdma_mappable_range, p2p_mappable_fake);
	p2p_fake_mappable = (struct range){ .start = 0, .end = bar + SZ_2M - 1 };
	KUNIT_EXPECT_EQ(test, pci_p2pdma_add_resource(pdev, P2P_SPARE_BAR, SZ_4M, 0),
			-ERANGE);
	KUNIT_EXPECT_FALSE(test, pci_has_p2pmem(pdev));
	KUNIT_EXPECT_EQ(test, p2p_sysfs_read(pdev, "size", &size), -ENOENT);
	KUNIT_ASSERT_EQ(test, pci_p2pdma_add_resource(pdev, P2P_SPARE_BAR, SZ_2M, 0), 0);

	p2p_fake_mappable = (struct range){ .start = bar + SZ_4M, .end = U64_MAX };
	KUNIT_EXPECT_EQ(test, pci_p2pdma_add_resource(pdev, P2P_SPARE_BAR, SZ_2M, SZ_2M),
			-ERANGE);
	KUNIT_ASSERT_EQ(test, pci_p2pdma_add_resource(pdev, P2P_SPARE_BAR, SZ_2M, SZ_4M),
			0);
	KUNIT_EXPECT_EQ(test, p2p_sysfs_read(pdev, "size", &size), 0);
	KUNIT_EXPECT_EQ(test, size, SZ_4M);
}

/* ---------------------------------------------------------------------
 * Verdicts from failed config reads are not kept
 */

/* A fake ACS capability on one port, answered by a wrapper of its bus ops. */
static struct {
	struct pci_dev *port;
	struct pci_ops *real;
	struct pci_ops ops;
	u32 ctrl;		/* what a read of its ACS Control returns */
} p2p_fake_acs;

#define P2P_FAKE_ACS_POS	0x100

static int p2p_fake_acs_read(struct pci_bus *bus, unsigned int devfn, int where,
			     int size, u32 *val)
{
	if (bus == p2p_fake_acs.port->bus && devfn == p2p_fake_acs.port->devfn &&
	    where == P2P_FAKE_ACS_POS + PCI_ACS_CTRL) {
		*val = p2p_fake_acs.ctrl;
		return PCIBIOS_SUCCESSFUL;
	}
	return p2p_fake_acs.real->read(bus, devfn, where, size, val);
}

/* No fake capability first, then the real ops, then no verdict from either */
static void p2p_fake_acs_remove(void *unused)
{
	struct pci_dev *port = p2p_fake_acs.port;

	port->acs_cap = 0;
	pci_bus_set_ops(port->bus, p2p_fake_acs.real);
	p2pdma_forget_verdicts();
}

static void p2p_fake_acs_install(struct kunit *test, struct pci_dev *port)
{
	p2p_fake_acs.port = port;
	p2p_fake_acs.real = port->bus->ops;
	p2p_fake_acs.ops = *port->bus->ops;
	p2p_fake_acs.ops.read = p2p_fake_acs_read;
	p2p_fake_acs.ctrl = 0;
	pci_bus_set_ops(port->bus, &p2p_fake_acs.ops);
	port->acs_cap = P2P_FAKE_ACS_POS;
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, p2p_fake_acs_remove, NULL), 0);
}

/*
 * A port whose ACS Control reads as all ones (unplugged, or in D3cold)
 * refuses the pair below it, but the refusal is not cached: once the port
 * answers again, the next query finds the direct path.  Redirection that
 * the port really reports is cached, until p2pdma_forget_verdicts() (the
 * debugfs invalidate file) drops it.  Needs two NVMe
 * functions below one switch, with no ACS of their own (QEMU's ports).
 */
static void p2pdma_test_acs_read_error_not_cached(struct kunit *test)
{
	struct pci_dev *provider = p2p_need_provider(test), *peer, *port;

	if (p2p_need_expect(test) != P2P_EXPECT_BUS)
		kunit_skip(test, "needs a switch between the NVMe functions");
	peer = p2p_nth_other(0);
	KUNIT_ASSERT_NOT_NULL(test, peer);
	port = pci_upstream_bridge(provider);
	KUNIT_ASSERT_NOT_NULL(test, port);
	if (port->acs_cap)
		kunit_skip(test, "%s has ACS of its own", pci_name(port));

	p2p_fake_acs_install(test, port);
	p2pdma_forget_verdicts();
	p2p_fake_acs.ctrl = ~0;
	KUNIT_EXPECT_EQ(test, pci_p2pdma_distance(provider, &peer->dev, true), -1);
	p2p_fake_acs.ctrl = 0;
	KUNIT_EXPECT_GT(test, pci_p2pdma_distance(provider, &peer->dev, true), 0);

	/* A real redirect is a verdict of its own, kept until invalidated */
	p2pdma_forget_verdicts();
	p2p_fake_acs.ctrl = PCI_ACS_RR;
	KUNIT_EXPECT_EQ(test, pci_p2pdma_distance(provider, &peer->dev, false), -1);
	p2p_fake_acs.ctrl = 0;
	KUNIT_EXPECT_EQ(test, pci_p2pdma_distance(provider, &peer->dev, false), -1);
	p2pdma_forget_verdicts();
	KUNIT_EXPECT_GT(test, pci_p2pdma_distance(provider, &peer->dev, false), 0);
}

/*
 * A lookup that still holds a device which is being removed must not
 * leave a verdict behind for the next device at its address.  Make the
 * spare device untrusted, remove it, ask for its verdict through the
 * reference still held (it is refused as untrusted), then rescan: nothing
 * is cached for the new device at that address, which is trusted and
 * gets a verdict of its own.
 */
static void p2pdma_test_removed_client_no_stale_verdict(struct kunit *test)
{
	struct pci_dev *provider = p2p_need_provider(test), *old, *fresh;
	struct pci_bus *bus;
	int devfn;

	old = pci_get_device(P2P_SPARE_VENDOR, P2P_SPARE_DEVICE, NULL);
	if (!old)
		kunit_skip(test, "no spare device (QEMU ivshmem-plain)");
	bus = old->bus;
	devfn = old->devfn;
	old->untrusted = true;
	pci_stop_and_remove_bus_device_locked(old);
	KUNIT_EXPECT_EQ(test, pci_p2pdma_distance(provider, &old->dev, false), -1);
	pci_dev_put(old);

	pci_lock_rescan_remove();
	pci_rescan_bus(bus);
	pci_unlock_rescan_remove();
	fresh = pci_get_slot(bus, devfn);
	KUNIT_ASSERT_NOT_NULL_MSG(test, fresh, "the spare device did not come back");
	KUNIT_EXPECT_FALSE(test, fresh->untrusted);
	KUNIT_EXPECT_FALSE_MSG(test, p2pdma_verdict_is_cached(provider, fresh),
			       "%s inherited the verdict of the removed device",
			       pci_name(fresh));
	/* The same query on a live device is cached, as it should be */
	pci_p2pdma_distance(provider, &fresh->dev, false);
	KUNIT_EXPECT_TRUE(test, p2pdma_verdict_is_cached(provider, fresh));
	pci_dev_put(fresh);
}

/* ---------------------------------------------------------------------
 * Every allocation failure, one at a time (fault injection)
 *
 * The approach of the iommufd fail_nth selftest, from inside the kernel:
 * a case runs in a task of its own, so it can arm current->fail_nth.
 * Every call that fault injection looks at (failslab, fail_page_alloc)
 * counts it down, and the one that brings it to zero fails.  Step n of a
 * walk fails the n-th such call of the operation.  The walk ends with the
 * first step in which the operation made fewer than n calls: nothing was
 * failed there, so it must have succeeded.
 */

/* Far more than any operation walked here has failure points */
#define P2P_WALK_MAX_STEPS	2000
/* What pci_p2pmem_alloc_sgl() must leave in *nents when it fails */
#define P2P_NENTS_UNSET		12345

#ifdef CONFIG_FAULT_INJECTION
static void p2p_fail_nth_arm(unsigned int nth)
{
	WRITE_ONCE(current->fail_nth, nth);
}

/* Disarm, before anything else can allocate; true if the fault came. */
static bool p2p_fail_nth_disarm(void)
{
	bool injected = !READ_ONCE(current->fail_nth);

	WRITE_ONCE(current->fail_nth, 0);
	return injected;
}
#else
static void p2p_fail_nth_arm(unsigned int nth)
{
}

static bool p2p_fail_nth_disarm(void)
{
	return false;
}
#endif

/*
 * Skip without fault injection.  Fail, rather than pass having failed
 * nothing, when it is built but ignores GFP_KERNEL allocations: the guest
 * must set ignore-gfp-wait to N (and min-order to 0 for fail_page_alloc).
 */
static void p2p_need_fault_injection(struct kunit *test)
{
	struct page *page;
	bool injected;
	void *obj;

	if (!IS_ENABLED(CONFIG_FAULT_INJECTION) || !IS_ENABLED(CONFIG_FAILSLAB))
		kunit_skip(test, "needs CONFIG_FAULT_INJECTION and CONFIG_FAILSLAB");

	p2p_fail_nth_arm(1);
	obj = kmalloc(sizeof(u64), GFP_KERNEL);
	injected = p2p_fail_nth_disarm();
	kfree(obj);
	KUNIT_ASSERT_TRUE_MSG(test, injected && !obj,
			      "failslab does not fail GFP_KERNEL allocations (ignore-gfp-wait?)");
	if (!IS_ENABLED(CONFIG_FAIL_PAGE_ALLOC))
		return;

	p2p_fail_nth_arm(1);
	page = alloc_page(GFP_KERNEL);
	injected = p2p_fail_nth_disarm();
	if (page)
		__free_page(page);
	KUNIT_ASSERT_TRUE_MSG(test, injected && !page,
			      "fail_page_alloc does not fail GFP_KERNEL pages (ignore-gfp-wait, min-order?)");
}

/**
 * struct p2p_walk - an operation walked through its failure points
 * @name: what is walked, for messages
 * @prepare: called before each step, unarmed; may be NULL
 * @run: the operation and nothing else, since it runs armed; 0 or -errno
 * @check: called after each step, unarmed, with what @run returned and
 *	whether the fault was injected; checks the outcome and brings things
 *	back to where the step started
 * @none_ok: the operation may have no failure point at all
 * @step: the step being checked, for messages
 * @points: steps in which a fault was injected
 * @failed: of these, steps in which the operation failed
 * @enomem: of these, failures reported as -ENOMEM
 */
struct p2p_walk {
	const char *name;
	void (*prepare)(struct kunit *test, struct p2p_walk *w);
	int (*run)(struct p2p_walk *w);
	void (*check)(struct kunit *test, struct p2p_walk *w, int ret,
		      bool injected);
	bool none_ok;
	unsigned int step;
	unsigned int points;
	unsigned int failed;
	unsigned int enomem;
};

static void p2p_walk_run(struct kunit *test, struct p2p_walk *w)
{
	bool warned = p2p_warned(), injected = true;
	int ret;

	for (w->step = 1; injected && w->step <= P2P_WALK_MAX_STEPS; w->step++) {
		if (w->prepare)
			w->prepare(test, w);
		p2p_fail_nth_arm(w->step);
		ret = w->run(w);
		injected = p2p_fail_nth_disarm();

		if (injected) {
			w->points++;
			w->failed += ret != 0;
			w->enomem += ret == -ENOMEM;
		} else {
			KUNIT_ASSERT_EQ_MSG(test, ret, 0, "%s failed with no fault injected",
					    w->name);
		}
		w->check(test, w, ret, injected);
	}

	kunit_info(test, "%s: %u failure points (%u failed, %u of them with -ENOMEM; %u tolerated)\n",
		   w->name, w->points, w->failed, w->enomem, w->points - w->failed);
	if (injected)
		KUNIT_FAIL(test, "%s: still failing after %u steps", w->name,
			   P2P_WALK_MAX_STEPS);
	if (!w->none_ok)
		KUNIT_EXPECT_GT_MSG(test, w->points, 0,
				    "%s: no fault was ever injected", w->name);
	p2p_no_new_warn(test, warned);
}

/* The p2pmem "size" and "available" of @pdev read @size and @avail. */
static void p2p_assert_counters(struct kunit *test, const struct p2p_walk *w,
				struct pci_dev *pdev, u64 size, u64 avail)
{
	u64 val;

	KUNIT_ASSERT_EQ(test, p2p_sysfs_read(pdev, "size", &val), 0);
	KUNIT_ASSERT_EQ_MSG(test, val, size, "%s, step %u: size", w->name, w->step);
	KUNIT_ASSERT_EQ(test, p2p_sysfs_read(pdev, "available", &val), 0);
	KUNIT_ASSERT_EQ_MSG(test, val, avail, "%s, step %u: available", w->name,
			    w->step);
}

/* The spare device as a published provider of @size bytes at offset 0. */
static struct p2p_spare *p2p_spare_provider(struct kunit *test, size_t size)
{
	struct p2p_spare *sp = p2p_spare_get(test);

	KUNIT_ASSERT_EQ(test, pci_p2pdma_add_resource(sp->pdev, P2P_SPARE_BAR, size, 0), 0);
	pci_p2pmem_publish(sp->pdev, true);
	KUNIT_ASSERT_TRUE(test, pci_has_p2pmem(sp->pdev));
	return sp;
}

/*
 * Giving a BAR range struct pages also maps it into the kernel's linear
 * map, and x86-64 does not check the page-table allocations it makes for
 * that (alloc_low_pages() returns NULL when it fails): a fault injected
 * there is an oops, not an error.  The guard is a second mapping of the
 * BAR in the same gigabyte, held for the whole walk: the page tables then
 * stay in place and are not allocated again at every step.  It is never
 * accessed, so the caching mode of MEMORY_DEVICE_GENERIC does not matter
 * (ivshmem's BAR is RAM in the host anyway).
 */
#define P2P_GUARD_SIZE		SZ_2M

KUNIT_DEFINE_ACTION_WRAPPER(p2p_memunmap_pages, memunmap_pages, struct dev_pagemap *);

static void p2p_need_safe_linear_map(struct kunit *test)
{
	if (!IS_ENABLED(CONFIG_X86_64))
		kunit_skip(test, "only x86-64 is known to survive these failures");
	if (debug_pagealloc_enabled())
		kunit_skip(test, "debug_pagealloc maps with 4 KiB pages: no guard for that");
}

/* Guard the page tables of the linear map of the spare's BAR, up to @end. */
static void p2p_guard_linear_map(struct kunit *test, struct p2p_spare *sp, u64 end)
{
	u64 len = min_t(u64, pci_resource_len(sp->pdev, P2P_SPARE_BAR), SZ_1G);
	struct dev_pagemap *pgmap;
	resource_size_t start;
	void *addr;

	/* A BAR is aligned to its size: its first gigabyte is one of the map's */
	KUNIT_ASSERT_GE(test, len - P2P_GUARD_SIZE, end);
	start = pci_resource_start(sp->pdev, P2P_SPARE_BAR) + len - P2P_GUARD_SIZE;
	pgmap = kunit_kzalloc(test, sizeof(*pgmap), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, pgmap);
	pgmap->type = MEMORY_DEVICE_GENERIC;
	pgmap->range.start = start;
	pgmap->range.end = start + P2P_GUARD_SIZE - 1;
	pgmap->nr_range = 1;
	addr = memremap_pages(pgmap, dev_to_node(&sp->pdev->dev));
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(addr), "no guard mapping: %pe", addr);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, p2p_memunmap_pages, pgmap), 0);
}

struct p2p_add_walk {
	struct p2p_walk walk;
	struct p2p_spare *sp;
	size_t size;
	u64 offset;
	void *group;		/* second range: the devres group of the step */
	struct pci_p2pdma *state;	/* second range: the provider's state */
	u64 size_before;	/* second range: p2pmem "size" before the step */
};

static struct p2p_add_walk *to_add_walk(struct p2p_walk *w)
{
	return container_of(w, struct p2p_add_walk, walk);
}

static int p2p_add_run(struct p2p_walk *walk)
{
	struct p2p_add_walk *w = to_add_walk(walk);

	return pci_p2pdma_add_resource(w->sp->pdev, P2P_SPARE_BAR, w->size, w->offset);
}

/* Any errno will do, as long as it is one; those not -ENOMEM are shown. */
static void p2p_add_report(struct kunit *test, struct p2p_walk *w, int ret)
{
	KUNIT_ASSERT_LT_MSG(test, ret, 0, "%s, step %u", w->name, w->step);
	if (ret != -ENOMEM)
		kunit_info(test, "%s: step %u failed with %d\n", w->name, w->step, ret);
}

/* Releasing the step's devres group releases nothing: no leftovers. */
static void p2p_add_release_empty(struct kunit *test, struct p2p_add_walk *w,
				  void **group)
{
	int left = devres_release_group(&w->sp->pdev->dev, *group);

	*group = NULL;
	KUNIT_ASSERT_EQ_MSG(test, left, 0, "%s, step %u: devres entries left behind",
			    w->walk.name, w->walk.step);
}

/* The spare is no provider: no state, no sysfs group, not in debugfs. */
static void p2p_assert_no_provider(struct kunit *test, struct p2p_add_walk *w)
{
	struct pci_dev *pdev = w->sp->pdev;
	struct kernfs_node *kn;
	bool group;

	KUNIT_ASSERT_NULL_MSG(test, rcu_access_pointer(pdev->p2pdma),
			      "%s, step %u: provider state left behind", w->walk.name,
			      w->walk.step);
	KUNIT_ASSERT_FALSE(test, pci_has_p2pmem(pdev));
	kn = kernfs_find_and_get(pdev->dev.kobj.sd, "p2pmem");
	group = kn;
	kernfs_put(kn);
	KUNIT_ASSERT_FALSE_MSG(test, group, "%s, step %u: p2pmem sysfs group left behind",
			       w->walk.name, w->walk.step);
	KUNIT_ASSERT_FALSE_MSG(test, p2pdma_is_listed(pdev),
			       "%s, step %u: still on the list of providers",
			       w->walk.name, w->walk.step);
}

/* A first range that was added serves memory once published. */
static void p2p_assert_first_works(struct kunit *test, struct p2p_add_walk *w)
{
	struct pci_dev *pdev = w->sp->pdev;
	struct p2p_buf *b;

	pci_p2pmem_publish(pdev, true);
	KUNIT_ASSERT_TRUE(test, pci_has_p2pmem(pdev));
	p2p_assert_counters(test, &w->walk, pdev, w->size, w->size);
	b = p2p_buf_alloc(test, pdev, PAGE_SIZE);
	KUNIT_ASSERT_NOT_NULL_MSG(test, b, "%s, step %u: no page", w->walk.name,
				  w->walk.step);
	p2p_check_buf(test, pdev, b->addr, PAGE_SIZE);
	p2p_buf_free(test, b);
}

static void p2p_first_check(struct kunit *test, struct p2p_walk *walk, int ret,
			    bool injected)
{
	struct p2p_add_walk *w = to_add_walk(walk);
	struct p2p_spare *sp = w->sp;

	if (ret) {
		p2p_add_report(test, walk, ret);
		p2p_assert_no_provider(test, w);
		p2p_add_release_empty(test, w, &sp->group);
	} else {
		p2p_assert_first_works(test, w);
		p2p_spare_teardown(test, sp);
		p2p_assert_no_provider(test, w);
	}
	/* The next step, and p2p_spare_release(), start from an open group */
	sp->group = devres_open_group(&sp->pdev->dev, NULL, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, sp->group);
}

/*
 * A first range that fails to be added leaves no provider behind; one
 * added despite a failure works, and is torn down for the next step.
 */
static void p2pdma_test_fail_add_first_range(struct kunit *test)
{
	struct p2p_add_walk w = {
		.walk = {
			.name = "add_resource(first range)",
			.run = p2p_add_run,
			.check = p2p_first_check,
		},
		.size = SZ_4M,
	};

	p2p_need_fault_injection(test);
	p2p_need_safe_linear_map(test);
	w.sp = p2p_spare_get(test);
	p2p_guard_linear_map(test, w.sp, w.offset + w.size);

	p2p_assert_no_provider(test, &w);
	p2p_walk_run(test, &w.walk);
}

/*
 * The same for a range across a memory section boundary: memory hotplug
 * adds it section by section, and a failure in the second section must
 * take the first one back out, or the next attempt finds it present.
 */
static void p2pdma_test_fail_add_across_sections(struct kunit *test)
{
	const u64 section = 1ULL << SECTION_SIZE_BITS;
	struct p2p_add_walk w = {
		.walk = {
			.name = "add_resource(across a section boundary)",
			.run = p2p_add_run,
			.check = p2p_first_check,
		},
		.size = SZ_4M,
		.offset = section - SZ_2M,
	};

	p2p_need_fault_injection(test);
	p2p_need_safe_linear_map(test);
	w.sp = p2p_spare_get(test);
	/* A BAR is aligned to its size: with two sections, one starts inside */
	if (pci_resource_len(w.sp->pdev, P2P_SPARE_BAR) < 2 * section)
		kunit_skip(test, "the spare BAR is smaller than two memory sections");
	p2p_guard_linear_map(test, w.sp, w.offset + w.size);

	p2p_assert_no_provider(test, &w);
	p2p_walk_run(test, &w.walk);
}

static void p2p_second_prepare(struct kunit *test, struct p2p_walk *walk)
{
	struct p2p_add_walk *w = to_add_walk(walk);

	w->group = devres_open_group(&w->sp->pdev->dev, NULL, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, w->group);
}

/* With the first range full, the next allocation is the second range's. */
static void p2p_assert_second_serves(struct kunit *test, struct p2p_add_walk *w)
{
	struct pci_dev *pdev = w->sp->pdev;
	pci_bus_addr_t bus;
	struct p2p_buf *a, *b;

	a = p2p_buf_alloc(test, pdev, w->size_before);
	b = p2p_buf_alloc(test, pdev, w->size);
	KUNIT_ASSERT_NOT_NULL(test, a);
	KUNIT_ASSERT_NOT_NULL(test, b);
	bus = pci_bus_address(pdev, P2P_SPARE_BAR) + w->offset;
	KUNIT_EXPECT_EQ_MSG(test, pci_p2pmem_virt_to_bus(pdev, b->addr), bus,
			    "%s, step %u", w->walk.name, w->walk.step);
	p2p_buf_free(test, b);
	p2p_buf_free(test, a);
}

static void p2p_second_check(struct kunit *test, struct p2p_walk *walk, int ret,
			     bool injected)
{
	struct p2p_add_walk *w = to_add_walk(walk);
	struct pci_dev *pdev = w->sp->pdev;
	u64 before = w->size_before;

	if (ret) {
		p2p_add_report(test, walk, ret);
		KUNIT_ASSERT_PTR_EQ(test, rcu_access_pointer(pdev->p2pdma), w->state);
		KUNIT_ASSERT_TRUE(test, pci_has_p2pmem(pdev));
		KUNIT_ASSERT_TRUE(test, p2pdma_is_listed(pdev));
		p2p_assert_counters(test, walk, pdev, before, before);
		p2p_add_release_empty(test, w, &w->group);
		return;
	}
	p2p_assert_counters(test, walk, pdev, before + w->size, before + w->size);
	p2p_assert_second_serves(test, w);
	/* Only the second range goes: it was added inside the step's group */
	devres_release_group(&pdev->dev, w->group);
	w->group = NULL;
	KUNIT_ASSERT_TRUE(test, pci_has_p2pmem(pdev));
	p2p_assert_counters(test, walk, pdev, before, before);
}

/*
 * A second range that fails to be added leaves the provider as it was,
 * serving its first range; one added despite a failure serves memory.
 * Each step adds the range in a devres group of its own, nested in the
 * spare's, so that releasing it takes down the second range only.  The
 * first range keeps the linear map's page tables, as the guard does above.
 */
static void p2pdma_test_fail_add_second_range(struct kunit *test)
{
	struct p2p_add_walk w = {
		.walk = {
			.name = "add_resource(second range)",
			.prepare = p2p_second_prepare,
			.run = p2p_add_run,
			.check = p2p_second_check,
		},
		.size = SZ_2M,
		.offset = SZ_8M,
		.size_before = SZ_4M,
	};

	p2p_need_fault_injection(test);
	p2p_need_safe_linear_map(test);
	w.sp = p2p_spare_provider(test, w.size_before);
	w.state = rcu_access_pointer(w.sp->pdev->p2pdma);
	p2p_assert_counters(test, &w.walk, w.sp->pdev, w.size_before, w.size_before);
	p2p_walk_run(test, &w.walk);
}

struct p2p_sgl_walk {
	struct p2p_walk walk;
	struct p2p_sgl s;
	u32 length;
	u64 size;		/* p2pmem "size" and "available" before */
};

static struct p2p_sgl_walk *to_sgl_walk(struct p2p_walk *w)
{
	return container_of(w, struct p2p_sgl_walk, walk);
}

static void p2p_sgl_prepare(struct kunit *test, struct p2p_walk *walk)
{
	struct p2p_sgl_walk *w = to_sgl_walk(walk);

	w->s.sgl = NULL;
	w->s.nents = P2P_NENTS_UNSET;
}

static int p2p_sgl_run(struct p2p_walk *walk)
{
	struct p2p_sgl_walk *w = to_sgl_walk(walk);

	w->s.sgl = pci_p2pmem_alloc_sgl(w->s.pdev, &w->s.nents, w->length);
	return w->s.sgl ? 0 : -ENOMEM;
}

static void p2p_sgl_check(struct kunit *test, struct p2p_walk *walk, int ret,
			  bool injected)
{
	struct p2p_sgl_walk *w = to_sgl_walk(walk);
	struct pci_dev *pdev = w->s.pdev;

	if (ret) {
		KUNIT_ASSERT_EQ_MSG(test, w->s.nents, P2P_NENTS_UNSET,
				    "%s, step %u: *nents written", walk->name, walk->step);
		p2p_assert_counters(test, walk, pdev, w->size, w->size);
		return;
	}
	/* Freed by KUnit if a check below ends the case */
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, p2p_sgl_release, &w->s), 0);
	p2p_check_sgl(test, w->s.sgl, w->s.nents, w->length, w->length);
	p2p_assert_counters(test, walk, pdev, w->size, w->size - PAGE_ALIGN(w->length));
	kunit_release_action(test, p2p_sgl_release, &w->s);
	p2p_assert_counters(test, walk, pdev, w->size, w->size);
}

/*
 * A list that cannot be allocated takes no memory and writes no *nents;
 * the 1 MiB list falls back to 256 KiB entries when its one-entry list
 * cannot be allocated, and that must work too.
 */
static void p2pdma_test_fail_alloc_sgl(struct kunit *test)
{
	static const u32 lengths[] = { PAGE_SIZE, SZ_1M };
	static const char * const names[] = {
		"alloc_sgl(1 page)", "alloc_sgl(1 MiB)",
	};
	struct p2p_sgl_walk *w;
	struct p2p_spare *sp;
	unsigned int i;

	p2p_need_fault_injection(test);
	sp = p2p_spare_provider(test, SZ_4M);
	/* Not on the stack: a list is released by KUnit if a check fails */
	w = kunit_kzalloc(test, sizeof(*w), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, w);
	for (i = 0; i < ARRAY_SIZE(lengths); i++) {
		*w = (struct p2p_sgl_walk) {
			.walk = {
				.name = names[i],
				.prepare = p2p_sgl_prepare,
				.run = p2p_sgl_run,
				.check = p2p_sgl_check,
			},
			.s.pdev = sp->pdev,
			.length = lengths[i],
			.size = SZ_4M,
		};
		p2p_walk_run(test, &w->walk);
	}
	/* One failure, of the one-entry list or later, the fallback survives */
	KUNIT_EXPECT_EQ_MSG(test, w->walk.failed, 0,
			    "%s: the fallback to smaller entries did not work",
			    w->walk.name);
}

struct p2p_enable_walk {
	struct p2p_walk walk;
	const char *text;
	struct pci_dev *named;	/* what the store must return, with a reference */
	bool want;		/* what it must set *use_p2pdma to */
	struct pci_dev *p2p_dev;
	bool use;
	unsigned int refs;
};

static struct p2p_enable_walk *to_enable_walk(struct p2p_walk *w)
{
	return container_of(w, struct p2p_enable_walk, walk);
}

static void p2p_enable_prepare(struct kunit *test, struct p2p_walk *walk)
{
	struct p2p_enable_walk *w = to_enable_walk(walk);

	w->p2p_dev = ERR_PTR(-ESRCH);
	w->use = !w->want;
	w->refs = w->named ? p2p_dev_refs(w->named) : 0;
}

static int p2p_enable_run(struct p2p_walk *walk)
{
	struct p2p_enable_walk *w = to_enable_walk(walk);

	return pci_p2pdma_enable_store(w->text, &w->p2p_dev, &w->use);
}

static void p2p_enable_check(struct kunit *test, struct p2p_walk *walk, int ret,
			     bool injected)
{
	struct p2p_enable_walk *w = to_enable_walk(walk);

	if (ret) {
		KUNIT_ASSERT_EQ_MSG(test, ret, -ENOMEM, "%s, step %u", walk->name, walk->step);
		KUNIT_ASSERT_PTR_EQ(test, w->p2p_dev, ERR_PTR(-ESRCH));
		KUNIT_ASSERT_EQ(test, w->use, !w->want);
		if (w->named)
			KUNIT_ASSERT_EQ(test, p2p_dev_refs(w->named), w->refs);
		return;
	}
	if (!IS_ERR_OR_NULL(w->p2p_dev))
		KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, p2p_dev_put,
								w->p2p_dev), 0);
	KUNIT_ASSERT_PTR_EQ(test, w->p2p_dev, w->named);
	KUNIT_ASSERT_EQ(test, w->use, w->want);
	if (!w->named)
		return;
	KUNIT_ASSERT_EQ(test, p2p_dev_refs(w->named), w->refs + 1);
	kunit_release_action(test, p2p_dev_put, w->p2p_dev);
	KUNIT_ASSERT_EQ(test, p2p_dev_refs(w->named), w->refs);
}

/*
 * Parsing takes a reference at most: a failure must not keep it, nor set
 * anything.  The store allocates nothing today, so a walk of no failure
 * point is fine here: p2p_need_fault_injection() has shown that faults
 * would be injected, and the walk covers whatever the store calls later.
 */
static void p2pdma_test_fail_enable_store(struct kunit *test)
{
	struct p2p_enable_walk w;
	struct p2p_spare *sp;
	unsigned int i;

	p2p_need_fault_injection(test);
	sp = p2p_spare_provider(test, SZ_2M);
	for (i = 0; i < 2; i++) {
		w = (struct p2p_enable_walk) {
			.walk = {
				.name = i ? "enable_store(\"1\")" : "enable_store(provider name)",
				.prepare = p2p_enable_prepare,
				.run = p2p_enable_run,
				.check = p2p_enable_check,
				.none_ok = true,
			},
			.text = i ? "1" : pci_name(sp->pdev),
			.named = i ? NULL : sp->pdev,
			.want = true,
		};
		p2p_walk_run(test, &w.walk);
	}
}

static const char * const p2p_debugfs_files[] = {
	"providers", "paths", "invalidate",
};

struct p2p_debugfs_walk {
	struct p2p_walk walk;
	struct dentry *parent;
	struct dentry *dir;
};

static struct p2p_debugfs_walk *to_debugfs_walk(struct p2p_walk *w)
{
	return container_of(w, struct p2p_debugfs_walk, walk);
}

static int p2p_debugfs_run(struct p2p_walk *walk)
{
	struct p2p_debugfs_walk *w = to_debugfs_walk(walk);

	w->dir = p2pdma_debugfs_create(w->parent);
	return PTR_ERR_OR_ZERO(w->dir);
}

/* Whether @parent holds @name; looks it up, so this allocates. */
static bool p2p_debugfs_has(struct dentry *parent, const char *name)
{
	struct dentry *d = debugfs_lookup(name, parent);
	bool found = d;

	dput(d);
	return found;
}

static void p2p_debugfs_check(struct kunit *test, struct p2p_walk *walk, int ret,
			      bool injected)
{
	struct p2p_debugfs_walk *w = to_debugfs_walk(walk);
	unsigned int i;

	/* Failures are tolerated; a run with none must create everything */
	for (i = 0; !injected && i < ARRAY_SIZE(p2p_debugfs_files); i++)
		KUNIT_ASSERT_TRUE_MSG(test, p2p_debugfs_has(w->dir, p2p_debugfs_files[i]),
				      "%s: no %s", walk->name, p2p_debugfs_files[i]);
	debugfs_remove(w->dir);
	w->dir = NULL;
	KUNIT_ASSERT_FALSE_MSG(test, p2p_debugfs_has(w->parent, "p2pdma"),
			       "%s, step %u: the directory outlived its removal",
			       walk->name, walk->step);
	KUNIT_ASSERT_TRUE_MSG(test, simple_empty(w->parent),
			      "%s, step %u: something was left in %pd", walk->name,
			      walk->step, w->parent);
}

KUNIT_DEFINE_ACTION_WRAPPER(p2p_debugfs_remove, debugfs_remove, struct dentry *);

/*
 * The debugfs files are made in a directory that belongs to the case, so
 * that the real ones stay as they are.  A failure may cost a file or all
 * of them, but nothing else, and debugfs_remove() takes everything away.
 */
static void p2pdma_test_fail_debugfs_create(struct kunit *test)
{
	struct p2p_debugfs_walk w = {
		.walk = {
			.name = "debugfs_create",
			.run = p2p_debugfs_run,
			.check = p2p_debugfs_check,
		},
	};

	p2p_need_fault_injection(test);
	w.parent = debugfs_create_dir("p2pdma-kunit", NULL);
	if (IS_ERR(w.parent))
		kunit_skip(test, "no debugfs directory for the case: %pe", w.parent);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, p2p_debugfs_remove,
							w.parent), 0);
	p2p_walk_run(test, &w.walk);
}

static struct kunit_case p2pdma_test_cases[] = {
	KUNIT_CASE(p2pdma_test_environment),
	KUNIT_CASE_PARAM(p2pdma_test_add_resource_rejects, p2p_add_gen_params),
	KUNIT_CASE_PARAM(p2pdma_test_enable_store, p2p_enable_gen_params),
	KUNIT_CASE(p2pdma_test_enable_show),
	KUNIT_CASE(p2pdma_test_enable_show_any_buffer),
	KUNIT_CASE(p2pdma_test_alloc_zero),
	KUNIT_CASE_PARAM(p2pdma_test_alloc_too_big, p2p_big_gen_params),
	KUNIT_CASE_PARAM(p2pdma_test_alloc_free_balance, p2p_size_gen_params),
	KUNIT_CASE(p2pdma_test_alloc_distinct_in_bar),
	KUNIT_CASE(p2pdma_test_virt_to_bus_foreign),
	KUNIT_CASE(p2pdma_test_alloc_write_read),
	KUNIT_CASE(p2pdma_test_alloc_exhaust_then_free),
	KUNIT_CASE(p2pdma_test_alloc_not_cleared),
	KUNIT_CASE_PARAM(p2pdma_test_alloc_sgl, p2p_sgl_gen_params),
	KUNIT_CASE(p2pdma_test_alloc_sgl_fragmented),
	KUNIT_CASE(p2pdma_test_alloc_sgl_too_big),
	KUNIT_CASE(p2pdma_test_sgl_is_iomem),
	KUNIT_CASE(p2pdma_test_sgl_iomem_dma_map),
	KUNIT_CASE(p2pdma_test_several_ranges),
	KUNIT_CASE(p2pdma_test_failed_add_unwinds),
	KUNIT_CASE_SLOW(p2pdma_test_fail_add_first_range),
	KUNIT_CASE_SLOW(p2pdma_test_fail_add_across_sections),
	KUNIT_CASE_SLOW(p2pdma_test_fail_add_second_range),
	KUNIT_CASE(p2pdma_test_fail_alloc_sgl),
	KUNIT_CASE(p2pdma_test_fail_enable_store),
	KUNIT_CASE(p2pdma_test_fail_debugfs_create),
	KUNIT_CASE(p2pdma_test_teardown_withdraws_first),
	KUNIT_CASE_PARAM(p2pdma_test_free_invalid, p2p_bad_free_gen_params),
	KUNIT_CASE(p2pdma_test_sysfs_counters),
	KUNIT_CASE(p2pdma_test_publish_toggle),
	KUNIT_CASE(p2pdma_test_no_p2pmem_device),
	KUNIT_CASE_SLOW(p2pdma_test_alloc_concurrent),
	KUNIT_CASE(p2pdma_test_distance_same_function),
	KUNIT_CASE(p2pdma_test_distance_child_device),
	KUNIT_CASE(p2pdma_test_distance_non_pci_client),
	KUNIT_CASE(p2pdma_test_distance_no_clients),
	KUNIT_CASE(p2pdma_test_distance_other_functions),
	KUNIT_CASE(p2pdma_test_distance_many),
	KUNIT_CASE(p2pdma_test_find),
	KUNIT_CASE(p2pdma_test_map_segment),
	KUNIT_CASE_PARAM(p2pdma_test_dma_map_same_function, p2p_dma_gen_params),
	KUNIT_CASE_PARAM(p2pdma_test_dma_map_other_functions, p2p_dma_gen_params),
	KUNIT_CASE(p2pdma_test_untrusted_refused),
	KUNIT_CASE(p2pdma_test_dma_map_page_refused),
	KUNIT_CASE(p2pdma_test_encrypted_guest),
	KUNIT_CASE(p2pdma_test_unmappable_bar),
	KUNIT_CASE(p2pdma_test_acs_read_error_not_cached),
	KUNIT_CASE(p2pdma_test_removed_client_no_stale_verdict),
	{}
};

static struct kunit_suite p2pdma_test_suite = {
	.name = "p2pdma",
	.suite_init = p2p_suite_init,
	.suite_exit = p2p_suite_exit,
	.test_cases = p2pdma_test_cases,
};

kunit_test_suite(p2pdma_test_suite);

MODULE_DESCRIPTION("KUnit tests for the PCI peer-to-peer DMA core");
MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
MODULE_LICENSE("GPL");
