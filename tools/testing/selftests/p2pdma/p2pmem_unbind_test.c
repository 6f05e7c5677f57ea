// SPDX-License-Identifier: GPL-2.0
/*
 * Removing a provider while user space maps its memory: unbinding the
 * driver must neither crash nor hang, must revoke the mapping (a later
 * access gets SIGBUS), and binding the driver again must bring the whole
 * pool back.  Runs last in the plan: it unbinds the provider's driver.
 *
 * Two tests are of fixes the base kernel lacks, and skip there (no P2PDMA
 * debugfs view): unbinding while other processes map and unmap in a loop
 * (the base can wait forever for a mapping whose mmap() raced with the
 * removal of the file), and user mappings that follow the memory type PAT
 * granted when a resourceN mapping held across a rebind makes it UC-.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include "../kselftest_harness.h"
#include "p2pdma_util.h"

#define MAPLEN	(64 * 1024)
#define DBG		"/sys/kernel/debug/p2pdma"
#define PAT_LIST	"/sys/kernel/debug/x86/pat_memtype_list"
#define PTDUMP		"/sys/kernel/debug/page_tables/current_kernel"

static bool have_core(void)
{
	return access(DBG "/paths", R_OK) == 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int driver_write(const char *pci, const char *what)
{
	char path[PATH_MAX], drv[PATH_MAX + 16];
	int fd, ret = 0;

	/* Unbind through the device's driver, bind through the NVMe driver. */
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver", pci);
	if (!strcmp(what, "bind"))
		snprintf(path, sizeof(path), "/sys/bus/pci/drivers/nvme");
	snprintf(drv, sizeof(drv), "%s/%s", path, what);
	fd = open(drv, O_WRONLY);
	if (fd < 0)
		return -errno;
	if (write(fd, pci, strlen(pci)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* Wait up to @secs for p2pmem of @pci to (re)appear with its full size. */
static bool wait_p2pmem(const char *pci, uint64_t size, int secs)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	uint64_t v;
	int i;

	for (i = 0; i < secs * 10; i++) {
		if (has_p2pmem(pci) && !p2pmem_read(pci, "size", &v) && v == size)
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

/* Touch @p in a child; return the signal that killed it, or 0. */
static int touch_in_child(void *p)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		io_write64(p, 1);
		_exit(io_read64(p) == 1 ? 0 : 1);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

TEST(unbind_with_live_mapping)
{
	struct nvme_fn fns[MAX_NVME];
	int p = first_provider(fns, nvme_enumerate(fns, MAX_NVME));
	uint64_t size, avail, after;
	void *map, *other;
	const char *pci;
	int fd;

	if (p < 0) {
		ASSERT_TRUE(!strcmp(p2p_expect(), "none"));
		SKIP(return, "no p2pmem provider in this topology");
	}
	pci = fns[p].pci;
	ASSERT_EQ(0, p2pmem_read(pci, "size", &size));
	ASSERT_EQ(0, p2pmem_read(pci, "available", &avail));

	map = p2pmem_map(pci, MAPLEN);
	ASSERT_NE(MAP_FAILED, map);
	io_write64(map, 0xabcdef);
	ASSERT_EQ(0, touch_in_child(map)) TH_LOG("the mapping works before unbind");
	fd = p2pmem_open(pci);
	ASSERT_GE(fd, 0);

	ASSERT_EQ(0, driver_write(pci, "unbind"));
	EXPECT_FALSE(has_p2pmem(pci)) TH_LOG("p2pmem/ outlived the driver");
	EXPECT_EQ(SIGBUS, touch_in_child(map)) TH_LOG("access after unbind");
	/* A descriptor opened before cannot map any more, nor can a new one. */
	other = mmap(NULL, MAPLEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	EXPECT_EQ(MAP_FAILED, other);
	EXPECT_EQ(ENODEV, errno);
	if (other != MAP_FAILED)
		munmap(other, MAPLEN);
	close(fd);
	EXPECT_EQ(-1, p2pmem_open(pci));
	EXPECT_EQ(ENOENT, errno);

	ASSERT_EQ(0, driver_write(pci, "bind"));
	ASSERT_TRUE(wait_p2pmem(pci, size, 20)) TH_LOG("p2pmem did not come back");
	ASSERT_EQ(0, p2pmem_read(pci, "available", &after));
	EXPECT_EQ(avail, after) TH_LOG("the pool is not whole again");
	EXPECT_EQ(0, munmap(map, MAPLEN));
	ASSERT_EQ(0, p2pmem_read(pci, "available", &after));
	EXPECT_EQ(avail, after);
}

/* ---------------------------------------------------------------------
 * Unbinding while other processes map, touch and unmap in a loop
 */

#define STORM_CHILDREN	4
#define STORM_LEN	(1024 * 1024)
#define UNBIND_SECS	10	/* the limit for the unbind to finish */

static sigjmp_buf storm_jmp;

static void storm_sigbus(int sig)
{
	siglongjmp(storm_jmp, 1);
}

/*
 * Map, touch and unmap until the file is gone.  Exit codes: 0 all well,
 * 10 open failed, 11 mmap failed with another error than ENODEV (the
 * file is gone) or ENOMEM, 12 a mapping succeeded after the unbind had
 * finished, 13 a mapping still worked after the unbind had finished.
 */
/* The flag the parent sets once the unbind has returned. */
static int storm_unbound(int *unbound)
{
	return __atomic_load_n(unbound, __ATOMIC_SEQ_CST);
}

static void storm_child(const char *pci, int *unbound)
{
	struct sigaction sa = { .sa_handler = storm_sigbus };
	uint8_t *p;
	long page = sysconf(_SC_PAGESIZE);
	int fd, was_unbound;
	size_t off;

	/*
	 * Lowest priority: the unbind must not wait for the CPU, which four
	 * busy loops on an emulated two-CPU machine would take from it.
	 */
	setpriority(PRIO_PROCESS, 0, 19);
	fd = p2pmem_open(pci);
	if (fd < 0)
		_exit(10);
	sigaction(SIGBUS, &sa, NULL);
	for (;;) {
		was_unbound = storm_unbound(unbound);
		p = mmap(NULL, STORM_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			if (errno == ENOMEM)
				continue;
			_exit(errno == ENODEV ? 0 : 11);
		}
		if (was_unbound)
			_exit(12);
		if (!sigsetjmp(storm_jmp, 1)) {
			for (off = 0; off < STORM_LEN; off += page)
				io_write64(p + off, off);
			if (storm_unbound(unbound)) {
				io_write64(p, 1);	/* must raise SIGBUS */
				_exit(13);
			}
		}
		munmap(p, STORM_LEN);
	}
}

/* Wait up to @secs for @pid; its status, or -1 on timeout. */
static int wait_for(pid_t pid, double secs)
{
	double end = now() + secs;
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int status;

	do {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		nanosleep(&ts, NULL);
	} while (now() < end);
	return -1;
}

TEST(unbind_during_mmap_storm)
{
	struct timespec settle = { 0, 300 * 1000 * 1000 };
	pid_t kids[STORM_CHILDREN], unbinder;
	struct nvme_fn fns[MAX_NVME];
	uint64_t size, avail, after;
	int *unbound;
	double t0, took;
	const char *pci;
	int i, p, status;

	if (!have_core())
		SKIP(return, "the base kernel can hang here (no P2PDMA debugfs view)");
	p = first_provider(fns, nvme_enumerate(fns, MAX_NVME));
	if (p < 0) {
		ASSERT_STREQ("none", p2p_expect());
		SKIP(return, "no p2pmem provider in this topology");
	}
	pci = fns[p].pci;
	ASSERT_EQ(0, p2pmem_read(pci, "size", &size));
	ASSERT_EQ(0, p2pmem_read(pci, "available", &avail));
	unbound = mmap(NULL, sizeof(*unbound), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, unbound);
	__atomic_store_n(unbound, 0, __ATOMIC_SEQ_CST);

	for (i = 0; i < STORM_CHILDREN; i++) {
		kids[i] = fork();
		ASSERT_GE(kids[i], 0);
		if (!kids[i])
			storm_child(pci, unbound);
	}
	nanosleep(&settle, NULL);

	t0 = now();
	unbinder = fork();
	ASSERT_GE(unbinder, 0);
	if (!unbinder)
		_exit(driver_write(pci, "unbind") ? 1 : 0);
	status = wait_for(unbinder, UNBIND_SECS);
	took = now() - t0;
	ASSERT_NE(-1, status) TH_LOG("unbind still running after %d s", UNBIND_SECS);
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status)) TH_LOG("unbind failed");
	__atomic_store_n(unbound, 1, __ATOMIC_SEQ_CST);
	TH_LOG("unbind took %.3f s", took);

	for (i = 0; i < STORM_CHILDREN; i++) {
		status = wait_for(kids[i], 5);
		EXPECT_NE(-1, status) TH_LOG("child %d did not stop", i);
		if (status == -1) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], &status, 0);
			continue;
		}
		EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
			TH_LOG("child %d: status %#x", i, status);
	}

	ASSERT_EQ(0, driver_write(pci, "bind"));
	ASSERT_TRUE(wait_p2pmem(pci, size, 20)) TH_LOG("p2pmem did not come back");
	ASSERT_EQ(0, p2pmem_read(pci, "available", &after));
	EXPECT_EQ(avail, after) TH_LOG("the pool is not whole again");
	munmap(unbound, sizeof(*unbound));
}

/* ---------------------------------------------------------------------
 * The memory type of user mappings, against what PAT granted
 */

/* Physical address of the page at @addr, from /proc/self/pagemap. */
static uint64_t phys_of(const void *addr)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t ent = 0;
	int fd;

	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0)
		return 0;
	if (pread(fd, &ent, sizeof(ent), (uintptr_t)addr / page * sizeof(ent)) != sizeof(ent))
		ent = 0;
	close(fd);
	if (!(ent >> 63))
		return 0;
	return (ent & ((1ull << 55) - 1)) * page;
}

/* The PAT type of the entries that cover @phys ("mixed" if they differ). */
static int pat_type_at(uint64_t phys, char *type, size_t len)
{
	unsigned long long s, e;
	char line[256], t[64];
	int found = 0;
	FILE *f;

	f = fopen(PAT_LIST, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "PAT: [mem 0x%llx-0x%llx] %63s", &s, &e, t) != 3 ||
		    phys < s || phys >= e)
			continue;
		if (found && strcmp(type, t))
			snprintf(type, len, "mixed");
		else
			snprintf(type, len, "%s", t);
		found = 1;
	}
	fclose(f);
	return found ? 0 : -ENOENT;
}

/*
 * The PAT memory type the PTE mapping @addr selects, from the page table
 * dump: Linux sets up PAT so that PWT alone is write-combining and PCD
 * alone is uncached-minus (arch/x86/mm/pat/memtype.c).
 */
static int pte_type_at(const void *addr, char *type, size_t len)
{
	unsigned long long s, e, va = (uintptr_t)addr;
	char line[512];
	int found = -ENOENT;
	bool pwt, pcd, pat;
	FILE *f;

	f = fopen(PTDUMP, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "0x%llx-0x%llx", &s, &e) != 2 || va < s || va >= e)
			continue;
		pwt = strstr(line, " PWT ");
		pcd = strstr(line, " PCD ");
		pat = strstr(line, " PAT ");
		snprintf(type, len, "%s", pat ? "other" :
			 pwt && !pcd ? "write-combining" :
			 pcd && !pwt ? "uncached-minus" :
			 pwt ? "uncached" : "write-back");
		found = 0;
		break;
	}
	fclose(f);
	return found;
}

/*
 * Map a page of p2pmem and check that its PTE, PAT's entry for it and
 * debugfs all give @want ("write-combining" or "uncached-minus").
 */
static void check_user_type(struct __test_metadata *_metadata, const char *pci,
			    const char *want)
{
	char pte[64], pat[64];
	struct dbg_provider dbg;
	uint64_t phys;
	void *p;

	p = p2pmem_map(pci, MAPLEN);
	ASSERT_NE(MAP_FAILED, p);
	io_write64(p, 1);
	phys = phys_of(p);
	ASSERT_NE(0, phys);
	ASSERT_EQ(0, pat_type_at(phys, pat, sizeof(pat))) TH_LOG("no PAT entry at %#llx",
								 (unsigned long long)phys);
	ASSERT_EQ(0, pte_type_at(p, pte, sizeof(pte)));
	ASSERT_EQ(0, dbg_provider_line(pci, &dbg));
	EXPECT_STREQ(want, pat) TH_LOG("PAT entry at %#llx", (unsigned long long)phys);
	EXPECT_STREQ(pat, pte) TH_LOG("user PTE at %p against PAT", p);
	EXPECT_STREQ(!strcmp(want, "write-combining") ? "wc" : "uc", dbg.modes);
	munmap(p, MAPLEN);
}

/*
 * Reading the page table dump walks the whole kernel address space, which
 * takes long with KASAN and DEBUG_PAGEALLOC: allow for three of them.
 */
FIXTURE(pat)
{
};

FIXTURE_SETUP(pat)
{
}

FIXTURE_TEARDOWN(pat)
{
}

TEST_F_TIMEOUT(pat, user_mapping_follows_granted_type, 300)
{
	unsigned long long s, e, flags;
	struct nvme_fn fns[MAX_NVME];
	char path[PATH_MAX];
	uint64_t size;
	int p, bar, fd;
	size_t len;
	void *res;

	if (!have_core())
		SKIP(return, "the base kernel lacks this fix (no P2PDMA debugfs view)");
	if (access(PAT_LIST, R_OK) || access(PTDUMP, R_OK))
		SKIP(return, "no PAT (not x86) or no page table dump");
	p = first_provider(fns, nvme_enumerate(fns, MAX_NVME));
	if (p < 0) {
		ASSERT_STREQ("none", p2p_expect());
		SKIP(return, "no p2pmem provider in this topology");
	}
	bar = CMBLOC_BIR(fns[p].cmbloc);
	ASSERT_EQ(0, bar_resource(fns[p].pci, bar, &s, &e, &flags));
	ASSERT_TRUE(flags & 0x2000) TH_LOG("the CMB BAR is not prefetchable");
	len = e - s + 1;
	ASSERT_EQ(0, p2pmem_read(fns[p].pci, "size", &size));

	/* As registered on a BAR nobody else maps: write-combining. */
	check_user_type(_metadata, fns[p].pci, "write-combining");

	/* A mapping of the BAR's resource file, made while the driver is away. */
	ASSERT_EQ(0, driver_write(fns[p].pci, "unbind"));
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/resource%d", fns[p].pci, bar);
	fd = open(path, O_RDWR);
	ASSERT_GE(fd, 0);
	res = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, res) TH_LOG("mmap of %s: %s", path, strerror(errno));
	ASSERT_EQ(0, driver_write(fns[p].pci, "bind"));
	ASSERT_TRUE(wait_p2pmem(fns[p].pci, size, 20));

	/* PAT granted the resource mapping's UC-: user mappings follow. */
	check_user_type(_metadata, fns[p].pci, "uncached-minus");

	/* Without the resource mapping, a rebind gets write-combining again. */
	ASSERT_EQ(0, driver_write(fns[p].pci, "unbind"));
	munmap(res, len);
	close(fd);
	ASSERT_EQ(0, driver_write(fns[p].pci, "bind"));
	ASSERT_TRUE(wait_p2pmem(fns[p].pci, size, 20));
	check_user_type(_metadata, fns[p].pci, "write-combining");
}

TEST_HARNESS_MAIN
