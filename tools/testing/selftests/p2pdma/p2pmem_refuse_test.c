// SPDX-License-Identifier: GPL-2.0
/*
 * Paths that must not get P2P pages from a user mapping of p2pmem/allocate.
 *
 * This is an ABI test: every case asserts what the unmodified base kernel
 * does, down to the errno, so that a rewritten P2PDMA core keeps it.  The
 * paths that pin or get the pages without FOLL_PCI_P2PDMA are refused; the
 * CPU copies of the kernel (copy_{to,from}_user) work.  Measured on the base:
 *
 *   io_uring_register  IORING_REGISTER_BUFFERS: EFAULT.  GUP refuses the
 *                      long-term writable pin of a shared mapping of a sysfs
 *                      file (kernfs wants write notification) by its VMA
 *                      checks, before it looks at the pages.  RAM registers.
 *   vmsplice           into a pipe: EREMOTEIO, the pipe stays empty.
 *   process_vm_*v      p2pmem as the remote side: EFAULT both ways; as the
 *                      local buffer: the whole length is copied, verified.
 *   /proc/self/mem     pread and pwrite at p2pmem: EIO.
 *   ptrace             PEEKDATA and POKEDATA at a child's p2pmem: EIO.
 *   O_DIRECT to brd    read into and write from p2pmem on /dev/ram0 (no P2P
 *                      support): EREMOTEIO, nothing changes on either side.
 *   tmpfs write()      from p2pmem works, the file reads back the same.
 *   core dump          of a child with p2pmem mapped, dumped by its
 *                      coredump_filter (0x3f): the child dumps core, and the
 *                      p2pmem segment is there at full size, all zeros (GUP
 *                      gives the dump no P2P page, so it is left a hole).
 *
 * After each case the pool is whole again and the kernel log is clean.
 */
#define _GNU_SOURCE
#include <linux/elf.h>
#include <linux/io_uring.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

#include "../kselftest_harness.h"
#include "p2pdma_util.h"

#define LEN		(64 * 1024)
#define RAMDISK		"/dev/ram0"
#define CORE_PATTERN	"/proc/sys/kernel/core_pattern"

FIXTURE(refuse)
{
	const char *pci;
	struct nvme_fn fns[MAX_NVME];
	uint64_t avail;		/* p2pmem/available before the case */
	uint8_t *p2p;		/* LEN bytes of p2pmem, holding ref */
	uint8_t *ref;
	uint8_t *ram;		/* LEN bytes of page aligned RAM */
	int kmsg;
	char dir[32];		/* a private tmpfs, if the case mounted one */
	char core_pattern[PATH_MAX];	/* to restore, if the case changed it */
};

FIXTURE_SETUP(refuse)
{
	int p;

	self->p2p = MAP_FAILED;
	self->kmsg = -1;
	p = first_provider(self->fns, nvme_enumerate(self->fns, MAX_NVME));
	if (p < 0) {
		ASSERT_STREQ("none", p2p_expect()) TH_LOG("no provider, yet one is expected");
		SKIP(return, "no p2pmem provider in this topology");
	}
	self->pci = self->fns[p].pci;
	ASSERT_EQ(0, p2pmem_read(self->pci, "available", &self->avail));
	self->ref = malloc(LEN);
	ASSERT_NE(NULL, self->ref);
	ASSERT_EQ(0, posix_memalign((void **)&self->ram, 4096, LEN));
	self->p2p = p2pmem_map(self->pci, LEN);
	ASSERT_NE(MAP_FAILED, self->p2p) TH_LOG("mmap: %s", strerror(errno));
	fill_pattern(self->ref, LEN, time(NULL) ^ (uint64_t)getpid() << 32);
	copy_io(self->p2p, self->ref, LEN);
	self->kmsg = kmsg_open();
	ASSERT_GE(self->kmsg, 0);
}

FIXTURE_TEARDOWN(refuse)
{
	char line[1024];
	uint64_t avail = 0;
	int fd;

	if (self->core_pattern[0]) {
		fd = open(CORE_PATTERN, O_WRONLY);
		EXPECT_EQ(strlen(self->core_pattern),
			  write(fd, self->core_pattern, strlen(self->core_pattern)));
		close(fd);
	}
	if (self->dir[0]) {
		EXPECT_EQ(0, umount2(self->dir, MNT_DETACH));
		rmdir(self->dir);
	}
	if (self->p2p != MAP_FAILED)
		EXPECT_EQ(0, munmap(self->p2p, LEN));
	EXPECT_EQ(0, p2pmem_read(self->pci, "available", &avail));
	EXPECT_EQ(self->avail, avail) TH_LOG("p2pmem leaked");
	EXPECT_FALSE(kmsg_alarming(self->kmsg, line, sizeof(line))) TH_LOG("%s", line);
	close(self->kmsg);
	free(self->ram);
	free(self->ref);
}

/* Does the p2pmem at @p2p still hold @ref? */
static bool p2p_intact(const uint8_t *p2p, const uint8_t *ref)
{
	size_t i;

	for (i = 0; i < LEN; i += sizeof(uint64_t))
		if (io_read64(p2p + i) != *(const uint64_t *)(ref + i))
			return false;
	return true;
}

/* Mount a tmpfs of our own on a new directory @dir under /tmp. */
static void mount_tmpfs(struct __test_metadata *_metadata, char *dir, size_t len)
{
	snprintf(dir, len, "/tmp/p2pmem_refuse.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(dir));
	ASSERT_EQ(0, mount("tmpfs", dir, "tmpfs", 0, NULL))
		TH_LOG("mount tmpfs: %s", strerror(errno));
}

TEST_F(refuse, io_uring_register_buffers)
{
	struct io_uring_params params = {};
	struct iovec iov = { self->p2p, LEN };
	int ring;

	ring = syscall(__NR_io_uring_setup, 4, &params);
	ASSERT_GE(ring, 0) TH_LOG("io_uring_setup: %s", strerror(errno));
	EXPECT_EQ(-1, syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, &iov, 1));
	EXPECT_EQ(EFAULT, errno) TH_LOG("%s", strerror(errno));
	/* The ring is fine: RAM registers. */
	iov.iov_base = self->ram;
	EXPECT_EQ(0, syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, &iov, 1))
		TH_LOG("RAM: %s", strerror(errno));
	close(ring);
	EXPECT_TRUE(p2p_intact(self->p2p, self->ref));
}

TEST_F(refuse, vmsplice_to_pipe)
{
	struct iovec iov = { self->p2p, 4096 };
	int pfd[2], queued = -1;

	ASSERT_EQ(0, pipe(pfd));
	EXPECT_EQ(-1, vmsplice(pfd[1], &iov, 1, 0));
	EXPECT_EQ(EREMOTEIO, errno) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(0, ioctl(pfd[0], FIONREAD, &queued));
	EXPECT_EQ(0, queued);
	/* The pipe is fine: RAM splices. */
	iov.iov_base = self->ram;
	EXPECT_EQ(4096, vmsplice(pfd[1], &iov, 1, 0)) TH_LOG("RAM: %s", strerror(errno));
	close(pfd[0]);
	close(pfd[1]);
}

/* p2pmem as the remote side: the remote pages cannot be pinned. */
TEST_F(refuse, process_vm_remote)
{
	struct iovec local = { self->ram, LEN }, remote = { self->p2p, LEN };

	memset(self->ram, 0xa5, LEN);
	EXPECT_EQ(-1, process_vm_readv(getpid(), &local, 1, &remote, 1, 0));
	EXPECT_EQ(EFAULT, errno) TH_LOG("readv: %s", strerror(errno));
	EXPECT_EQ(-1, process_vm_writev(getpid(), &local, 1, &remote, 1, 0));
	EXPECT_EQ(EFAULT, errno) TH_LOG("writev: %s", strerror(errno));
	EXPECT_TRUE(p2p_intact(self->p2p, self->ref));
}

/* p2pmem as the local buffer: the CPU copies, the data arrives. */
TEST_F(refuse, process_vm_local)
{
	struct iovec local = { self->p2p, LEN }, remote = { self->ram, LEN };
	int i;

	/* p2pmem -> RAM */
	memset(self->ram, 0xa5, LEN);
	EXPECT_EQ(LEN, process_vm_writev(getpid(), &local, 1, &remote, 1, 0))
		TH_LOG("writev: %s", strerror(errno));
	EXPECT_EQ(0, memcmp(self->ram, self->ref, LEN));
	/* RAM -> p2pmem, of something else */
	for (i = 0; i < LEN; i++)
		self->ref[i] ^= 0xff;
	memcpy(self->ram, self->ref, LEN);
	EXPECT_EQ(LEN, process_vm_readv(getpid(), &local, 1, &remote, 1, 0))
		TH_LOG("readv: %s", strerror(errno));
	EXPECT_TRUE(p2p_intact(self->p2p, self->ref));
}

TEST_F(refuse, proc_self_mem)
{
	uint64_t v = 0x0123456789abcdefull, buf = 0;
	int fd;

	fd = open("/proc/self/mem", O_RDWR);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(-1, pread(fd, &buf, sizeof(buf), (off_t)self->p2p));
	EXPECT_EQ(EIO, errno) TH_LOG("pread: %s", strerror(errno));
	EXPECT_EQ(-1, pwrite(fd, &v, sizeof(v), (off_t)self->p2p));
	EXPECT_EQ(EIO, errno) TH_LOG("pwrite: %s", strerror(errno));
	/* The file is fine: RAM reads. */
	EXPECT_EQ(sizeof(buf), pread(fd, &buf, sizeof(buf), (off_t)&v));
	EXPECT_EQ(v, buf);
	close(fd);
	EXPECT_TRUE(p2p_intact(self->p2p, self->ref));
}

TEST_F(refuse, ptrace_peek_poke)
{
	static uint64_t v = 0xfeedfacecafef00dull;
	int status;
	pid_t pid;
	long w;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		raise(SIGSTOP);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSTOPPED(status)) TH_LOG("status %#x", status);
	errno = 0;
	EXPECT_EQ(-1, ptrace(PTRACE_PEEKDATA, pid, self->p2p, NULL));
	EXPECT_EQ(EIO, errno) TH_LOG("peek: %s", strerror(errno));
	EXPECT_EQ(-1, ptrace(PTRACE_POKEDATA, pid, self->p2p, (void *)~0ul));
	EXPECT_EQ(EIO, errno) TH_LOG("poke: %s", strerror(errno));
	/* Tracing is fine: RAM peeks. */
	errno = 0;
	w = ptrace(PTRACE_PEEKDATA, pid, &v, NULL);
	EXPECT_EQ(0, errno);
	EXPECT_EQ(v, w);
	kill(pid, SIGKILL);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(p2p_intact(self->p2p, self->ref));
}

/* Put @seed's pattern on the ramdisk, through the RAM buffer @ram. */
static void seed_ramdisk(struct __test_metadata *_metadata, uint8_t *ram, uint64_t seed)
{
	fill_pattern(ram, LEN, seed);
	ASSERT_EQ(LEN, direct_io(RAMDISK, true, ram, LEN, 0));
}

static bool ramdisk_holds(struct __test_metadata *_metadata, uint8_t *ram, uint64_t seed)
{
	uint8_t *want = malloc(LEN);
	bool same;

	if (!want)
		return false;
	fill_pattern(want, LEN, seed);
	memset(ram, 0, LEN);
	EXPECT_EQ(LEN, direct_io(RAMDISK, false, ram, LEN, 0));
	same = !memcmp(ram, want, LEN);
	free(want);
	return same;
}

TEST_F(refuse, odirect_ramdisk_read)
{
	seed_ramdisk(_metadata, self->ram, 0x5eed);
	EXPECT_EQ(-EREMOTEIO, direct_io(RAMDISK, false, self->p2p, LEN, 0));
	EXPECT_TRUE(p2p_intact(self->p2p, self->ref));
}

TEST_F(refuse, odirect_ramdisk_write)
{
	seed_ramdisk(_metadata, self->ram, 0x5eed);
	EXPECT_EQ(-EREMOTEIO, direct_io(RAMDISK, true, self->p2p, LEN, 0));
	EXPECT_TRUE(ramdisk_holds(_metadata, self->ram, 0x5eed))
		TH_LOG("a refused write changed " RAMDISK);
}

TEST_F(refuse, tmpfs_buffered_write)
{
	char path[PATH_MAX];
	int fd;

	mount_tmpfs(_metadata, self->dir, sizeof(self->dir));
	snprintf(path, sizeof(path), "%s/file", self->dir);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(LEN, write(fd, self->p2p, LEN)) TH_LOG("write: %s", strerror(errno));
	memset(self->ram, 0, LEN);
	EXPECT_EQ(LEN, pread(fd, self->ram, LEN, 0));
	EXPECT_EQ(0, memcmp(self->ram, self->ref, LEN));
	close(fd);
}

/* The program header of the segment at @addr in the core dump @fd. */
static bool core_segment(int fd, void *addr, struct elf64_phdr *ph)
{
	struct elf64_hdr eh;
	int i;

	if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_type != ET_CORE)
		return false;
	for (i = 0; i < eh.e_phnum; i++) {
		if (pread(fd, ph, sizeof(*ph), eh.e_phoff + i * sizeof(*ph)) != sizeof(*ph))
			return false;
		if (ph->p_type == PT_LOAD && ph->p_vaddr == (uintptr_t)addr)
			return true;
	}
	return false;
}

TEST_F(refuse, core_dump)
{
	struct rlimit unlimited = { RLIM_INFINITY, RLIM_INFINITY };
	char pattern[64], path[PATH_MAX];
	struct stat st;
	struct elf64_phdr ph;
	int fd, status;
	pid_t pid;

	mount_tmpfs(_metadata, self->dir, sizeof(self->dir));
	ASSERT_EQ(0, read_text(CORE_PATTERN, self->core_pattern, sizeof(self->core_pattern)));
	snprintf(pattern, sizeof(pattern), "%s/core.%%p", self->dir);
	fd = open(CORE_PATTERN, O_WRONLY);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(strlen(pattern), write(fd, pattern, strlen(pattern)));
	close(fd);
	ASSERT_EQ(0, setrlimit(RLIMIT_CORE, &unlimited));

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		/* Dump shared file mappings too: p2pmem is one. */
		fd = open("/proc/self/coredump_filter", O_WRONLY);
		if (fd < 0 || write(fd, "0x3f", 4) != 4)
			_exit(1);
		abort();
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT)
		TH_LOG("status %#x", status);
	EXPECT_TRUE(WCOREDUMP(status));

	snprintf(path, sizeof(path), "%s/core.%d", self->dir, pid);
	fd = open(path, O_RDONLY);
	ASSERT_GE(fd, 0) TH_LOG("no core dump: %s", strerror(errno));
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_GT(st.st_size, 0);
	ASSERT_TRUE(core_segment(fd, self->p2p, &ph)) TH_LOG("no segment for p2pmem");
	EXPECT_EQ(LEN, ph.p_filesz);
	memset(self->ram, 0xa5, LEN);
	EXPECT_EQ(LEN, pread(fd, self->ram, LEN, ph.p_offset));
	EXPECT_TRUE(!self->ram[0] && !memcmp(self->ram, self->ram + 1, LEN - 1))
		TH_LOG("the core holds p2pmem data");
	close(fd);
}

TEST_HARNESS_MAIN
