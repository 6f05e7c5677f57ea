// SPDX-License-Identifier: GPL-2.0
/*
 * NVMe Persistent Memory Regions as iopmem block devices.
 *
 * The harness says how large a PMR it gave the machine (P2PDMA_PMR, MiB,
 * "-" for none) and backs it with a file that outlives QEMU.  It boots the
 * machine several times over the same file and says which boot this is
 * (P2PDMA_PMR_PHASE):
 *   write    the file is new: the PMR reads zeroes; a filesystem with a
 *            file and a raw pattern are written and flushed
 *   verify   both read back byte for byte
 *   kill     new contents are written and flushed, and QEMU is killed
 *            with SIGKILL as soon as this program has exited
 *   killed   what was flushed before the kill reads back
 * Every boot also checks what the device reports, that flushes and FUA
 * writes reach the barrier and that the disk survives a controller reset;
 * the harness checks in QEMU's trace that each barrier read PMRSTS, which
 * makes QEMU sync the file (PMRWBM).
 *
 * Layout of the PMR: a filesystem in the first 8 MiB, a raw pattern in
 * the next 4 MiB, scratch space for the barrier test after that.
 *
 * The base kernel does not use PMRs: the tests skip there, saying so.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include "../kselftest_harness.h"
#include "p2pdma_util.h"

#define SZ_1M		0x100000ull
#define FS_KIB		8192
#define RAW_AT		(8 * SZ_1M)
#define RAW_SIZE	(4 * SZ_1M)
#define SCRATCH_AT	(12 * SZ_1M)
#define FILE_SIZE	(2 * SZ_1M)
#define MNT		"/tmp/pmr"
#define FILE_PATH	MNT "/data"
/* One seed per generation of contents: stale data never passes */
#define SEED_FIRST	0xf125ull
#define SEED_KILL	0x5167ull

static bool have_series(void)
{
	return access("/sys/bus/pci/drivers/p2pmem-pci", F_OK) == 0;
}

/* The PMR size the harness declared, in bytes; 0 for none. */
static uint64_t declared_pmr(void)
{
	const char *e = getenv("P2PDMA_PMR");

	return e && *e != '-' ? strtoull(e, NULL, 10) << 20 : 0;
}

/* The first iopmem disk whose parent is an NVMe function: 0, or -ENOENT. */
static int find_pmr(char *disk, size_t dlen, char *pci, size_t plen, int *count)
{
	char path[PATH_MAX], link[PATH_MAX], class[32];
	struct dirent *de;
	int ret = -ENOENT;
	ssize_t n;
	DIR *d;

	*count = 0;
	d = opendir("/sys/block");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		const char *fn;

		if (strncmp(de->d_name, "iopmem", 6))
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/device", de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = '\0';
		fn = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
		snprintf(path, sizeof(path), PCI_DEVICES "/%.64s/class", fn);
		if (read_text(path, class, sizeof(class)) || strcmp(class, "0x010802"))
			continue;
		if (!(*count)++) {
			snprintf(disk, dlen, "%.31s", de->d_name);
			snprintf(pci, plen, "%.63s", fn);
			ret = 0;
		}
	}
	closedir(d);
	return ret;
}

static uint64_t disk_u64(const char *disk, const char *attr)
{
	char path[PATH_MAX];
	uint64_t v;

	snprintf(path, sizeof(path), "/sys/block/%s/%s", disk, attr);
	return read_u64(path, &v) ? ~0ull : v;
}

/* The disk, and a buffer for O_DIRECT and one for what is expected */
struct pmr_io {
	char disk[32];
	char dev[64];
	char pci[64];
	uint64_t size;
	void *buf, *ref;
};

FIXTURE(pmr)
{
	struct pmr_io io;
};

FIXTURE_SETUP(pmr)
{
	int count;

	self->io.buf = NULL;
	self->io.ref = NULL;
	self->io.size = declared_pmr();
	if (!have_series())
		SKIP(return, "the base kernel lacks this (no PMR block device)");
	if (!self->io.size) {
		/* None declared: none may appear */
		EXPECT_EQ(-ENOENT, find_pmr(self->io.disk, sizeof(self->io.disk),
					    self->io.pci, sizeof(self->io.pci), &count));
		EXPECT_EQ(0, count);
		return;
	}
	ASSERT_EQ(0, find_pmr(self->io.disk, sizeof(self->io.disk), self->io.pci,
			      sizeof(self->io.pci), &count))
		TH_LOG("a %llu MiB PMR was declared, and no NVMe function has a disk",
		       (unsigned long long)self->io.size >> 20);
	EXPECT_EQ(1, count);
	snprintf(self->io.dev, sizeof(self->io.dev), "/dev/%s", self->io.disk);
	ASSERT_EQ(0, posix_memalign(&self->io.buf, 4096, RAW_SIZE));
	self->io.ref = malloc(RAW_SIZE);
	ASSERT_NE(NULL, self->io.ref);
}

FIXTURE_TEARDOWN(pmr)
{
	free(self->io.buf);
	free(self->io.ref);
}

/* What the disk reports: the whole of BAR 4, persistent, write-back + FUA. */
TEST_F(pmr, declared)
{
	char path[PATH_MAX], buf[64];

	if (!self->io.size)
		return;
	EXPECT_EQ(self->io.size, bar_size(self->io.pci, 4));
	EXPECT_EQ(self->io.size / 512, disk_u64(self->io.disk, "size"));
	EXPECT_EQ(1, disk_u64(self->io.disk, "iopmem/persistent"));
	EXPECT_EQ(1, disk_u64(self->io.disk, "queue/fua"));
	EXPECT_EQ(0, disk_u64(self->io.disk, "queue/rotational"));
	snprintf(path, sizeof(path), "/sys/block/%s/queue/write_cache", self->io.disk);
	ASSERT_EQ(0, read_text(path, buf, sizeof(buf)));
	EXPECT_STREQ("write back", buf);
	/* None of it is peer-to-peer memory */
	EXPECT_FALSE(has_p2pmem(self->io.pci)) TH_LOG("%s has a CMB?", self->io.pci);
}

/* As for any iopmem disk: fsync is a flush, O_DSYNC a FUA write and a flush */
TEST_F(pmr, barriers)
{
	uint64_t f0, u0;
	int fd, i;

	ASSERT_NE(0, self->io.size);
	memset(self->io.buf, 0xe1, 4096);
	f0 = disk_u64(self->io.disk, "iopmem/flushes");
	u0 = disk_u64(self->io.disk, "iopmem/fua_writes");
	fd = open(self->io.dev, O_RDWR | O_DIRECT);
	ASSERT_LE(0, fd);
	ASSERT_EQ(4096, pwrite(fd, self->io.buf, 4096, SCRATCH_AT));
	for (i = 0; i < 8; i++)
		ASSERT_EQ(0, fsync(fd));
	close(fd);
	EXPECT_EQ(f0 + 8, disk_u64(self->io.disk, "iopmem/flushes"));
	EXPECT_EQ(u0, disk_u64(self->io.disk, "iopmem/fua_writes"));
	fd = open(self->io.dev, O_RDWR | O_DIRECT | O_DSYNC);
	ASSERT_LE(0, fd);
	for (i = 0; i < 8; i++)
		ASSERT_EQ(4096, pwrite(fd, self->io.buf, 4096, SCRATCH_AT + i * 4096));
	close(fd);
	EXPECT_EQ(f0 + 16, disk_u64(self->io.disk, "iopmem/flushes"));
	EXPECT_EQ(u0 + 8, disk_u64(self->io.disk, "iopmem/fua_writes"));
}

/*
 * Write and read back 64 KiB at @at of @dev, again and again, until @stop
 * has a byte to read or is closed: write a byte to @ready after each round
 * trip, and exit 0 if every one matched.
 */
static void round_trips(const char *dev, off_t at, int ready, int stop)
{
	void *w, *r;
	char c;
	int i;

	if (die_with_parent())
		_exit(5);
	if (posix_memalign(&w, 4096, 65536) || posix_memalign(&r, 4096, 65536))
		_exit(3);
	fcntl(stop, F_SETFL, O_NONBLOCK);
	for (i = 0; read(stop, &c, 1) < 0 && errno == EAGAIN; i++) {
		fill_pattern(w, 65536, 0x7e5e0000 + i);
		if (direct_io(dev, true, w, 65536, at) != 65536 ||
		    direct_io(dev, false, r, 65536, at) != 65536)
			_exit(10);
		if (memcmp(w, r, 65536))
			_exit(11);
		if (write(ready, "1", 1) != 1)
			_exit(4);
	}
	_exit(i > 1 ? 0 : 2);
}

/*
 * Read @fd's bytes until it has none, then wait for @n more: round trips
 * that began after this call.
 */
static int drain_then_wait(int fd, int n)
{
	char buf[256];
	int flags = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	fcntl(fd, F_SETFL, flags);
	while (n && read(fd, buf, 1) == 1)
		n--;
	return n ? -1 : 0;
}

/*
 * A reset freezes the disk and disables the PMR, then enables it again
 * and lets I/O through: what was written survives it, I/O in progress
 * across it waits and completes, I/O goes on after it, and the disk is
 * the same one.  @how is the sysfs file whose write resets (it returns
 * once the reset is done).
 */
static void reset_under_io(struct __test_metadata *_metadata,
			   struct pmr_io *io, const char *how)
{
	int ready[2], stop[2], count, status;
	char disk[32];
	pid_t pid;
	char c;

	fill_pattern(io->ref, SZ_1M, 0x7e5e7);
	memcpy(io->buf, io->ref, SZ_1M);
	ASSERT_EQ(SZ_1M, direct_io(io->dev, true, io->buf, SZ_1M, SCRATCH_AT + SZ_1M));
	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(stop));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		round_trips(io->dev, SCRATCH_AT + 2 * SZ_1M, ready[1], stop[0]);
	close(ready[1]);
	close(stop[0]);
	ASSERT_EQ(1, read(ready[0], &c, 1)) TH_LOG("no round trip before the reset");

	EXPECT_EQ(0, write_text(how, "1")) TH_LOG("%s", how);
	/* The second byte from now is a round trip begun after the reset */
	EXPECT_EQ(0, drain_then_wait(ready[0], 2)) TH_LOG("no round trip after the reset");
	EXPECT_EQ(1, write(stop[1], "1", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("round trips across the reset failed");
	close(ready[0]);
	close(stop[1]);

	ASSERT_EQ(0, find_pmr(disk, sizeof(disk), io->pci, sizeof(io->pci), &count));
	EXPECT_EQ(1, count);
	EXPECT_STREQ(io->disk, disk);
	memset(io->buf, 0, SZ_1M);
	ASSERT_EQ(SZ_1M, direct_io(io->dev, false, io->buf, SZ_1M, SCRATCH_AT + SZ_1M));
	EXPECT_EQ(0, memcmp(io->buf, io->ref, SZ_1M));
}

/* Through the controller's reset_controller (nvme's reset work) */
TEST_F(pmr, survives_controller_reset)
{
	char path[PATH_MAX], ctrl[64] = "";
	struct dirent *de;
	DIR *d;

	ASSERT_NE(0, self->io.size);
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/nvme", self->io.pci);
	d = opendir(path);
	ASSERT_NE(NULL, d);
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "nvme", 4))
			snprintf(ctrl, sizeof(ctrl), "%.63s", de->d_name);
	closedir(d);
	ASSERT_NE(0, ctrl[0]);
	snprintf(path, sizeof(path), NVME_CLASS "/%s/reset_controller", ctrl);
	reset_under_io(_metadata, &self->io, path);
}

/*
 * Through the function's reset in sysfs: the PCI core's reset_prepare
 * freezes in this task, the reset work unfreezes in another.
 */
TEST_F(pmr, survives_function_reset)
{
	char path[PATH_MAX];

	ASSERT_NE(0, self->io.size);
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/reset", self->io.pci);
	reset_under_io(_metadata, &self->io, path);
}

static int run(const char *cmd)
{
	int ret = system(cmd);

	return WIFEXITED(ret) ? WEXITSTATUS(ret) : -1;
}

/* Write the file and the raw pattern of @seed, and flush both. */
static int write_generation(struct pmr_io *io, uint64_t seed, bool mkfs)
{
	char cmd[128];
	int fd, ret = 0;

	if (mkfs) {
		snprintf(cmd, sizeof(cmd), "mke2fs -F %s %d >/dev/null 2>&1",
			 io->dev, FS_KIB);
		if (run(cmd))
			return -EIO;
	}
	mkdir(MNT, 0755);
	if (mount(io->dev, MNT, "ext2", 0, NULL))
		return -errno;
	fill_pattern(io->ref, FILE_SIZE, seed);
	fd = open(FILE_PATH, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0 || write(fd, io->ref, FILE_SIZE) != FILE_SIZE || fsync(fd))
		ret = -errno;
	if (fd >= 0)
		close(fd);
	if (ret)
		return ret;

	fill_pattern(io->buf, RAW_SIZE, seed ^ 0xfeed);
	fd = open(io->dev, O_WRONLY | O_DIRECT);
	if (fd < 0)
		return -errno;
	if (pwrite(fd, io->buf, RAW_SIZE, RAW_AT) != RAW_SIZE || fsync(fd))
		ret = -errno;
	close(fd);
	return ret;
}

/* Read back the generation of @seed: the file and the raw pattern. */
static void check_generation(struct __test_metadata *_metadata,
			     struct pmr_io *io, uint64_t seed)
{
	int fd;

	fill_pattern(io->ref, RAW_SIZE, seed ^ 0xfeed);
	ASSERT_EQ(RAW_SIZE, direct_io(io->dev, false, io->buf, RAW_SIZE, RAW_AT));
	EXPECT_EQ(0, memcmp(io->buf, io->ref, RAW_SIZE)) TH_LOG("the raw pattern");

	mkdir(MNT, 0755);
	ASSERT_EQ(0, mount(io->dev, MNT, "ext2", MS_RDONLY, NULL))
		TH_LOG("%s", strerror(errno));
	fill_pattern(io->ref, FILE_SIZE, seed);
	fd = open(FILE_PATH, O_RDONLY);
	EXPECT_LE(0, fd);
	if (fd >= 0) {
		EXPECT_EQ(FILE_SIZE, read(fd, io->buf, FILE_SIZE));
		EXPECT_EQ(0, memcmp(io->buf, io->ref, FILE_SIZE)) TH_LOG("the file");
		close(fd);
	}
	EXPECT_EQ(0, umount(MNT));
}

/* Boot 1: a new backing file reads zeroes; then a generation is written. */
TEST_F(pmr, first_boot_writes)
{
	ASSERT_NE(0, self->io.size);
	ASSERT_EQ(RAW_SIZE, direct_io(self->io.dev, false, self->io.buf, RAW_SIZE, RAW_AT));
	memset(self->io.ref, 0, RAW_SIZE);
	EXPECT_EQ(0, memcmp(self->io.buf, self->io.ref, RAW_SIZE)) TH_LOG("not a new file?");
	ASSERT_EQ(0, write_generation(&self->io, SEED_FIRST, true));
	EXPECT_EQ(0, umount(MNT));
}

/* Boot 2, after a clean power-off: all of it is there. */
TEST_F(pmr, second_boot_reads_back)
{
	ASSERT_NE(0, self->io.size);
	check_generation(_metadata, &self->io, SEED_FIRST);
}

/*
 * Boot 3: a new generation, flushed; the filesystem stays mounted and
 * QEMU is killed once this program ends, with nothing flushed after.
 */
TEST_F(pmr, written_then_killed)
{
	ASSERT_NE(0, self->io.size);
	ASSERT_EQ(0, write_generation(&self->io, SEED_KILL, false));
}

/* Boot 4, after the SIGKILL: what was flushed before it is there. */
TEST_F(pmr, after_kill_reads_back)
{
	ASSERT_NE(0, self->io.size);
	check_generation(_metadata, &self->io, SEED_KILL);
}

/* Which tests this boot runs: see the top of this file. */
int main(int argc, char **argv)
{
	static const struct {
		const char *phase, *test;
	} phases[] = {
		{ "write", "first_boot_writes" },
		{ "verify", "second_boot_reads_back" },
		{ "kill", "written_then_killed" },
		{ "killed", "after_kill_reads_back" },
	};
	const char *phase = getenv("P2PDMA_PMR_PHASE");
	unsigned int i;
	char *args[12];
	int n = 0;

	/* Arguments of its own: the harness's filters, for debugging */
	if (argc > 1)
		return test_harness_run(argc, argv);
	args[n++] = argv[0];
	args[n++] = "-t";
	args[n++] = "declared";
	for (i = 0; declared_pmr() && phase && i < ARRAY_SIZE(phases); i++) {
		if (strcmp(phase, phases[i].phase))
			continue;
		args[n++] = "-t";
		args[n++] = "barriers";
		args[n++] = "-t";
		args[n++] = "survives_controller_reset";
		args[n++] = "-t";
		args[n++] = "survives_function_reset";
		args[n++] = "-t";
		args[n++] = (char *)phases[i].test;
	}
	args[n] = NULL;
	return test_harness_run(n, args);
}
