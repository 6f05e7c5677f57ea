// SPDX-License-Identifier: GPL-2.0
/*
 * Every failure point of two operations user space can start, walked with
 * the kernel's fault injection the way iommufd_fail_nth.c does it: make the
 * 1st, 2nd, 3rd... failable call (failslab, fail_page_alloc) of this task
 * fail through /proc/self/task/<tid>/fail-nth, until the operation makes
 * fewer failable calls than asked for, i.e. succeeds without a fault:
 *
 *  - mmap() of p2pmem/allocate: each failure fails cleanly (ENOMEM, EAGAIN
 *    or EINTR), takes nothing from the pool and leaves the debugfs view of
 *    the provider as it was, and the next mmap() works; a mapping that is
 *    made despite a fault is whole and zeroed, and gives its pages back;
 *  - a write of the nvmet namespace's "p2pmem" configfs attribute (which
 *    reaches pci_p2pdma_enable_store()), with a provider's name and with
 *    "1": a failed write leaves the attribute as it was.
 *
 * The mappings of the walk are placed where no page tables exist yet, so
 * that the failures of their allocation, at every level, are walked too.
 * Nothing alarming (WARNING, BUG, ...) may reach the kernel log meanwhile.
 * The test sets up failslab and fail_page_alloc so that any allocation can
 * be made to fail, quietly, and puts the settings back afterwards.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>

#include "../kselftest_harness.h"
#include "p2pdma_util.h"

#define DEBUGFS		"/sys/kernel/debug"
#define FAILSLAB	DEBUGFS "/failslab"
#define FAIL_PAGE_ALLOC	DEBUGFS "/fail_page_alloc"
#define DBG		DEBUGFS "/p2pdma"
#define NVMET		"/sys/kernel/config/nvmet/subsystems"
#define NO_FI		"kernel without fault injection (CONFIG_FAULT_INJECTION, FAILSLAB, FAIL_PAGE_ALLOC, FAULT_INJECTION_DEBUG_FS)"

#define WALK_LEN	(2 << 20)	/* bytes each mmap() of the walk maps */
#define MAX_POINTS	2000		/* a walk this long is stuck */

/*
 * Where the walk maps: a part of the address space that holds nothing (on
 * x86_64, between the program with its heap and the mmap area), so that
 * each mapping has to allocate its page tables at every level, and their
 * failures are walked too.  Only a hint: if it is not free, the kernel
 * puts the mappings elsewhere, and the test says so.
 */
#if __SIZEOF_POINTER__ == 8
#define WALK_AT		((void *)0x600000000000ul)
#else
#define WALK_AT		NULL
#endif

static bool expect(const char *what)
{
	return !strcmp(p2p_expect(), what);
}

/* The rewritten core, with its debugfs view and zeroed user pages. */
static bool have_core(void)
{
	return access(DBG "/paths", R_OK) == 0;
}

/* p2pmem_read() of p2pdma_util.h, for unsigned long long; 0 or -errno. */
static int p2pmem_ull(const char *pci, const char *attr, unsigned long long *val)
{
	uint64_t v;
	int ret = p2pmem_read(pci, attr, &v);

	if (!ret)
		*val = v;
	return ret;
}

static unsigned long long avail(struct __test_metadata *_metadata,
				const char *pci)
{
	unsigned long long v = 0;

	EXPECT_EQ(0, p2pmem_ull(pci, "available", &v));
	return v;
}

/* ---------------------------------------------------------------------
 * Fault injection: the settings, and fail-nth
 */

/*
 * What the walks need: every allocation may be made to fail (also those
 * that may sleep, of highmem and of order 0, and of any slab cache), the
 * failures are not logged one by one, and nothing fails at random.  Each
 * injected failure counts "times" down: it is saved and restored too.
 */
static const struct {
	const char *path;
	const char *val;
} fi_knobs[] = {
	{ FAILSLAB "/ignore-gfp-wait", "N" },
	{ FAILSLAB "/cache-filter", "N" },
	{ FAILSLAB "/verbose", "0" },
	{ FAILSLAB "/probability", "0" },
	{ FAILSLAB "/times", "-1" },
	{ FAIL_PAGE_ALLOC "/ignore-gfp-wait", "N" },
	{ FAIL_PAGE_ALLOC "/ignore-gfp-highmem", "N" },
	{ FAIL_PAGE_ALLOC "/min-order", "0" },
	{ FAIL_PAGE_ALLOC "/verbose", "0" },
	{ FAIL_PAGE_ALLOC "/probability", "0" },
	{ FAIL_PAGE_ALLOC "/times", "-1" },
};

struct fault_inject {
	char saved[ARRAY_SIZE(fi_knobs)][32];	/* the settings found */
	int nset;		/* fi_knobs[0..nset) were written */
	int nth;		/* this task's fail-nth, or -1 */
};

static void fail_nth_path(char *buf, size_t len)
{
	snprintf(buf, len, "/proc/self/task/%d/fail-nth", gettid());
}

static bool fi_present(void)
{
	char path[64];

	fail_nth_path(path, sizeof(path));
	return !access(FAILSLAB, F_OK) && !access(FAIL_PAGE_ALLOC, F_OK) &&
	       !access(path, F_OK);
}

/* Put back what fi_setup() changed, last change first. */
static void fi_restore(struct fault_inject *fi)
{
	while (fi->nset > 0) {
		fi->nset--;
		write_text(fi_knobs[fi->nset].path, fi->saved[fi->nset]);
	}
}

/* Save the settings and make them what the walks need; 0 or -errno. */
static int fi_setup(struct fault_inject *fi)
{
	char path[64];
	size_t i;
	int ret;

	fail_nth_path(path, sizeof(path));
	fi->nth = open(path, O_RDWR);
	if (fi->nth < 0)
		return -errno;
	for (i = 0; i < ARRAY_SIZE(fi_knobs); i++) {
		ret = read_text(fi_knobs[i].path, fi->saved[i], sizeof(fi->saved[i]));
		if (!ret)
			ret = write_text(fi_knobs[i].path, fi_knobs[i].val);
		if (ret) {
			fi_restore(fi);
			return ret;
		}
		fi->nset = i + 1;
	}
	return 0;
}

static void fi_teardown(struct fault_inject *fi)
{
	if (fi->nth >= 0) {
		pwrite(fi->nth, "0", 1, 0);
		close(fi->nth);
		fi->nth = -1;
	}
	fi_restore(fi);
}

/* Make the @nth failable call of this task, from now on, fail. */
static int nth_arm(int fd, unsigned int nth)
{
	char buf[16];
	int len;

	len = snprintf(buf, sizeof(buf), "%u", nth);
	return pwrite(fd, buf, len, 0) == len ? 0 : -errno;
}

/*
 * Disarm, and tell whether the fault was injected: the count is down to
 * zero then, otherwise the operation made fewer failable calls than the
 * count.  With fault injection of user copies (fail_usercopy) the read of
 * the count can be the call that fails: the operation did not fail then,
 * and neither can the write of "0" after it, which is done again if it
 * took the fault instead.
 */
static int nth_disarm(int fd, bool *injected)
{
	char buf[32];
	ssize_t n;

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0 && errno == EFAULT)
		n = snprintf(buf, sizeof(buf), "1\n");
	if (pwrite(fd, "0", 1, 0) != 1 && pwrite(fd, "0", 1, 0) != 1)
		return -errno;
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	*injected = strtoul(buf, NULL, 10) == 0;
	return 0;
}

/* ---------------------------------------------------------------------
 * mmap() of p2pmem/allocate
 */

FIXTURE(fail_nth)
{
	struct nvme_fn fns[MAX_NVME];
	const char *pci;
	struct fault_inject fi;
	int fd;			/* p2pmem/allocate */
	long page;
};

FIXTURE_SETUP(fail_nth)
{
	int p, ret;

	self->fd = -1;
	self->fi.nth = -1;
	self->fi.nset = 0;
	self->page = sysconf(_SC_PAGESIZE);
	if (!fi_present())
		SKIP(return, NO_FI);
	p = first_provider(self->fns, nvme_enumerate(self->fns, MAX_NVME));
	if (p < 0) {
		ASSERT_TRUE(expect("none")) TH_LOG("no provider, yet one is expected");
		SKIP(return, "no p2pmem provider in this topology");
	}
	self->pci = self->fns[p].pci;
	self->fd = p2pmem_open(self->pci);
	ASSERT_GE(self->fd, 0) TH_LOG("open p2pmem/allocate: %s", strerror(errno));
	/* Last: the teardown, which restores the settings, runs from here on. */
	ret = fi_setup(&self->fi);
	ASSERT_EQ(0, ret) TH_LOG("fault injection settings: %s", strerror(-ret));
}

FIXTURE_TEARDOWN(fail_nth)
{
	fi_teardown(&self->fi);
	if (self->fd >= 0)
		close(self->fd);
}

static sigjmp_buf touch_jmp;
static size_t touch_off;	/* the offset being read, for SIGBUS */

static void touch_sigbus(int sig)
{
	siglongjmp(touch_jmp, 1);
}

/*
 * Read the first, a middle and the last word of every page of @p: pages
 * are cleared whole, so these stand for the page.  0 if all of them read
 * as zero (or if @zero is false: only touch them), -EIO for one that does
 * not and -EFAULT for one that cannot be read (SIGBUS: a hole in the
 * mapping), with its offset in @bad.
 */
static int touch_pages(const char *p, size_t len, long page, bool zero,
		       size_t *bad)
{
	struct sigaction sa = { .sa_handler = touch_sigbus }, old;
	size_t off, word[3];
	int ret = 0, i;

	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(touch_jmp, 1)) {
		*bad = __atomic_load_n(&touch_off, __ATOMIC_RELAXED);
		ret = -EFAULT;
		goto out;
	}
	for (off = 0; off < len; off += page) {
		word[0] = off;
		word[1] = off + page / 2;
		word[2] = off + page - 8;
		for (i = 0; i < 3; i++) {
			__atomic_store_n(&touch_off, word[i], __ATOMIC_RELAXED);
			if (io_read64(p + word[i]) && zero) {
				*bad = word[i];
				ret = -EIO;
				goto out;
			}
		}
	}
out:
	sigaction(SIGBUS, &old, NULL);
	return ret;
}

static void dbg_line(struct __test_metadata *_metadata, const char *pci,
		     struct dbg_provider *d)
{
	memset(d, 0, sizeof(*d));
	ASSERT_EQ(0, dbg_provider_line(pci, d)) TH_LOG("%s is not in %s/providers",
						       pci, DBG);
}

/* The providers line of @pci is still @want, field by field. */
static void dbg_unchanged(struct __test_metadata *_metadata, const char *pci,
			  const struct dbg_provider *want, unsigned int nth)
{
	struct dbg_provider d;

	dbg_line(_metadata, pci, &d);
	ASSERT_TRUE(d.size == want->size && d.avail == want->avail &&
		    d.published == want->published && !strcmp(d.modes, want->modes) &&
		    d.zeroed == want->zeroed)
		TH_LOG("point %u: providers line '%llu %llu %d %s %llu' was '%llu %llu %d %s %llu'",
		       nth, d.size, d.avail, d.published, d.modes, d.zeroed,
		       want->size, want->avail, want->published, want->modes,
		       want->zeroed);
}

/*
 * A mapping that was made: every page is there and, on the rewritten core,
 * reads as zero; unmapping it gives the pool back whole.  Pages are only
 * read: they come back clean, still known to be zero.
 */
static void check_mapping(struct __test_metadata *_metadata, const char *pci,
			  char *p, long page, bool zero,
			  unsigned long long before, unsigned int nth)
{
	size_t bad = 0;
	int ret;

	ret = touch_pages(p, WALK_LEN, page, zero, &bad);
	ASSERT_EQ(0, ret) TH_LOG("failure point %u: the mapping %s at offset %#zx",
				 nth, ret == -EFAULT ? "has a hole (SIGBUS)" :
				 "is not zero", bad);
	ASSERT_EQ(0, munmap(p, WALK_LEN)) TH_LOG("munmap: %s", strerror(errno));
	ASSERT_EQ(before, avail(_metadata, pci))
		TH_LOG("failure point %u: the pool is not whole after munmap", nth);
}

/*
 * Map the whole pool once and unmap it without writing: from then on every
 * free page is known to be zero, so that mapping it costs no clearing and
 * the "zeroed" column of the providers line stays put during the walk.
 */
static void all_pages_known_zero(struct __test_metadata *_metadata,
				 const char *pci, int fd)
{
	unsigned long long len = avail(_metadata, pci);
	void *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p) TH_LOG("mmap of the whole pool (%llu bytes): %s",
					len, strerror(errno));
	ASSERT_EQ(0, munmap(p, len));
}

TEST_F_TIMEOUT(fail_nth, mmap_allocate, 300)
{
	unsigned int nth, nomem = 0, made = 0, wrong = 0;
	unsigned long long before;
	bool core = have_core(), injected = false;
	struct dbg_provider d0;
	char line[1024];
	int err, kmsg;
	void *p;

	if (core)
		all_pages_known_zero(_metadata, self->pci, self->fd);
	else
		ksft_print_msg("no P2PDMA debugfs view: providers line and zeroing not checked\n");
	before = avail(_metadata, self->pci);
	ASSERT_GE(before, WALK_LEN) TH_LOG("the pool holds less than the walk maps");
	if (core)
		dbg_line(_metadata, self->pci, &d0);

	/* Once without a fault: where the mappings go, and that they work. */
	p = mmap(WALK_AT, WALK_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, p) TH_LOG("mmap: %s", strerror(errno));
	if (p != WALK_AT)
		ksft_print_msg("the walk maps at %p, not at %p: page tables may exist already\n",
			       p, WALK_AT);
	check_mapping(_metadata, self->pci, p, self->page, core, before, 0);

	kmsg = kmsg_open();
	ASSERT_GE(kmsg, 0);
	for (nth = 1; nth <= MAX_POINTS; nth++) {
		ASSERT_EQ(0, nth_arm(self->fi.nth, nth));
		p = mmap(WALK_AT, WALK_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
		err = errno;
		ASSERT_EQ(0, nth_disarm(self->fi.nth, &injected));

		if (p != MAP_FAILED) {
			/* Made despite the fault, or the walk is complete. */
			made += injected;
			check_mapping(_metadata, self->pci, p, self->page, core, before, nth);
		} else {
			ASSERT_TRUE(injected) TH_LOG("mmap failed without an injected fault: %s",
						     strerror(err));
			/* A wrong error is reported, and the walk goes on. */
			EXPECT_TRUE(err == ENOMEM || err == EAGAIN || err == EINTR)
				TH_LOG("failure point %u: mmap failed with errno %d (%s)",
				       nth, err, strerror(err));
			if (err == ENOMEM)
				nomem++;
			else
				ksft_print_msg("failure point %u: mmap failed with %s\n",
					       nth, strerror(err));
			if (err != ENOMEM && err != EAGAIN && err != EINTR)
				wrong++;
			ASSERT_EQ(before, avail(_metadata, self->pci))
				TH_LOG("failure point %u: a failed mmap took memory", nth);
			if (core)
				dbg_unchanged(_metadata, self->pci, &d0, nth);

			/* Nothing was left behind that stops the next mmap(). */
			p = mmap(WALK_AT, WALK_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
				 self->fd, 0);
			ASSERT_NE(MAP_FAILED, p) TH_LOG("failure point %u: the next mmap: %s",
							nth, strerror(errno));
			check_mapping(_metadata, self->pci, p, self->page, core, before, nth);
		}
		if (core)
			dbg_unchanged(_metadata, self->pci, &d0, nth);
		if (!injected)
			break;
	}
	ASSERT_FALSE(injected) TH_LOG("still failing after %u failure points", MAX_POINTS);
	ksft_print_msg("mmap of p2pmem/allocate: %u failure points\n", nth - 1);
	ksft_print_msg("mmap of p2pmem/allocate: %u ENOMEM, %u wrong errno, %u mapped anyway\n",
		       nomem, wrong, made);
	/* The first call that can fail must have been made to fail. */
	ASSERT_GE(nth, 2) TH_LOG("no fault was ever injected: fault injection is not working");
	EXPECT_FALSE(kmsg_alarming(kmsg, line, sizeof(line))) TH_LOG("%s", line);
	close(kmsg);
}

/* ---------------------------------------------------------------------
 * The nvmet namespace's p2pmem attribute
 */

FIXTURE(nvmet_fail_nth)
{
	struct nvme_fn fns[MAX_NVME];
	int provider;		/* index of the provider in fns, or -1 */
	int peer;		/* an NVMe function that is not the provider */
	struct fault_inject fi;
	char subsys[PATH_MAX];
	char ns[PATH_MAX];
	char p2pmem[PATH_MAX + 16];
	char enable[PATH_MAX + 16];
};

FIXTURE_SETUP(nvmet_fail_nth)
{
	char path[PATH_MAX + 16];
	struct stat st;
	int n, ret;

	self->ns[0] = '\0';
	self->fi.nth = -1;
	self->fi.nset = 0;
	if (!fi_present())
		SKIP(return, NO_FI);
	ASSERT_EQ(0, stat(NVMET, &st)) TH_LOG("no nvmet configfs (CONFIG_NVME_TARGET)");
	n = nvme_enumerate(self->fns, MAX_NVME);
	self->provider = first_provider(self->fns, n);
	self->peer = first_peer(self->fns, n, self->provider);
	ASSERT_GE(self->peer, 0);

	snprintf(self->subsys, sizeof(self->subsys), NVMET "/p2pfault-%d", getpid());
	ASSERT_EQ(0, mkdir(self->subsys, 0755)) TH_LOG("%s: %s", self->subsys, strerror(errno));
	snprintf(self->ns, sizeof(self->ns), "%.4000s/namespaces/1", self->subsys);
	if (mkdir(self->ns, 0755)) {
		ret = -errno;
		rmdir(self->subsys);
		ASSERT_EQ(0, ret) TH_LOG("%s: %s", self->ns, strerror(-ret));
	}
	snprintf(path, sizeof(path), "%s/device_path", self->ns);
	snprintf(self->p2pmem, sizeof(self->p2pmem), "%s/p2pmem", self->ns);
	snprintf(self->enable, sizeof(self->enable), "%s/enable", self->ns);
	ret = write_text(path, self->fns[self->peer].ns);
	if (!ret)
		ret = access(self->p2pmem, F_OK) ? -errno : 0;
	if (!ret)
		ret = write_text(self->p2pmem, "0");
	/* Last: the teardown, which restores the settings, runs from here on. */
	if (!ret)
		ret = fi_setup(&self->fi);
	if (ret) {
		rmdir(self->ns);
		rmdir(self->subsys);
		ASSERT_EQ(0, ret) TH_LOG("setting up %s: %s", self->ns, strerror(-ret));
	}
}

FIXTURE_TEARDOWN(nvmet_fail_nth)
{
	fi_teardown(&self->fi);
	if (!self->ns[0])
		return;
	write_text(self->enable, "0");
	rmdir(self->ns);
	rmdir(self->subsys);
}

/*
 * Walk the failure points of writing @val to the attribute @attr, which
 * holds "0": a write that fails changes nothing, one that works (with or
 * without a fault injected) reads back as @val and is undone.  A fresh
 * descriptor for each write, opened before arming so that the open is not
 * walked: configfs then allocates its write buffer within the write.  The
 * store itself (nvmet's, and pci_p2pdma_enable_store()) allocates nothing
 * today, so that buffer is the only failure point; the walk covers
 * whatever the store may allocate later.
 */
static void walk_write_text(struct __test_metadata *_metadata, int nth_fd,
			    const char *attr, const char *val, const char *what)
{
	unsigned int nth, nomem = 0;
	bool injected = false;
	char before[64], now[64];
	ssize_t n;
	int fd, err;

	ASSERT_EQ(0, read_text(attr, before, sizeof(before)));
	ASSERT_STREQ("0", before);
	for (nth = 1; nth <= MAX_POINTS; nth++) {
		fd = open(attr, O_WRONLY);
		ASSERT_GE(fd, 0) TH_LOG("open %s: %s", attr, strerror(errno));
		ASSERT_EQ(0, nth_arm(nth_fd, nth));
		n = write(fd, val, strlen(val));
		err = errno;
		ASSERT_EQ(0, nth_disarm(nth_fd, &injected));
		close(fd);
		ASSERT_EQ(0, read_text(attr, now, sizeof(now)));

		if (n >= 0) {
			ASSERT_EQ((ssize_t)strlen(val), n);
			ASSERT_STREQ(val, now) TH_LOG("failure point %u: after writing '%s'",
						      nth, val);
			ASSERT_EQ(0, write_text(attr, "0"));
			ASSERT_EQ(0, read_text(attr, now, sizeof(now)));
			ASSERT_STREQ(before, now);
			if (!injected)
				break;
			continue;
		}
		ASSERT_TRUE(injected) TH_LOG("writing '%s' failed without an injected fault: %s",
					     val, strerror(err));
		ASSERT_NE(0, err);
		if (err == ENOMEM)
			nomem++;
		else
			ksft_print_msg("%s: failure point %u: the write failed with %s\n",
				       what, nth, strerror(err));
		ASSERT_STREQ(before, now)
			TH_LOG("failure point %u: a failed write of '%s' changed it", nth, val);
	}
	ASSERT_FALSE(injected) TH_LOG("still failing after %u failure points", MAX_POINTS);
	ksft_print_msg("%s: %u failure points, %u failed with ENOMEM\n", what, nth - 1, nomem);
	ASSERT_GE(nth, 2) TH_LOG("no fault was ever injected: fault injection is not working");
}

TEST_F(nvmet_fail_nth, p2pmem_provider_name)
{
	char line[1024];
	int kmsg;

	if (self->provider < 0) {
		ASSERT_TRUE(expect("none")) TH_LOG("no provider, yet one is expected");
		SKIP(return, "no p2pmem provider in this topology");
	}
	kmsg = kmsg_open();
	ASSERT_GE(kmsg, 0);
	walk_write_text(_metadata, self->fi.nth, self->p2pmem,
			self->fns[self->provider].pci, "nvmet p2pmem=<provider>");
	EXPECT_FALSE(kmsg_alarming(kmsg, line, sizeof(line))) TH_LOG("%s", line);
	close(kmsg);
}

TEST_F(nvmet_fail_nth, p2pmem_auto)
{
	char line[1024];
	int kmsg;

	kmsg = kmsg_open();
	ASSERT_GE(kmsg, 0);
	walk_write_text(_metadata, self->fi.nth, self->p2pmem, "1", "nvmet p2pmem=1");
	EXPECT_FALSE(kmsg_alarming(kmsg, line, sizeof(line))) TH_LOG("%s", line);
	close(kmsg);
}

TEST_HARNESS_MAIN
