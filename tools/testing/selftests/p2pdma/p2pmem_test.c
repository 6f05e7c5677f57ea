// SPDX-License-Identifier: GPL-2.0
/*
 * Userspace ABI of PCI peer-to-peer memory (Documentation/ABI/testing/
 * sysfs-bus-pci, p2pmem/): the sysfs attributes of a provider, mmap() of
 * p2pmem/allocate, and O_DIRECT I/O between NVMe namespaces through such a
 * mapping.  Runs against the emulated NVMe CMBs of the harness; what each
 * topology must do is given by P2PDMA_EXPECT:
 *
 *   bus      P2P between NVMe functions works (by bus address)
 *   host     P2P between NVMe functions works (through the host bridge)
 *   refused  P2P between different NVMe functions is refused
 *   none     there is no provider at all
 *
 * P2PDMA_IOMMU says whether the machine has an IOMMU (on, pt) or not (no).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "../kselftest_harness.h"
#include "p2pdma_util.h"

#define XFER	(64 * 1024)

static bool expect(const char *what)
{
	return !strcmp(p2p_expect(), what);
}

static bool expect_peer_p2p(void)
{
	return expect("bus") || expect("host");
}

/* Count the PCI devices that show a p2pmem/ directory. */
static int count_providers(void)
{
	struct dirent *de;
	int n = 0;
	DIR *d;

	d = opendir(PCI_DEVICES);
	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && has_p2pmem(de->d_name))
			n++;
	closedir(d);
	return n;
}

TEST(providers_match_topology)
{
	struct nvme_fn fns[MAX_NVME];
	int n = nvme_enumerate(fns, MAX_NVME);
	int providers = count_providers();

	ASSERT_GE(n, 2) TH_LOG("the harness boots at least two NVMe functions");
	ASSERT_GE(providers, 0);
	ASSERT_EQ(!expect("none"), providers > 0) TH_LOG("%d providers", providers);
}

/* The machine is the one the harness says it booted: IOMMU or not. */
TEST(iommu_matches_topology)
{
	const char *iommu = getenv("P2PDMA_IOMMU") ?: "";
	struct nvme_fn fns[MAX_NVME];
	int i, n = nvme_enumerate(fns, MAX_NVME);
	char path[PATH_MAX];
	bool want = strcmp(iommu, "on") == 0 || strcmp(iommu, "pt") == 0;

	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), PCI_DEVICES "/%s/iommu_group", fns[i].pci);
		EXPECT_EQ(want, access(path, F_OK) == 0) TH_LOG("%s", path);
	}
}

/* p2pmem/ follows the CMB the hardware reports, and nothing else has it. */
TEST(p2pmem_matches_cmb)
{
	struct nvme_fn fns[MAX_NVME];
	int i, n = nvme_enumerate(fns, MAX_NVME);
	int nvme_providers = 0;

	for (i = 0; i < n; i++) {
		uint64_t size, avail, pub;
		bool rw;

		if (!fns[i].cmb_bytes) {
			EXPECT_FALSE(has_p2pmem(fns[i].pci)) TH_LOG("%s", fns[i].pci);
			continue;
		}
		nvme_providers++;
		ASSERT_TRUE(has_p2pmem(fns[i].pci)) TH_LOG("%s has a CMB", fns[i].pci);
		ASSERT_EQ(0, p2pmem_read(fns[i].pci, "size", &size));
		ASSERT_EQ(0, p2pmem_read(fns[i].pci, "available", &avail));
		ASSERT_EQ(0, p2pmem_read(fns[i].pci, "published", &pub));
		EXPECT_EQ(fns[i].cmb_bytes, size);
		EXPECT_LE(avail, size);
		EXPECT_GT(avail, 0);
		rw = (fns[i].cmbsz & (CMBSZ_RDS | CMBSZ_WDS)) == (CMBSZ_RDS | CMBSZ_WDS);
		EXPECT_EQ(rw, pub);
	}
	/* Only NVMe CMBs provide p2pmem in the emulated machines. */
	EXPECT_EQ(nvme_providers, count_providers());
}

/*
 * The NVMe driver keeps its I/O submission queues in the CMB when the CMB
 * supports them (CMBSZ.SQS): that memory is taken from the pool, and I/O
 * to the namespace of that controller still works.
 */
TEST(nvme_sqs_in_cmb)
{
	struct nvme_fn fns[MAX_NVME];
	int p = first_provider(fns, nvme_enumerate(fns, MAX_NVME));
	uint64_t size, avail;
	void *buf, *ref;

	if (p < 0) {
		ASSERT_TRUE(expect("none"));
		SKIP(return, "no p2pmem provider in this topology");
	}
	if (!(fns[p].cmbsz & CMBSZ_SQS))
		SKIP(return, "the CMB of %s does not support SQs", fns[p].pci);
	ASSERT_EQ(0, p2pmem_read(fns[p].pci, "size", &size));
	ASSERT_EQ(0, p2pmem_read(fns[p].pci, "available", &avail));
	EXPECT_LT(avail, size) TH_LOG("no SQ memory was taken from the CMB");

	ASSERT_EQ(0, posix_memalign(&buf, 4096, 1 << 20));
	ref = malloc(1 << 20);
	ASSERT_NE(NULL, ref);
	fill_pattern(ref, 1 << 20, time(NULL));
	memcpy(buf, ref, 1 << 20);
	EXPECT_EQ(1 << 20, direct_io(fns[p].ns, true, buf, 1 << 20, 1 << 20));
	memset(buf, 0, 1 << 20);
	EXPECT_EQ(1 << 20, direct_io(fns[p].ns, false, buf, 1 << 20, 1 << 20));
	EXPECT_EQ(0, memcmp(buf, ref, 1 << 20));
	free(buf);
	free(ref);
}

/*
 * Modes and sizes exactly as the base kernel has them: the directory is
 * 0755, the attributes are read-only (0444) and, like every sysfs
 * attribute, one page long; allocate is 0660, owned by root, and 1 TiB
 * long, so that tools which compare a mapping's length with the file
 * size (Python's mmap, for one) accept any mapping of the pool.
 */
TEST(p2pmem_attr_modes)
{
	static const char * const ro[] = { "size", "available", "published" };
	struct nvme_fn fns[MAX_NVME];
	char path[PATH_MAX];
	struct stat st;
	int p, i, fd;

	p = first_provider(fns, nvme_enumerate(fns, MAX_NVME));
	if (p < 0) {
		ASSERT_TRUE(expect("none"));
		SKIP(return, "no p2pmem provider in this topology");
	}
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/p2pmem", fns[p].pci);
	ASSERT_EQ(0, stat(path, &st));
	EXPECT_TRUE(S_ISDIR(st.st_mode));
	EXPECT_EQ(0755, st.st_mode & 07777) TH_LOG("p2pmem/ has mode %o", st.st_mode & 07777);
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), PCI_DEVICES "/%s/p2pmem/%s", fns[p].pci, ro[i]);
		ASSERT_EQ(0, stat(path, &st));
		EXPECT_TRUE(S_ISREG(st.st_mode));
		EXPECT_EQ(0444, st.st_mode & 07777)
			TH_LOG("%s has mode %o", path, st.st_mode & 07777);
		EXPECT_EQ(sysconf(_SC_PAGESIZE), st.st_size) TH_LOG("%s", path);
		EXPECT_EQ(0, st.st_uid);
		EXPECT_EQ(0, st.st_gid);
		fd = open(path, O_WRONLY);
		EXPECT_LT(fd, 0);
		if (fd >= 0)
			close(fd);
	}
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/p2pmem/allocate", fns[p].pci);
	ASSERT_EQ(0, stat(path, &st));
	EXPECT_TRUE(S_ISREG(st.st_mode));
	EXPECT_EQ(0660, st.st_mode & 07777) TH_LOG("allocate has mode %o", st.st_mode & 07777);
	EXPECT_EQ(0, st.st_uid);
	EXPECT_EQ(0, st.st_gid);
	EXPECT_EQ(1ll << 40, (long long)st.st_size)
		TH_LOG("allocate is %lld bytes", (long long)st.st_size);
}

/* The numbers read as one decimal number and a newline, as in the base. */
TEST(p2pmem_attr_contents)
{
	static const char * const attrs[] = { "size", "available", "published" };
	struct nvme_fn fns[MAX_NVME];
	char path[PATH_MAX], buf[64];
	ssize_t n;
	int p, i, fd;

	p = first_provider(fns, nvme_enumerate(fns, MAX_NVME));
	if (p < 0) {
		ASSERT_TRUE(expect("none"));
		SKIP(return, "no p2pmem provider in this topology");
	}
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), PCI_DEVICES "/%s/p2pmem/%s", fns[p].pci, attrs[i]);
		fd = open(path, O_RDONLY);
		ASSERT_GE(fd, 0);
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		ASSERT_GT(n, 1);
		buf[n] = '\0';
		EXPECT_EQ('\n', buf[n - 1]) TH_LOG("%s: '%s'", path, buf);
		EXPECT_EQ(n - 1, (ssize_t)strspn(buf, "0123456789")) TH_LOG("%s: '%s'", path, buf);
	}
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/p2pmem/published", fns[p].pci);
	ASSERT_EQ(0, read_text(path, buf, sizeof(buf)));
	EXPECT_TRUE(!strcmp(buf, "0") || !strcmp(buf, "1")) TH_LOG("published: '%s'", buf);
}

FIXTURE(p2pmem)
{
	struct nvme_fn fns[MAX_NVME];
	int nfns;
	int provider;
	const char *pci;
	int fd;
	long page;
};

FIXTURE_SETUP(p2pmem)
{
	self->fd = -1;
	self->page = sysconf(_SC_PAGESIZE);
	self->nfns = nvme_enumerate(self->fns, MAX_NVME);
	self->provider = first_provider(self->fns, self->nfns);
	if (self->provider < 0) {
		ASSERT_TRUE(expect("none")) TH_LOG("no provider, yet one is expected");
		SKIP(return, "no p2pmem provider in this topology");
	}
	self->pci = self->fns[self->provider].pci;
	self->fd = p2pmem_open(self->pci);
	ASSERT_GE(self->fd, 0);
}

FIXTURE_TEARDOWN(p2pmem)
{
	if (self->fd >= 0)
		close(self->fd);
}

static uint64_t available(struct __test_metadata *_metadata, const char *pci)
{
	uint64_t v = 0;

	EXPECT_EQ(0, p2pmem_read(pci, "available", &v));
	return v;
}

/* A shared mapping takes its size from the pool until it is unmapped. */
TEST_F(p2pmem, mmap_shared)
{
	uint64_t before = available(_metadata, self->pci);
	size_t len = 4 * self->page;
	void *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, p) TH_LOG("mmap: %s", strerror(errno));
	EXPECT_EQ(before - len, available(_metadata, self->pci));
	ASSERT_EQ(0, munmap(p, len));
	EXPECT_EQ(before, available(_metadata, self->pci));
}

TEST_F(p2pmem, mmap_private_refused)
{
	uint64_t before = available(_metadata, self->pci);
	void *p;

	p = mmap(NULL, self->page, PROT_READ | PROT_WRITE, MAP_PRIVATE, self->fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	if (p != MAP_FAILED)
		munmap(p, self->page);
	EXPECT_EQ(before, available(_metadata, self->pci));
}

TEST_F(p2pmem, mmap_offset_refused)
{
	uint64_t before = available(_metadata, self->pci);
	void *p;

	p = mmap(NULL, self->page, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd,
		 self->page);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	if (p != MAP_FAILED)
		munmap(p, self->page);
	EXPECT_EQ(before, available(_metadata, self->pci));
}

/*
 * A read-only descriptor gives read-only shared mappings: PROT_WRITE, and
 * mprotect() to it later, fail with EACCES (the VFS's rule), PROT_READ
 * works and takes memory from the pool like any mapping.  read() and
 * write() on the file fail: it only has mmap().
 */
TEST_F(p2pmem, read_only_open)
{
	uint64_t before = available(_metadata, self->pci);
	char path[PATH_MAX], c;
	uint64_t *p;
	int fd;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/p2pmem/allocate", self->pci);
	fd = open(path, O_RDONLY);
	ASSERT_GE(fd, 0);
	p = mmap(NULL, self->page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EACCES, errno);
	if (p != MAP_FAILED)
		munmap(p, self->page);
	EXPECT_EQ(before, available(_metadata, self->pci));

	p = mmap(NULL, self->page, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p) TH_LOG("mmap: %s", strerror(errno));
	EXPECT_EQ(before - self->page, available(_metadata, self->pci));
	(void)io_read64(p);
	EXPECT_EQ(-1, mprotect(p, self->page, PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	EXPECT_EQ(0, munmap(p, self->page));
	EXPECT_EQ(before, available(_metadata, self->pci));

	EXPECT_EQ(-1, read(fd, &c, 1));
	EXPECT_EQ(EIO, errno);
	close(fd);
	EXPECT_EQ(-1, write(self->fd, "x", 1));
	EXPECT_EQ(EIO, errno);
}

/* A length that is not a page multiple still maps (and costs) whole pages. */
TEST_F(p2pmem, mmap_whole_pages)
{
	uint64_t before = available(_metadata, self->pci);
	uint8_t *p;

	p = mmap(NULL, self->page + 100, PROT_READ | PROT_WRITE, MAP_SHARED,
		 self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(before - 2 * self->page, available(_metadata, self->pci));
	/* The tail of the last page is there, too. */
	io_write64(p + 2 * self->page - 8, 0x5a5a5a5a5a5a5a5aull);
	EXPECT_EQ(0x5a5a5a5a5a5a5a5aull, io_read64(p + 2 * self->page - 8));
	ASSERT_EQ(0, munmap(p, self->page + 100));
	EXPECT_EQ(before, available(_metadata, self->pci));
}

/* More than the pool holds fails cleanly and takes nothing. */
TEST_F(p2pmem, mmap_too_big)
{
	uint64_t before = available(_metadata, self->pci);
	size_t len = (before + 2 * self->page) & ~(self->page - 1);
	void *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(ENOMEM, errno);
	if (p != MAP_FAILED)
		munmap(p, len);
	EXPECT_EQ(before, available(_metadata, self->pci));
}

/* The mapping outlives its file descriptor; the memory comes back on unmap. */
TEST_F(p2pmem, mmap_outlives_fd)
{
	uint64_t before = available(_metadata, self->pci);
	size_t len = 2 * self->page;
	uint64_t *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	close(self->fd);
	self->fd = -1;
	io_write64(&p[0], 0x0123456789abcdefull);
	EXPECT_EQ(0x0123456789abcdefull, io_read64(&p[0]));
	EXPECT_EQ(before - len, available(_metadata, self->pci));
	ASSERT_EQ(0, munmap(p, len));
	EXPECT_EQ(before, available(_metadata, self->pci));
}

/* A child's inherited mapping keeps the memory until both have unmapped. */
TEST_F(p2pmem, mmap_fork)
{
	uint64_t before = available(_metadata, self->pci);
	size_t len = self->page;
	uint64_t *p;
	int status;
	pid_t pid;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	io_write64(&p[1], 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		io_write64(&p[1], 0xfeedface);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0xfeedface, io_read64(&p[1])) TH_LOG("the child's store is shared");
	EXPECT_EQ(before - len, available(_metadata, self->pci));
	ASSERT_EQ(0, munmap(p, len));
	EXPECT_EQ(before, available(_metadata, self->pci));
}

/* Unmapping part of a mapping gives back exactly those pages. */
TEST_F(p2pmem, munmap_partial)
{
	uint64_t before = available(_metadata, self->pci);
	size_t len = 8 * self->page;
	uint8_t *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(before - len, available(_metadata, self->pci));
	/* A hole in the middle, then the tail. */
	ASSERT_EQ(0, munmap(p + 2 * self->page, 3 * self->page));
	EXPECT_EQ(before - 5 * self->page, available(_metadata, self->pci));
	io_write64(p + 5 * self->page, 42);
	EXPECT_EQ(42, io_read64(p + 5 * self->page));
	ASSERT_EQ(0, munmap(p + 5 * self->page, 3 * self->page));
	EXPECT_EQ(before - 2 * self->page, available(_metadata, self->pci));
	ASSERT_EQ(0, munmap(p, 2 * self->page));
	EXPECT_EQ(before, available(_metadata, self->pci));
}

/*
 * MADV_DONTNEED drops pages of a shared device mapping: they go back to
 * the pool at once, and touching that range again is an error (SIGBUS),
 * never a silent new page of something else.
 */
TEST_F(p2pmem, madvise_dontneed)
{
	uint64_t before = available(_metadata, self->pci);
	size_t len = 4 * self->page;
	int status;
	pid_t pid;
	uint8_t *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, madvise(p, 2 * self->page, MADV_DONTNEED))
		TH_LOG("madvise: %s", strerror(errno));
	EXPECT_EQ(before - 2 * self->page, available(_metadata, self->pci));

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		io_write64(p, 1);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS)
		TH_LOG("status %#x", status);

	io_write64(p + 3 * self->page, 7);
	EXPECT_EQ(7, io_read64(p + 3 * self->page));
	ASSERT_EQ(0, munmap(p, len));
	EXPECT_EQ(before, available(_metadata, self->pci));
}

/* CPU loads see CPU stores, at every offset of a multi-page mapping. */
TEST_F(p2pmem, cpu_load_store)
{
	size_t len = 16 * self->page;
	void *p, *ref;

	ref = malloc(len);
	ASSERT_NE(NULL, ref);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	fill_pattern(ref, len, (uint64_t)getpid() << 20 | time(NULL));
	copy_io(p, ref, len);
	EXPECT_EQ(0, memcmp(ref, p, len));
	munmap(p, len);
	free(ref);
}

FIXTURE(odirect)
{
	struct nvme_fn fns[MAX_NVME];
	int nfns;
	int provider;
	const char *src;	/* a namespace that is not the provider's */
	const char *dst;	/* another namespace that is not the provider's */
	void *p2p;		/* XFER bytes of the provider's p2pmem */
	void *ram;		/* XFER bytes of RAM for setting up and checking */
	void *ref;
	int kmsg;
};

FIXTURE_SETUP(odirect)
{
	int i, j = 0;

	self->p2p = MAP_FAILED;
	self->ram = NULL;
	self->kmsg = -1;
	self->nfns = nvme_enumerate(self->fns, MAX_NVME);
	self->provider = first_provider(self->fns, self->nfns);
	if (self->provider < 0) {
		ASSERT_TRUE(expect("none")) TH_LOG("no provider, yet one is expected");
		SKIP(return, "no p2pmem provider in this topology");
	}
	for (i = 0; i < self->nfns; i++) {
		if (i == self->provider || !self->fns[i].ns[0])
			continue;
		if (!j++)
			self->src = self->fns[i].ns;
		else
			self->dst = self->fns[i].ns;
	}
	ASSERT_GE(j, 2) TH_LOG("need two namespaces besides the provider's");
	ASSERT_EQ(0, posix_memalign(&self->ram, 4096, XFER));
	self->ref = malloc(XFER);
	ASSERT_NE(NULL, self->ref);
	self->p2p = p2pmem_map(self->fns[self->provider].pci, XFER);
	ASSERT_NE(MAP_FAILED, self->p2p) TH_LOG("mmap: %s", strerror(errno));
	fill_pattern(self->ref, XFER, time(NULL) ^ (uint64_t)getpid() << 32);
	self->kmsg = kmsg_open();
}

FIXTURE_TEARDOWN(odirect)
{
	if (self->p2p != MAP_FAILED)
		munmap(self->p2p, XFER);
	free(self->ram);
	free(self->ref);
	if (self->kmsg >= 0)
		close(self->kmsg);
}

/* Put @ref on @ns through the ordinary RAM buffer @ram. */
static void seed_namespace(struct __test_metadata *_metadata, const char *ns,
			   void *ram, const void *ref)
{
	memcpy(ram, ref, XFER);
	ASSERT_EQ(XFER, direct_io(ns, true, ram, XFER, 0));
}

/* The provider's own namespace reads into its own CMB. */
TEST_F(odirect, read_into_own_cmb)
{
	const char *ns = self->fns[self->provider].ns;

	ASSERT_NE(0, ns[0]);
	seed_namespace(_metadata, ns, self->ram, self->ref);
	memset(self->ram, 0xa5, XFER);
	copy_io(self->p2p, self->ram, XFER);
	ASSERT_EQ(XFER, direct_io(ns, false, self->p2p, XFER, 0));
	copy_io(self->ram, self->p2p, XFER);
	EXPECT_EQ(0, memcmp(self->ram, self->ref, XFER));
}

/* NVMe A -> p2pmem of the provider -> NVMe B, verified byte for byte. */
TEST_F(odirect, peer_to_peer_copy)
{
	char line[1024];
	ssize_t n;

	seed_namespace(_metadata, self->src, self->ram, self->ref);
	memset(self->ram, 0xa5, XFER);
	copy_io(self->p2p, self->ram, XFER);
	n = direct_io(self->src, false, self->p2p, XFER, 0);
	if (!expect_peer_p2p()) {
		EXPECT_EQ(-EREMOTEIO, n) TH_LOG("%s -> p2pmem of %s: %zd",
						self->src, self->fns[self->provider].pci, n);
		EXPECT_FALSE(kmsg_alarming(self->kmsg, line, sizeof(line))) TH_LOG("%s", line);
		return;
	}
	ASSERT_EQ(XFER, n) TH_LOG("read %s into p2pmem: %s", self->src, strerror(-n));
	ASSERT_EQ(XFER, direct_io(self->dst, true, self->p2p, XFER, 0));
	memset(self->ram, 0, XFER);
	ASSERT_EQ(XFER, direct_io(self->dst, false, self->ram, XFER, 0));
	EXPECT_EQ(0, memcmp(self->ram, self->ref, XFER));
	EXPECT_FALSE(kmsg_alarming(self->kmsg, line, sizeof(line))) TH_LOG("%s", line);
}

/* Writing from p2pmem to a peer is refused, or lands intact. */
TEST_F(odirect, write_from_p2pmem)
{
	ssize_t n;

	copy_io(self->p2p, self->ref, XFER);
	n = direct_io(self->dst, true, self->p2p, XFER, 0);
	if (!expect_peer_p2p()) {
		EXPECT_EQ(-EREMOTEIO, n);
		return;
	}
	ASSERT_EQ(XFER, n);
	memset(self->ram, 0, XFER);
	ASSERT_EQ(XFER, direct_io(self->dst, false, self->ram, XFER, 0));
	EXPECT_EQ(0, memcmp(self->ram, self->ref, XFER));
}

TEST_HARNESS_MAIN
