// SPDX-License-Identifier: GPL-2.0
/*
 * User mappings of p2pmem where the series deliberately does better than
 * the base kernel.  The base has none of this, so the tests skip there
 * (detected by the absence of the P2PDMA debugfs view):
 *
 *  - every page of a new mapping reads as zero, whoever used it before: an
 *    earlier mapping written by the CPU or by a device, or a kernel user
 *    (the KUnit suites, which run first, leave the pool full of kernel
 *    data).  The base hands out the previous owner's bytes;
 *  - a page that comes back clean is not cleared again, and a dirty one
 *    is (the "zeroed" column of debugfs/p2pdma/providers);
 *  - a store after an mprotect() round trip, or after clear_refs reset the
 *    soft-dirty bits, completes.  On the base it never does: the fault is
 *    retried forever.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/wait.h>

#include "../kselftest_harness.h"
#include "p2pdma_util.h"

#define DBG		"/sys/kernel/debug/p2pdma"
/* Bit 55 of a pagemap entry, Documentation/admin-guide/mm/pagemap.rst */
#define PM_SOFT_DIRTY	0x0080000000000000ull

static bool have_core(void)
{
	return access(DBG "/paths", R_OK) == 0;
}

FIXTURE(safety)
{
	struct nvme_fn fns[MAX_NVME];
	int provider;
	const char *pci;
	int fd;
	long page;
};

FIXTURE_SETUP(safety)
{
	int n;

	self->fd = -1;
	self->page = sysconf(_SC_PAGESIZE);
	if (!have_core())
		SKIP(return, "the base kernel lacks these fixes (no P2PDMA debugfs view)");
	n = nvme_enumerate(self->fns, MAX_NVME);
	self->provider = first_provider(self->fns, n);
	if (self->provider < 0) {
		ASSERT_STREQ("none", p2p_expect()) TH_LOG("no provider, yet one is expected");
		SKIP(return, "no p2pmem provider in this topology");
	}
	self->pci = self->fns[self->provider].pci;
	self->fd = p2pmem_open(self->pci);
	ASSERT_GE(self->fd, 0);
}

FIXTURE_TEARDOWN(safety)
{
	if (self->fd >= 0)
		close(self->fd);
}

static uint64_t avail(struct __test_metadata *_metadata, const char *pci)
{
	uint64_t v = 0;

	EXPECT_EQ(0, p2pmem_read(pci, "available", &v));
	return v;
}

static uint64_t zeroed(struct __test_metadata *_metadata, const char *pci)
{
	struct dbg_provider p = {};

	EXPECT_EQ(0, dbg_provider_line(pci, &p));
	return p.zeroed;
}

/*
 * Pages of @p that are not zero.  Pages are cleared whole, so the first,
 * a middle and the last word of each page stand for the page.
 */
static size_t nonzero_pages(const uint8_t *p, size_t len, long page)
{
	size_t off, bad = 0;

	for (off = 0; off < len; off += page)
		bad += io_read64(p + off) || io_read64(p + off + page / 2) ||
		       io_read64(p + off + page - 8);
	return bad;
}

/* Store a non-zero word into each page of @p, which makes it dirty. */
static void dirty_pages(uint8_t *p, size_t len, long page)
{
	size_t off;

	for (off = 0; off < len; off += page)
		io_write64(p + off + page / 2, 0xdead0000 | off);
}

/* Map the whole pool of @pci through @fd; every page must read as zero. */
static size_t map_all_check_zero(struct __test_metadata *_metadata,
				 const char *pci, int fd, long page,
				 uint8_t **map)
{
	size_t len = avail(_metadata, pci);
	uint8_t *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	EXPECT_NE(MAP_FAILED, p) TH_LOG("mmap of %zu bytes: %s", len, strerror(errno));
	if (p == MAP_FAILED) {
		*map = NULL;
		return 0;
	}
	EXPECT_EQ(0, nonzero_pages(p, len, page)) TH_LOG("of %zu pages", len / page);
	*map = p;
	return len;
}

#define MAP_ALL(map)	map_all_check_zero(_metadata, self->pci, self->fd, self->page, map)

/* What an earlier mapping wrote is gone from the next one. */
TEST_F(safety, zero_after_cpu_stores)
{
	uint8_t *p;
	size_t len;

	len = MAP_ALL(&p);
	ASSERT_NE(NULL, p);
	dirty_pages(p, len, self->page);
	ASSERT_EQ(len / self->page, nonzero_pages(p, len, self->page));
	ASSERT_EQ(0, munmap(p, len));

	len = MAP_ALL(&p);
	ASSERT_NE(NULL, p);
	EXPECT_EQ(0, munmap(p, len));
}

/* What a device wrote into a mapping (O_DIRECT read) is gone too. */
TEST_F(safety, zero_after_device_writes)
{
	const struct nvme_fn *fn = &self->fns[self->provider];
	size_t len = 64 * 1024;
	void *ram, *p;
	uint8_t *all;
	size_t all_len;

	if (!fn->ns[0])
		SKIP(return, "the provider has no namespace");
	ASSERT_EQ(0, posix_memalign(&ram, 4096, len));
	fill_pattern(ram, len, 0x5eed5eedull);
	ASSERT_EQ((ssize_t)len, direct_io(fn->ns, true, ram, len, 0));

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ((ssize_t)len, direct_io(fn->ns, false, p, len, 0));
	EXPECT_EQ(0, memcmp(p, ram, len)) TH_LOG("the device's data did not arrive");
	ASSERT_EQ(0, munmap(p, len));
	free(ram);

	/* The whole pool holds those pages again. */
	all_len = MAP_ALL(&all);
	ASSERT_NE(NULL, all);
	EXPECT_EQ(0, munmap(all, all_len));
}

/*
 * Clearing is paid once: pages that were only read come back known to be
 * zero and are not cleared again; pages that were written are.
 */
TEST_F(safety, clean_pages_not_cleared_again)
{
	uint64_t z0, z1, z2;
	size_t len, len2;
	uint8_t *p;

	len = MAP_ALL(&p);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, munmap(p, len));

	z0 = zeroed(_metadata, self->pci);
	len2 = MAP_ALL(&p);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(len, len2);
	z1 = zeroed(_metadata, self->pci);
	EXPECT_EQ(z0, z1) TH_LOG("pages that were only read were cleared again");

	dirty_pages(p + 3 * self->page, 5 * self->page, self->page);
	ASSERT_EQ(0, munmap(p, len));
	len2 = MAP_ALL(&p);
	ASSERT_NE(NULL, p);
	z2 = zeroed(_metadata, self->pci);
	EXPECT_EQ(5 * self->page, z2 - z1) TH_LOG("5 pages were written");
	EXPECT_EQ(0, munmap(p, len2));
}

/*
 * Run @fn in a child with an alarm: a store that never completes ends in
 * SIGALRM instead of hanging the test.  Returns the child's wait status.
 */
static int in_child(void (*fn)(uint64_t *p, long page), uint64_t *p, long page)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		alarm(5);
		fn(p, page);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

static void mprotect_round_trip(uint64_t *p, long page)
{
	uint64_t *q = p + page / sizeof(*p);

	io_write64(p, 1);	/* page 0 dirty, page 1 never written */
	if (mprotect(p, 2 * page, PROT_READ) ||
	    mprotect(p, 2 * page, PROT_READ | PROT_WRITE))
		_exit(2);
	io_write64(p, 0x1111);
	io_write64(q, 0x2222);
	_exit(io_read64(p) == 0x1111 && io_read64(q) == 0x2222 ? 0 : 3);
}

TEST_F(safety, store_after_mprotect_round_trip)
{
	uint64_t *p;
	int status;

	p = mmap(NULL, 2 * self->page, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	status = in_child(mprotect_round_trip, p, self->page);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("child status %#x (signal %d)", status,
		       WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	/* The child's stores are in the shared memory. */
	EXPECT_EQ(0x1111, io_read64(p));
	EXPECT_EQ(0x2222, io_read64(p + self->page / sizeof(*p)));
	EXPECT_EQ(0, munmap(p, 2 * self->page));
}

static bool soft_dirty(const void *addr, long page)
{
	uint64_t ent = 0;
	int fd;

	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0)
		return false;
	if (pread(fd, &ent, sizeof(ent), (uintptr_t)addr / page * sizeof(ent)) != sizeof(ent))
		ent = 0;
	close(fd);
	return ent & PM_SOFT_DIRTY;
}

static void clear_refs_then_store(uint64_t *p, long page)
{
	int fd;

	io_write64(p, 1);
	fd = open("/proc/self/clear_refs", O_WRONLY);
	if (fd < 0 || write(fd, "4", 1) != 1)
		_exit(2);
	close(fd);
	if (soft_dirty(p, page))
		_exit(4);	/* clear_refs did not clear it */
	io_write64(p, 0x3333);
	if (!soft_dirty(p, page))
		_exit(5);	/* the store was not tracked */
	_exit(io_read64(p) == 0x3333 ? 0 : 3);
}

/*
 * Whether the kernel tracks soft-dirty bits at all (CONFIG_MEM_SOFT_DIRTY,
 * which some architectures lack): a page just written to is soft-dirty.
 */
static bool tracks_soft_dirty(long page)
{
	bool dirty;
	char *p;

	p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return false;
	*p = 1;
	dirty = soft_dirty(p, page);
	munmap(p, page);
	return dirty;
}

/* What CRIU does to track writes: the store faults, then completes. */
TEST_F(safety, store_after_clear_soft_dirty)
{
	uint64_t *p;
	int status;

	if (access("/proc/self/clear_refs", W_OK))
		SKIP(return, "no /proc/PID/clear_refs (CONFIG_PROC_PAGE_MONITOR)");
	if (!tracks_soft_dirty(self->page))
		SKIP(return, "this kernel does not track soft-dirty pages");
	p = mmap(NULL, self->page, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	status = in_child(clear_refs_then_store, p, self->page);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("child status %#x (signal %d)", status,
		       WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	EXPECT_EQ(0x3333, io_read64(p));
	EXPECT_EQ(0, munmap(p, self->page));
}

TEST_HARNESS_MAIN
