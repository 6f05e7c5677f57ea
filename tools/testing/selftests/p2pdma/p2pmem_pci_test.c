// SPDX-License-Identifier: GPL-2.0
/*
 * p2pmem-pci: the driver an administrator binds to a function whose
 * memory BAR no other driver offers, here QEMU's ivshmem-plain (a RAM
 * backed, 64-bit prefetchable BAR 2 of 256 MiB, which the harness adds to
 * every machine), then writes "BAR [SIZE [OFFSET]]" to p2pmem_offer.
 *
 * Bad input: a function without a memory BAR (the harness machines have
 * one without a driver: q35's ISA bridge, virt's host bridge), an I/O BAR
 * (QEMU's pci-testdev, BAR 1), more than the BAR holds, a misaligned
 * range, an overlapping one, a bind of a bound function, text that does
 * not parse.  Each gets its errno and one log line, but for the driver
 * core's EBUSY and for parse errors, which log nothing.
 *
 * With the ivshmem published, O_DIRECT moves data NVMe -> p2pmem -> NVMe
 * through it where the topology allows P2P between the ivshmem and the
 * NVMe functions, and is refused (EREMOTEIO) where it does not: the
 * harness says which (P2PDMA_SPARE, the topology table's "spare" column).
 *
 * A range written to iopmem_offer becomes a block device, iopmemN: the
 * tests check what it reports, that its bytes are the BAR's, that flushes
 * and FUA writes reach the driver's barrier, that ranges of the two kinds
 * never overlap, that a filesystem lives on it, and that unbinding under
 * a mount and under I/O fails that I/O with EIO.
 *
 * The driver is a feature the base kernel lacks: the tests skip there.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <time.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include "../kselftest_harness.h"
#include "p2pdma_util.h"

#define DRV		"/sys/bus/pci/drivers/p2pmem-pci"
#define IVSHMEM		"1af4", "1110"
#define TESTDEV		"1b36", "0005"
#define SZ_1M		0x100000ull
#define IORESOURCE_IO	0x100ull
#define IORESOURCE_MEM	0x200ull

static bool have_driver(void)
{
	return access(DRV, F_OK) == 0;
}

static bool has_driver(const char *pci)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver", pci);
	return access(path, F_OK) == 0;
}

static bool id_is(const char *pci, const char *vendor, const char *device)
{
	char path[PATH_MAX], v[16], d[16];

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/vendor", pci);
	if (read_text(path, v, sizeof(v)))
		return false;
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/device", pci);
	if (read_text(path, d, sizeof(d)))
		return false;
	return !strcmp(v + 2, vendor) && !strcmp(d + 2, device);
}

/* True if no BAR of @pci is an assigned memory BAR. */
static bool no_mem_bar(const char *pci)
{
	unsigned long long s, e, flags;
	int bar;

	for (bar = 0; bar < 6; bar++) {
		if (bar_resource(pci, bar, &s, &e, &flags))
			return false;
		if ((flags & IORESOURCE_MEM) && e > s)
			return false;
	}
	return true;
}

/*
 * The first function without a driver that matches @vendor:@device, or
 * with @vendor NULL, that has no memory BAR: 0 and its name in @pci.
 */
static int find_unbound(char *pci, size_t len, const char *vendor, const char *device)
{
	struct dirent *de;
	int ret = -ENOENT;
	DIR *d;

	d = opendir(PCI_DEVICES);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || has_driver(de->d_name))
			continue;
		if (vendor ? id_is(de->d_name, vendor, device) : no_mem_bar(de->d_name)) {
			snprintf(pci, len, "%.63s", de->d_name);
			ret = 0;
			break;
		}
	}
	closedir(d);
	return ret;
}

static int set_override(const char *pci, const char *drv)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver_override", pci);
	return write_text(path, drv);
}

static int drv_bind(const char *pci)
{
	return write_text(DRV "/bind", pci);
}

static int drv_unbind(const char *pci)
{
	return write_text(DRV "/unbind", pci);
}

static int offer(const char *pci, const char *what)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/p2pmem_offer", pci);
	return write_text(path, what);
}

static int disk_offer(const char *pci, const char *what)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/iopmem_offer", pci);
	return write_text(path, what);
}

/* The name of the disk on the last line of @pci's iopmem_offer: 0, or -errno */
static int last_disk(const char *pci, char *disk, size_t len)
{
	char path[PATH_MAX], buf[1024], *line;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/iopmem_offer", pci);
	if (read_text(path, buf, sizeof(buf)) || !buf[0])
		return -ENOENT;
	line = strrchr(buf, '\n');
	line = line ? line + 1 : buf;
	if (len < 32 || sscanf(line, "%*d %*u %*u %31s", disk) != 1)
		return -EINVAL;
	return 0;
}

/* A sysfs attribute of a disk, as text */
static int disk_text(const char *disk, const char *attr, char *buf, size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/block/%s/%s", disk, attr);
	return read_text(path, buf, len);
}

static uint64_t disk_u64(const char *disk, const char *attr)
{
	char path[PATH_MAX];
	uint64_t v;

	snprintf(path, sizeof(path), "/sys/block/%s/%s", disk, attr);
	return read_u64(path, &v) ? ~0ull : v;
}

static bool disk_exists(const char *disk)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/block/%s", disk);
	return access(path, F_OK) == 0;
}

/* Records logged since @fd was opened (kmsg_open()) that name @pci. */
static int kmsg_count(int fd, const char *pci, char *out, size_t len)
{
	return kmsg_collect(fd, pci, NULL, out, len);
}

/* A write an administrator makes that must be refused */
struct refusal {
	const char *what;
	int err;		/* positive */
	const char *why;	/* in the one log line; NULL for no line */
};

/*
 * Each of @cases written through @write_fn to @pci fails with its errno
 * and logs one line naming @pci with its reason in it, or no line at all.
 */
static void expect_refusals(struct __test_metadata *_metadata, int kmsg,
			    const char *pci,
			    int (*write_fn)(const char *pci, const char *what),
			    const struct refusal *cases, size_t n)
{
	char log[2048];
	size_t i;

	for (i = 0; i < n; i++) {
		EXPECT_EQ(-cases[i].err, write_fn(pci, cases[i].what))
			TH_LOG("'%s'", cases[i].what);
		EXPECT_EQ(!!cases[i].why, kmsg_count(kmsg, pci, log, sizeof(log)))
			TH_LOG("'%s': %s", cases[i].what, log);
		if (cases[i].why)
			EXPECT_NE(NULL, strstr(log, cases[i].why))
				TH_LOG("'%s': %s", cases[i].what, log);
	}
}

/* The ivshmem function, bound to p2pmem-pci; unbound again afterwards. */
FIXTURE(bound)
{
	char pci[64];
	char log[2048];
	bool bound;
	int kmsg;
};

/*
 * Setup asserts nothing once it has bound: a failed assertion there
 * would skip the teardown and leave the function bound.
 */
FIXTURE_SETUP(bound)
{
	self->bound = false;
	self->kmsg = -1;
	if (!have_driver())
		SKIP(return, "the base kernel lacks this (no p2pmem-pci driver)");
	ASSERT_EQ(0, find_unbound(self->pci, sizeof(self->pci), IVSHMEM))
		TH_LOG("no unbound ivshmem-plain function");
	ASSERT_LE(256 * SZ_1M, bar_size(self->pci, 2));
	self->kmsg = kmsg_open();
	ASSERT_LE(0, self->kmsg);
	ASSERT_EQ(0, set_override(self->pci, "p2pmem-pci"));
	EXPECT_EQ(0, drv_bind(self->pci));
	self->bound = has_driver(self->pci);
	/* the "enabling device" line of the bind is not the tests' */
	kmsg_count(self->kmsg, self->pci, self->log, sizeof(self->log));
}

FIXTURE_TEARDOWN(bound)
{
	if (self->kmsg >= 0)
		close(self->kmsg);
	if (self->bound) {
		EXPECT_EQ(0, drv_unbind(self->pci));
		EXPECT_FALSE(has_p2pmem(self->pci));
	}
	if (have_driver())
		EXPECT_EQ(0, set_override(self->pci, "\n"));
}

/* Bound, nothing is offered until the administrator says what. */
TEST_F(bound, nothing_offered_at_bind)
{
	char path[PATH_MAX], buf[256];

	ASSERT_TRUE(self->bound);
	EXPECT_FALSE(has_p2pmem(self->pci));
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/p2pmem_offer", self->pci);
	ASSERT_EQ(0, read_text(path, buf, sizeof(buf)));
	EXPECT_STREQ("", buf);
}

/* Two ranges of one BAR: one published provider of their sum. */
TEST_F(bound, offer_two_ranges)
{
	char path[PATH_MAX], buf[256], log[2048];
	struct dbg_provider dbg;
	uint64_t v;
	int fd;
	void *p;

	ASSERT_TRUE(self->bound);
	ASSERT_EQ(0, offer(self->pci, "2 16m"));
	ASSERT_TRUE(has_p2pmem(self->pci));
	ASSERT_EQ(0, p2pmem_read(self->pci, "size", &v));
	EXPECT_EQ(16 * SZ_1M, v);
	ASSERT_EQ(0, p2pmem_read(self->pci, "published", &v));
	EXPECT_EQ(1, v);
	ASSERT_EQ(0, offer(self->pci, "2 0x1000000 32M"));
	ASSERT_EQ(0, p2pmem_read(self->pci, "size", &v));
	EXPECT_EQ(32 * SZ_1M, v);
	ASSERT_EQ(0, p2pmem_read(self->pci, "available", &v));
	EXPECT_EQ(32 * SZ_1M, v);

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/p2pmem_offer", self->pci);
	ASSERT_EQ(0, read_text(path, buf, sizeof(buf)));
	EXPECT_STREQ("2 16777216 0\n2 16777216 33554432", buf);

	if (access("/sys/kernel/debug/p2pdma/providers", R_OK) == 0) {
		ASSERT_EQ(0, dbg_provider_line(self->pci, &dbg));
		EXPECT_EQ(32 * SZ_1M, dbg.size);
		EXPECT_EQ(1, dbg.published);
		EXPECT_STREQ("wc,wc", dbg.modes);
	}

	/* User space can map it, and it is the BAR's memory */
	p = p2pmem_map(self->pci, 2 * SZ_1M);
	ASSERT_NE(MAP_FAILED, p);
	io_write64(p, 0x7032706d656d);
	EXPECT_EQ(0x7032706d656d, io_read64(p));
	ASSERT_EQ(0, p2pmem_read(self->pci, "available", &v));
	EXPECT_EQ(30 * SZ_1M, v);
	EXPECT_EQ(0, munmap(p, 2 * SZ_1M));

	/* Two registrations, two lines from the core, nothing else */
	fd = self->kmsg;
	EXPECT_EQ(2, kmsg_count(fd, self->pci, log, sizeof(log))) TH_LOG("%s", log);
}

/* What the P2PDMA core refuses: the errno, and one line that says why. */
TEST_F(bound, bad_offers)
{
	char more[32], off_end[32];
	const struct refusal cases[] = {
		{ more, EINVAL, "no room" },		/* more than the BAR */
		{ off_end, EINVAL, "no room" },		/* runs off its end */
		{ "2 1M", EINVAL, "aligned" },		/* not a hotplug unit */
		{ "0", EINVAL, "aligned" },		/* 256 bytes of registers */
		{ "3", EINVAL, "not an assigned memory BAR" },
		{ "6", EINVAL, "BARs 0 to 5" },
		{ "-1", EINVAL, "BARs 0 to 5" },
		{ "\n", EINVAL, NULL },
		{ "two", EINVAL, NULL },
		{ "2 16Q", EINVAL, NULL },
		{ "2 16M 0 7", EINVAL, NULL },
		{ "2 -16M", EINVAL, NULL },
		{ "2 16E", EINVAL, NULL },		/* not a suffix here */
		{ "2 16G1", EINVAL, NULL },
		{ "2 010M", EINVAL, NULL },		/* octal to memparse() */
		{ "2 18446744073709551616", EINVAL, NULL },	/* 2^64 */
		{ "2 0x10000000000000000", EINVAL, NULL },
		{ "2 17179869184G", EINVAL, NULL },	/* 2^64 in all */
		{ "2 16M 17179869184G", EINVAL, NULL },	/* offset 2^64 */
		{ "99999999999", EINVAL, NULL },	/* not an int */
	};
	uint64_t v, bar = bar_size(self->pci, 2);
	char log[2048];

	ASSERT_TRUE(self->bound);
	snprintf(more, sizeof(more), "2 %llu", (unsigned long long)bar + 2 * SZ_1M);
	snprintf(off_end, sizeof(off_end), "2 16M %llu",
		 (unsigned long long)bar - 8 * SZ_1M);
	expect_refusals(_metadata, self->kmsg, self->pci, offer,
			cases, ARRAY_SIZE(cases));
	EXPECT_FALSE(has_p2pmem(self->pci));

	/* The same range twice: the second overlaps */
	ASSERT_EQ(0, offer(self->pci, "2 16M"));
	EXPECT_EQ(1, kmsg_count(self->kmsg, self->pci, log, sizeof(log)));
	EXPECT_EQ(-EBUSY, offer(self->pci, "2 16M 8M"));
	EXPECT_EQ(1, kmsg_count(self->kmsg, self->pci, log, sizeof(log))) TH_LOG("%s", log);
	ASSERT_EQ(0, p2pmem_read(self->pci, "size", &v));
	EXPECT_EQ(16 * SZ_1M, v);
}

/* A bound function cannot be bound again: the driver core says EBUSY. */
TEST_F(bound, bind_twice)
{
	ASSERT_TRUE(self->bound);
	EXPECT_EQ(-EBUSY, drv_bind(self->pci));
	EXPECT_TRUE(has_driver(self->pci));
}

/* Where the disk tests put their first disk in BAR 2, and its size */
#define DISK_AT		(32 * SZ_1M)
#define DISK_SIZE	(16 * SZ_1M)

/* A disk of 16 MiB at 32 MiB of BAR 2: what it reports, and its log line. */
TEST_F(bound, disk_attributes)
{
	char disk[32], buf[256], path[PATH_MAX], want[128], log[2048];
	struct stat st;
	ssize_t n;

	ASSERT_TRUE(self->bound);
	ASSERT_EQ(0, disk_offer(self->pci, "2 16M 32M"));
	ASSERT_EQ(0, last_disk(self->pci, disk, sizeof(disk)));
	EXPECT_EQ(0, strncmp(disk, "iopmem", 6)) TH_LOG("%s", disk);
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/iopmem_offer", self->pci);
	ASSERT_EQ(0, read_text(path, buf, sizeof(buf)));
	snprintf(want, sizeof(want), "2 16777216 33554432 %s", disk);
	EXPECT_STREQ(want, buf);
	/* A disk is not peer-to-peer memory */
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/p2pmem_offer", self->pci);
	ASSERT_EQ(0, read_text(path, buf, sizeof(buf)));
	EXPECT_STREQ("", buf);
	EXPECT_FALSE(has_p2pmem(self->pci));

	EXPECT_EQ(DISK_SIZE / 512, disk_u64(disk, "size"));
	EXPECT_EQ(512, disk_u64(disk, "queue/logical_block_size"));
	EXPECT_EQ(4096, disk_u64(disk, "queue/physical_block_size"));
	EXPECT_EQ(0, disk_u64(disk, "queue/rotational"));
	EXPECT_EQ(1, disk_u64(disk, "queue/fua"));
	ASSERT_EQ(0, disk_text(disk, "queue/write_cache", buf, sizeof(buf)));
	EXPECT_STREQ("write back", buf);
	EXPECT_EQ(0, disk_u64(disk, "iopmem/persistent"));
	EXPECT_EQ(0, disk_u64(disk, "iopmem/flushes"));
	EXPECT_EQ(0, disk_u64(disk, "iopmem/fua_writes"));

	/* Its parent is the function, and it has a device node */
	snprintf(path, sizeof(path), "/sys/block/%s/device", disk);
	n = readlink(path, buf, sizeof(buf) - 1);
	ASSERT_LT(0, n);
	buf[n] = '\0';
	EXPECT_STREQ(self->pci, strrchr(buf, '/') ? strrchr(buf, '/') + 1 : buf);
	snprintf(path, sizeof(path), "/dev/%s", disk);
	ASSERT_EQ(0, stat(path, &st));
	EXPECT_TRUE(S_ISBLK(st.st_mode));

	EXPECT_EQ(1, kmsg_count(self->kmsg, self->pci, log, sizeof(log))) TH_LOG("%s", log);
	snprintf(want, sizeof(want), "%s: 16384 KiB of volatile memory", disk);
	EXPECT_NE(NULL, strstr(log, want)) TH_LOG("%s", log);
}

/* The disk's bytes are the BAR's, at the range's offset, and no others. */
TEST_F(bound, disk_is_the_bar)
{
	char disk[32], dev[64], path[PATH_MAX];
	void *ram, *ref;
	uint8_t *bar;
	int fd;

	ASSERT_TRUE(self->bound);
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/resource2", self->pci);
	fd = open(path, O_RDWR | O_SYNC);
	ASSERT_LE(0, fd) TH_LOG("%s: %s", path, strerror(errno));
	bar = mmap(NULL, DISK_AT + DISK_SIZE + SZ_1M, PROT_READ | PROT_WRITE,
		   MAP_SHARED, fd, 0);
	close(fd);
	ASSERT_NE(MAP_FAILED, bar) TH_LOG("%s: %s", path, strerror(errno));
	ASSERT_EQ(0, posix_memalign(&ram, 4096, SZ_1M));
	ref = malloc(SZ_1M);
	ASSERT_NE(NULL, ref);
	/* Around the range: 1 MiB each side that the disk must not touch */
	fill_pattern(ref, SZ_1M, 0x5ee);
	copy_io(bar + DISK_AT - SZ_1M, ref, SZ_1M);
	copy_io(bar + DISK_AT + DISK_SIZE, ref, SZ_1M);

	ASSERT_EQ(0, disk_offer(self->pci, "2 16M 32M"));
	ASSERT_EQ(0, last_disk(self->pci, disk, sizeof(disk)));
	snprintf(dev, sizeof(dev), "/dev/%s", disk);

	/* Written through the disk at 0 and at its end: in the BAR there */
	fill_pattern(ram, SZ_1M, time(NULL));
	memcpy(ref, ram, SZ_1M);
	ASSERT_EQ(SZ_1M, direct_io(dev, true, ram, SZ_1M, 0));
	ASSERT_EQ(SZ_1M, direct_io(dev, true, ram, SZ_1M, DISK_SIZE - SZ_1M));
	copy_io(ram, bar + DISK_AT, SZ_1M);
	EXPECT_EQ(0, memcmp(ram, ref, SZ_1M));
	copy_io(ram, bar + DISK_AT + DISK_SIZE - SZ_1M, SZ_1M);
	EXPECT_EQ(0, memcmp(ram, ref, SZ_1M));

	/* Written to the BAR, read through the disk */
	fill_pattern(ref, SZ_1M, time(NULL) + 1);
	copy_io(bar + DISK_AT + 5 * SZ_1M, ref, SZ_1M);
	ASSERT_EQ(SZ_1M, direct_io(dev, false, ram, SZ_1M, 5 * SZ_1M));
	EXPECT_EQ(0, memcmp(ram, ref, SZ_1M));

	/* Nothing past the end, and nothing beside the range changed */
	EXPECT_EQ(0, direct_io(dev, false, ram, 4096, DISK_SIZE));
	fill_pattern(ref, SZ_1M, 0x5ee);
	copy_io(ram, bar + DISK_AT - SZ_1M, SZ_1M);
	EXPECT_EQ(0, memcmp(ram, ref, SZ_1M));
	copy_io(ram, bar + DISK_AT + DISK_SIZE, SZ_1M);
	EXPECT_EQ(0, memcmp(ram, ref, SZ_1M));

	munmap(bar, DISK_AT + DISK_SIZE + SZ_1M);
	free(ram);
	free(ref);
}

/*
 * fsync(2) of a block device is one flush; an O_DIRECT write with O_DSYNC
 * is a FUA write and then a flush (generic_write_sync()); a plain O_DIRECT
 * write is neither.  Each reaches the barrier once: the counters say so.
 */
TEST_F(bound, disk_flush_and_fua)
{
	char disk[32], dev[64];
	uint64_t f0, u0;
	void *buf;
	int fd, i;

	ASSERT_TRUE(self->bound);
	ASSERT_EQ(0, disk_offer(self->pci, "2 16M 32M"));
	ASSERT_EQ(0, last_disk(self->pci, disk, sizeof(disk)));
	snprintf(dev, sizeof(dev), "/dev/%s", disk);
	ASSERT_EQ(0, posix_memalign(&buf, 4096, 4096));
	memset(buf, 0x3c, 4096);
	f0 = disk_u64(disk, "iopmem/flushes");
	u0 = disk_u64(disk, "iopmem/fua_writes");

	fd = open(dev, O_RDWR | O_DIRECT);
	ASSERT_LE(0, fd);
	for (i = 0; i < 3; i++)
		ASSERT_EQ(4096, pwrite(fd, buf, 4096, i * 4096));
	EXPECT_EQ(f0, disk_u64(disk, "iopmem/flushes"));
	EXPECT_EQ(u0, disk_u64(disk, "iopmem/fua_writes"));
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, fsync(fd));
	EXPECT_EQ(f0 + 4, disk_u64(disk, "iopmem/flushes"));
	EXPECT_EQ(u0, disk_u64(disk, "iopmem/fua_writes"));
	close(fd);

	fd = open(dev, O_RDWR | O_DIRECT | O_DSYNC);
	ASSERT_LE(0, fd);
	for (i = 0; i < 5; i++)
		ASSERT_EQ(4096, pwrite(fd, buf, 4096, i * 4096));
	close(fd);
	EXPECT_EQ(f0 + 4 + 5, disk_u64(disk, "iopmem/flushes"));
	EXPECT_EQ(u0 + 5, disk_u64(disk, "iopmem/fua_writes"));
	free(buf);
}

/* One BAR split between the two kinds; no byte is in both. */
TEST_F(bound, disk_and_p2pmem_split)
{
	char disk[32], path[PATH_MAX], buf[512], want[256], log[2048];
	uint64_t v;

	ASSERT_TRUE(self->bound);
	ASSERT_EQ(0, offer(self->pci, "2 16M"));
	EXPECT_EQ(1, kmsg_count(self->kmsg, self->pci, log, sizeof(log))) TH_LOG("%s", log);
	ASSERT_EQ(0, disk_offer(self->pci, "2 16M 16M"));
	EXPECT_EQ(1, kmsg_count(self->kmsg, self->pci, log, sizeof(log))) TH_LOG("%s", log);
	ASSERT_EQ(0, last_disk(self->pci, disk, sizeof(disk)));

	EXPECT_EQ(-EBUSY, disk_offer(self->pci, "2 4K 8M"));
	EXPECT_EQ(1, kmsg_count(self->kmsg, self->pci, log, sizeof(log))) TH_LOG("%s", log);
	EXPECT_NE(NULL, strstr(log, "overlap the p2pmem")) TH_LOG("%s", log);
	EXPECT_EQ(-EBUSY, offer(self->pci, "2 16M 24M"));
	EXPECT_EQ(1, kmsg_count(self->kmsg, self->pci, log, sizeof(log))) TH_LOG("%s", log);
	snprintf(want, sizeof(want), "overlap the %s", disk);
	EXPECT_NE(NULL, strstr(log, want)) TH_LOG("%s", log);
	EXPECT_EQ(-EBUSY, disk_offer(self->pci, "2 8M 20M"));
	EXPECT_EQ(1, kmsg_count(self->kmsg, self->pci, log, sizeof(log))) TH_LOG("%s", log);
	EXPECT_NE(NULL, strstr(log, want)) TH_LOG("%s", log);

	/* Right after both: a second disk, 4 KiB */
	ASSERT_EQ(0, disk_offer(self->pci, "2 4K 32M"));
	EXPECT_EQ(1, kmsg_count(self->kmsg, self->pci, log, sizeof(log))) TH_LOG("%s", log);
	ASSERT_EQ(0, p2pmem_read(self->pci, "size", &v));
	EXPECT_EQ(16 * SZ_1M, v);
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/p2pmem_offer", self->pci);
	ASSERT_EQ(0, read_text(path, buf, sizeof(buf)));
	EXPECT_STREQ("2 16777216 0", buf);
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/iopmem_offer", self->pci);
	ASSERT_EQ(0, read_text(path, buf, sizeof(buf)));
	EXPECT_EQ(0, strncmp(buf, "2 16777216 16777216 iopmem", 26)) TH_LOG("%s", buf);
	EXPECT_NE(NULL, strstr(buf, "\n2 4096 33554432 iopmem")) TH_LOG("%s", buf);
}

/* What a disk is refused: the errno and one line, none for parse errors. */
TEST_F(bound, bad_disks)
{
	char more[32], path[PATH_MAX], buf[256];
	const struct refusal cases[] = {
		{ more, EINVAL, "no room in its" },	/* more than the BAR */
		{ "2 4097", EINVAL, "not 4 KiB-aligned" },
		{ "2 16M 2K", EINVAL, "not 4 KiB-aligned" },
		{ "2 0 256M", EINVAL, "0 bytes at 0x10000000: no room" },	/* nothing left */
		{ "0", EINVAL, "not 4 KiB-aligned" },	/* 256 bytes of registers */
		{ "1", EINVAL, "BAR 1: not an assigned memory BAR" },
		{ "6", EINVAL, "BARs 0 to 5" },
		{ "two", EINVAL, NULL },
		{ "2 16M 17179869184G", EINVAL, NULL },
	};
	uint64_t bar = bar_size(self->pci, 2);

	ASSERT_TRUE(self->bound);
	snprintf(more, sizeof(more), "2 %llu", (unsigned long long)bar + 4096);
	expect_refusals(_metadata, self->kmsg, self->pci, disk_offer,
			cases, ARRAY_SIZE(cases));
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/iopmem_offer", self->pci);
	ASSERT_EQ(0, read_text(path, buf, sizeof(buf)));
	EXPECT_STREQ("", buf);
}

/* mke2fs, mount, a file written, unmounted, mounted again, read back. */
TEST_F(bound, disk_filesystem)
{
	const char *dir = "/tmp/iopmem-fs", *file = "/tmp/iopmem-fs/f";
	char disk[32], dev[64], cmd[128];
	void *ref, *got;
	int fd;

	ASSERT_TRUE(self->bound);
	ASSERT_EQ(0, disk_offer(self->pci, "2 16M 32M"));
	ASSERT_EQ(0, last_disk(self->pci, disk, sizeof(disk)));
	snprintf(dev, sizeof(dev), "/dev/%s", disk);
	snprintf(cmd, sizeof(cmd), "mke2fs -F %s >/dev/null 2>&1", dev);
	ASSERT_EQ(0, system(cmd));
	mkdir(dir, 0755);
	ASSERT_EQ(0, mount(dev, dir, "ext2", 0, NULL)) TH_LOG("%s", strerror(errno));

	ref = malloc(SZ_1M);
	got = malloc(SZ_1M);
	ASSERT_TRUE(ref && got);
	fill_pattern(ref, SZ_1M, time(NULL));
	fd = open(file, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(SZ_1M, write(fd, ref, SZ_1M));
	ASSERT_EQ(0, fsync(fd));
	close(fd);
	ASSERT_EQ(0, umount(dir));

	ASSERT_EQ(0, mount(dev, dir, "ext2", MS_RDONLY, NULL));
	fd = open(file, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(SZ_1M, read(fd, got, SZ_1M));
	close(fd);
	EXPECT_EQ(0, memcmp(ref, got, SZ_1M));
	EXPECT_EQ(0, umount(dir));
	free(ref);
	free(got);
}

/*
 * Write and flush a file until an error, and exit 0 if that error was EIO:
 * what a filesystem whose disk went away says, to a write in flight as to
 * any later one.
 */
static void write_until_error(const char *file, void *buf, size_t len, int ready)
{
	time_t end = time(NULL) + 30;
	bool told = false;
	int fd;

	if (die_with_parent())
		_exit(4);
	fd = open(file, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0)
		_exit(3);
	while (time(NULL) < end) {
		if (pwrite(fd, buf, len, 0) < 0 || fdatasync(fd))
			_exit(errno == EIO && told ? 0 : 10);
		/* One round done: the unbind comes while the next is busy */
		if (!told && write(ready, "1", 1) == 1)
			told = true;
	}
	_exit(2);
}

/*
 * Unbinding while one disk is mounted with a writer busy on it and another
 * is open: the writer gets EIO, the disks go, the filesystem unmounts, and
 * the kernel logs no warning.  A descriptor of a removed disk sees no
 * bytes at all, as the block layer says of any removed disk (its capacity
 * is 0): reads end, writes find no space.  The gendisks outlive the unbind
 * until the descriptors are closed, without access to the BAR: kmemleak
 * (debug config) would find them if they leaked.
 */
TEST_F(bound, unbind_under_mount_and_io)
{
	const char *dir = "/tmp/iopmem-gone";
	char fs[32], raw[32], dev[64], cmd[128], line[1024];
	int fd_raw, fd_file, status, w, f, ready[2];
	void *buf;
	pid_t pid;
	char c;

	ASSERT_TRUE(self->bound);
	ASSERT_EQ(0, disk_offer(self->pci, "2 16M 32M"));
	ASSERT_EQ(0, last_disk(self->pci, fs, sizeof(fs)));
	ASSERT_EQ(0, disk_offer(self->pci, "2 16M 48M"));
	ASSERT_EQ(0, last_disk(self->pci, raw, sizeof(raw)));

	snprintf(dev, sizeof(dev), "/dev/%s", fs);
	snprintf(cmd, sizeof(cmd), "mke2fs -F %s >/dev/null 2>&1", dev);
	ASSERT_EQ(0, system(cmd));
	mkdir(dir, 0755);
	ASSERT_EQ(0, mount(dev, dir, "ext2", 0, NULL));
	fd_file = open("/tmp/iopmem-gone/f", O_CREAT | O_RDWR, 0644);
	ASSERT_LE(0, fd_file);

	snprintf(dev, sizeof(dev), "/dev/%s", raw);
	fd_raw = open(dev, O_RDWR | O_DIRECT);
	ASSERT_LE(0, fd_raw);
	ASSERT_EQ(0, posix_memalign(&buf, 4096, SZ_1M));
	memset(buf, 0x77, SZ_1M);
	ASSERT_EQ(SZ_1M, pwrite(fd_raw, buf, SZ_1M, 0));
	ASSERT_EQ(0, pipe(ready));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		write_until_error("/tmp/iopmem-gone/busy", buf, SZ_1M, ready[1]);
	close(ready[1]);
	ASSERT_EQ(1, read(ready[0], &c, 1)) TH_LOG("the writer never flushed");
	close(ready[0]);

	EXPECT_EQ(0, drv_unbind(self->pci));
	self->bound = has_driver(self->pci);
	EXPECT_FALSE(self->bound);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("the writer saw no EIO (2: no error, 10: another)");
	EXPECT_FALSE(disk_exists(fs));
	EXPECT_FALSE(disk_exists(raw));

	EXPECT_EQ(0, pread(fd_raw, buf, 4096, 0));
	EXPECT_EQ(-1, pwrite(fd_raw, buf, 4096, 0));
	EXPECT_EQ(ENOSPC, errno);
	w = write(fd_file, buf, 4096);
	f = w < 0 ? -errno : (fsync(fd_file) ? -errno : 0);
	EXPECT_EQ(-EIO, f) TH_LOG("write %d", w);
	close(fd_raw);
	close(fd_file);
	EXPECT_EQ(0, umount(dir)) TH_LOG("%s", strerror(errno));
	EXPECT_FALSE(kmsg_alarming(self->kmsg, line, sizeof(line))) TH_LOG("%s", line);
	free(buf);
}

/* A function without any memory BAR is refused at bind. */
TEST(no_memory_bar)
{
	char pci[64], log[2048];
	int fd;

	if (!have_driver())
		SKIP(return, "the base kernel lacks this (no p2pmem-pci driver)");
	ASSERT_EQ(0, find_unbound(pci, sizeof(pci), NULL, NULL));
	fd = kmsg_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, set_override(pci, "p2pmem-pci"));
	EXPECT_EQ(-ENODEV, drv_bind(pci)) TH_LOG("%s", pci);
	EXPECT_FALSE(has_driver(pci));
	EXPECT_EQ(1, kmsg_count(fd, pci, log, sizeof(log))) TH_LOG("%s", log);
	EXPECT_NE(NULL, strstr(log, "no memory BAR")) TH_LOG("%s", log);
	close(fd);
	EXPECT_EQ(0, set_override(pci, "\n"));
}

/* pci-testdev: BAR 0 is memory, BAR 1 I/O ports, which cannot be offered. */
TEST(io_bar)
{
	unsigned long long s, e, flags;
	char pci[64], log[2048];
	int fd;

	if (!have_driver())
		SKIP(return, "the base kernel lacks this (no p2pmem-pci driver)");
	ASSERT_EQ(0, find_unbound(pci, sizeof(pci), TESTDEV)) TH_LOG("no pci-testdev");
	ASSERT_EQ(0, bar_resource(pci, 1, &s, &e, &flags));
	ASSERT_TRUE(flags & IORESOURCE_IO) TH_LOG("BAR 1 flags %#llx", flags);
	fd = kmsg_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, set_override(pci, "p2pmem-pci"));
	EXPECT_EQ(0, drv_bind(pci));
	if (has_driver(pci)) {
		kmsg_count(fd, pci, log, sizeof(log));	/* the bind's own */
		EXPECT_EQ(-EINVAL, offer(pci, "1"));
		EXPECT_EQ(1, kmsg_count(fd, pci, log, sizeof(log))) TH_LOG("%s", log);
		EXPECT_NE(NULL, strstr(log, "BAR 1: not an assigned memory BAR"))
			TH_LOG("%s", log);
		EXPECT_FALSE(has_p2pmem(pci));
		EXPECT_EQ(0, drv_unbind(pci));
	}
	close(fd);
	EXPECT_EQ(0, set_override(pci, "\n"));
}

/* What the harness says P2P between the ivshmem and NVMe functions does. */
static const char *spare_expect(void)
{
	const char *e = getenv("P2PDMA_SPARE");

	return e ? e : "";
}

#define XFER		(1024 * 1024)
#define XFER_AT		(24 << 20)	/* clear of what other tests write */

/* The ivshmem as a published provider, and two namespaces to copy between. */
FIXTURE(spare_odirect)
{
	struct nvme_fn fns[MAX_NVME];
	char pci[64];
	const char *src, *dst;
	bool bound;
	void *p2p, *ram, *ref;
};

FIXTURE_SETUP(spare_odirect)
{
	int i, n, j = 0;

	self->pci[0] = '\0';
	self->bound = false;
	self->p2p = MAP_FAILED;
	self->ram = NULL;
	self->ref = NULL;
	if (!have_driver())
		SKIP(return, "the base kernel lacks this (no p2pmem-pci driver)");
	ASSERT_TRUE(!strcmp(spare_expect(), "host") || !strcmp(spare_expect(), "refused"))
		TH_LOG("P2PDMA_SPARE=%s", spare_expect());
	n = nvme_enumerate(self->fns, MAX_NVME);
	for (i = 0; i < n; i++) {
		if (!self->fns[i].ns[0])
			continue;
		if (!j++)
			self->src = self->fns[i].ns;
		else if (j == 2)
			self->dst = self->fns[i].ns;
	}
	ASSERT_GE(j, 2) TH_LOG("need two namespaces");
	ASSERT_EQ(0, posix_memalign(&self->ram, 4096, XFER));
	self->ref = malloc(XFER);
	ASSERT_NE(NULL, self->ref);
	fill_pattern(self->ref, XFER, time(NULL) ^ (uint64_t)getpid() << 32);
	ASSERT_EQ(0, find_unbound(self->pci, sizeof(self->pci), IVSHMEM));
	ASSERT_EQ(0, set_override(self->pci, "p2pmem-pci"));
	EXPECT_EQ(0, drv_bind(self->pci));
	self->bound = has_driver(self->pci);
	if (self->bound && !offer(self->pci, "2 16M"))
		self->p2p = p2pmem_map(self->pci, XFER);
}

FIXTURE_TEARDOWN(spare_odirect)
{
	if (self->p2p != MAP_FAILED)
		munmap(self->p2p, XFER);
	if (self->bound)
		EXPECT_EQ(0, drv_unbind(self->pci));
	if (have_driver() && self->pci[0])
		EXPECT_EQ(0, set_override(self->pci, "\n"));
	free(self->ram);
	free(self->ref);
}

/* NVMe A -> ivshmem p2pmem -> NVMe B, verified byte for byte. */
TEST_F(spare_odirect, peer_to_peer_copy)
{
	ssize_t n;

	ASSERT_NE(MAP_FAILED, self->p2p) TH_LOG("%s: no p2pmem mapped", self->pci);
	memcpy(self->ram, self->ref, XFER);
	ASSERT_EQ(XFER, direct_io(self->src, true, self->ram, XFER, XFER_AT));
	memset(self->ram, 0xa5, XFER);
	copy_io(self->p2p, self->ram, XFER);

	n = direct_io(self->src, false, self->p2p, XFER, XFER_AT);
	if (!strcmp(spare_expect(), "refused")) {
		EXPECT_EQ(-EREMOTEIO, n) TH_LOG("%s -> %s: %zd", self->src, self->pci, n);
		EXPECT_EQ(-EREMOTEIO, direct_io(self->dst, true, self->p2p, XFER, XFER_AT));
		return;
	}
	ASSERT_EQ(XFER, n) TH_LOG("%s -> %s: %s", self->src, self->pci, strerror(-n));
	/* The device wrote the BAR's memory: the CPU sees it there */
	copy_io(self->ram, self->p2p, XFER);
	EXPECT_EQ(0, memcmp(self->ram, self->ref, XFER));

	ASSERT_EQ(XFER, direct_io(self->dst, true, self->p2p, XFER, XFER_AT));
	memset(self->ram, 0, XFER);
	ASSERT_EQ(XFER, direct_io(self->dst, false, self->ram, XFER, XFER_AT));
	EXPECT_EQ(0, memcmp(self->ram, self->ref, XFER)) TH_LOG("%s", self->dst);
}

TEST_HARNESS_MAIN
