/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the P2PDMA selftests and the report tool: find the
 * NVMe functions of the machine, their CMBs, the p2pmem providers, do
 * O_DIRECT I/O through a p2pmem mapping, and watch the kernel log.
 *
 * What a test expects is worked out from the hardware (the NVMe CMBSZ and
 * CMBLOC registers, the BAR sizes) and from the topology the harness booted
 * (P2PDMA_EXPECT), never from the code under test.
 */
#ifndef P2PDMA_UTIL_H
#define P2PDMA_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif

#define PCI_DEVICES	"/sys/bus/pci/devices"
#define NVME_CLASS	"/sys/class/nvme"
#define MAX_NVME	8

/* NVMe 1.4, 3.1.11 and 3.1.12: Controller Memory Buffer Location / Size. */
#define CMBSZ_SQS	0x1u
#define CMBSZ_RDS	0x8u
#define CMBSZ_WDS	0x10u
#define CMBSZ_SZU(x)	(((x) >> 8) & 0xf)
#define CMBSZ_SZ(x)	((x) >> 12)
#define CMBLOC_BIR(x)	((x) & 0x7)
#define CMBLOC_OFST(x)	((x) >> 12)

struct nvme_fn {
	char pci[64];		/* PCI device name, e.g. 0000:03:00.0 */
	char ctrl[32];		/* nvmeN */
	char ns[64];		/* /dev/nvmeNn1, or "" */
	uint32_t cmbsz;		/* CMBSZ register, 0 without a CMB */
	uint32_t cmbloc;	/* CMBLOC register */
	uint64_t cmb_bytes;	/* usable CMB bytes: CMB size clipped to its BAR */
};

/* The behaviour the harness declared for P2P between two NVMe functions. */
static inline const char *p2p_expect(void)
{
	const char *e = getenv("P2PDMA_EXPECT");

	return e ? e : "";
}

static inline int read_text(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return 0;
}

/* Write @val to the file @path: 0, or -errno. */
static inline int write_text(const char *path, const char *val)
{
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	n = n < 0 ? -errno : 0;
	close(fd);
	return n;
}

/* Read an unsigned number (decimal, or hex with 0x) from a sysfs file. */
static inline int read_u64(const char *path, uint64_t *val)
{
	char buf[64], *end;
	int ret;

	ret = read_text(path, buf, sizeof(buf));
	if (ret)
		return ret;
	errno = 0;
	*val = strtoull(buf, &end, 0);
	if (errno || end == buf)
		return -EINVAL;
	return 0;
}

static inline int p2pmem_read(const char *pci, const char *attr, uint64_t *val)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/p2pmem/%s", pci, attr);
	return read_u64(path, val);
}

static inline bool has_p2pmem(const char *pci)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/p2pmem", pci);
	return stat(path, &st) == 0;
}

/*
 * Start, end and flags of BAR @bar of @pci, from the sysfs resource table:
 * 0, or -errno.
 */
static inline int bar_resource(const char *pci, int bar, unsigned long long *start,
			       unsigned long long *end, unsigned long long *flags)
{
	char path[PATH_MAX];
	int i, ret = 0;
	FILE *f;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/resource", pci);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	for (i = 0; i <= bar && !ret; i++)
		if (fscanf(f, "%llx %llx %llx", start, end, flags) != 3)
			ret = -EINVAL;
	fclose(f);
	return ret;
}

/* Size of BAR @bar of @pci from the sysfs resource table. */
static inline uint64_t bar_size(const char *pci, int bar)
{
	unsigned long long start, end, flags;

	if (bar_resource(pci, bar, &start, &end, &flags) || end <= start)
		return 0;
	return end - start + 1;
}

static inline void nvme_cmb_bytes(struct nvme_fn *fn)
{
	uint64_t unit, size, offset, bar;

	if (!fn->cmbsz)
		return;
	unit = 1ull << (12 + 4 * CMBSZ_SZU(fn->cmbsz));
	size = unit * CMBSZ_SZ(fn->cmbsz);
	offset = unit * CMBLOC_OFST(fn->cmbloc);
	bar = bar_size(fn->pci, CMBLOC_BIR(fn->cmbloc));
	if (offset >= bar)
		return;
	fn->cmb_bytes = size < bar - offset ? size : bar - offset;
}

static int nvme_fn_cmp(const void *a, const void *b)
{
	return strcmp(((const struct nvme_fn *)a)->pci,
		      ((const struct nvme_fn *)b)->pci);
}

/* Fill @fns with the machine's NVMe controllers, sorted by PCI name. */
static inline int nvme_enumerate(struct nvme_fn *fns, int max)
{
	char path[PATH_MAX], link[PATH_MAX];
	struct dirent *de;
	uint64_t v;
	int n = 0;
	DIR *d;

	d = opendir(NVME_CLASS);
	if (!d)
		return 0;
	while ((de = readdir(d)) && n < max) {
		struct nvme_fn *fn = &fns[n];
		ssize_t len;
		char *base;

		if (strncmp(de->d_name, "nvme", 4) || strchr(de->d_name + 4, 'n'))
			continue;
		memset(fn, 0, sizeof(*fn));
		snprintf(path, sizeof(path), NVME_CLASS "/%s/device", de->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		if (len < 0)
			continue;
		link[len] = '\0';
		base = strrchr(link, '/');
		snprintf(fn->pci, sizeof(fn->pci), "%.63s", base ? base + 1 : link);
		snprintf(fn->ctrl, sizeof(fn->ctrl), "%.31s", de->d_name);
		snprintf(path, sizeof(path), NVME_CLASS "/%s/%sn1", de->d_name, de->d_name);
		if (access(path, F_OK) == 0)
			snprintf(fn->ns, sizeof(fn->ns), "/dev/%.31sn1", de->d_name);
		snprintf(path, sizeof(path), NVME_CLASS "/%s/cmbsz", de->d_name);
		if (!read_u64(path, &v))
			fn->cmbsz = v;
		snprintf(path, sizeof(path), NVME_CLASS "/%s/cmbloc", de->d_name);
		if (!read_u64(path, &v))
			fn->cmbloc = v;
		nvme_cmb_bytes(fn);
		n++;
	}
	closedir(d);
	qsort(fns, n, sizeof(*fns), nvme_fn_cmp);
	return n;
}

/* Index of the first NVMe function that provides p2pmem, or -1. */
static inline int first_provider(struct nvme_fn *fns, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (has_p2pmem(fns[i].pci))
			return i;
	return -1;
}

/* Index of the first NVMe function with a namespace other than @provider, or -1. */
static inline int first_peer(struct nvme_fn *fns, int n, int provider)
{
	int i;

	for (i = 0; i < n; i++)
		if (i != provider && fns[i].ns[0])
			return i;
	return -1;
}

static inline int p2pmem_open(const char *pci)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/p2pmem/allocate", pci);
	return open(path, O_RDWR);
}

/* Map @len bytes of @pci's p2pmem; MAP_FAILED with errno set on failure. */
static inline void *p2pmem_map(const char *pci, size_t len)
{
	void *p;
	int fd;

	fd = p2pmem_open(pci);
	if (fd < 0)
		return MAP_FAILED;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		int err = errno;

		close(fd);
		errno = err;
		return MAP_FAILED;
	}
	close(fd);
	return p;
}

/*
 * In a forked child: be killed with the parent, so that a test process that
 * failed an assertion leaves no child behind.  -1 if the parent is gone.
 */
static inline int die_with_parent(void)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() == 1)
		return -1;
	return 0;
}

/* Deterministic, seed-dependent content so stale data never passes. */
static inline void fill_pattern(void *buf, size_t len, uint64_t seed)
{
	uint64_t *p = buf, x = seed | 1;
	size_t i;

	for (i = 0; i < len / sizeof(*p); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = x;
	}
}

/*
 * p2pmem is device memory: access it with single 64-bit loads and stores
 * that the compiler may neither merge, split nor drop.
 */
static inline uint64_t io_read64(const void *p)
{
	return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
}

static inline void io_write64(void *p, uint64_t v)
{
	__atomic_store_n((uint64_t *)p, v, __ATOMIC_RELAXED);
}

static inline void copy_io(void *dst, const void *src, size_t len)
{
	const uint64_t *s = src;
	uint64_t *d = dst;
	size_t i;

	for (i = 0; i < len / sizeof(uint64_t); i++)
		io_write64(&d[i], io_read64(&s[i]));
}

/* O_DIRECT transfer of @len bytes at @off; returns bytes or -errno. */
static inline ssize_t direct_io(const char *dev, bool write, void *buf,
				size_t len, off_t off)
{
	ssize_t n;
	int fd;

	fd = open(dev, (write ? O_WRONLY : O_RDONLY) | O_DIRECT);
	if (fd < 0)
		return -errno;
	n = write ? pwrite(fd, buf, len, off) : pread(fd, buf, len, off);
	if (n < 0)
		n = -errno;
	close(fd);
	return n;
}

/* Kernel log watcher: anything alarming logged since kmsg_open()? */
static inline int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

static inline bool kmsg_alarming(int fd, char *line, size_t len)
{
	static const char * const bad[] = {
		"WARNING:", "BUG:", "Oops", "refcount_t", "UBSAN:", "kernel BUG",
		"general protection fault", "blocked for more than",
	};
	char rec[1024];
	ssize_t n;
	size_t i;

	while ((n = read(fd, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		if (n <= 0)
			continue;
		rec[n] = '\0';
		for (i = 0; i < ARRAY_SIZE(bad); i++) {
			if (strstr(rec, bad[i])) {
				snprintf(line, len, "%s", rec);
				return true;
			}
		}
	}
	return false;
}

/*
 * Read the kernel log on @fd (/dev/kmsg, O_NONBLOCK) to its end and copy
 * into @out, one per line, the records that contain @a and, unless NULL,
 * @b: how many there were, or -errno.
 */
static inline int kmsg_collect(int fd, const char *a, const char *b,
			       char *out, size_t len)
{
	char rec[8192], *msg;
	int n = 0;
	ssize_t r;

	if (len)
		out[0] = '\0';
	while ((r = read(fd, rec, sizeof(rec) - 1)) > 0 || (r < 0 && errno == EPIPE)) {
		if (r <= 0)
			continue;
		rec[r] = '\0';
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		msg[strcspn(msg, "\n")] = '\0';
		if (!strstr(msg, a) || (b && !strstr(msg, b)))
			continue;
		if (strlen(out) + strlen(msg) + 2 <= len) {
			strcat(out, msg);
			strcat(out, "\n");
		}
		n++;
	}
	return r < 0 && errno != EAGAIN ? -errno : n;
}

/* One line of /sys/kernel/debug/p2pdma/providers (the rewritten core's view). */
struct dbg_provider {
	unsigned long long size;
	unsigned long long avail;
	int published;
	char modes[64];		/* cache mode of each range, e.g. "wc,uc" */
	unsigned long long zeroed;	/* bytes cleared for user mappings */
};

/* Read @pci's line of the providers view into @p; 0 when found. */
static inline int dbg_provider_line(const char *pci, struct dbg_provider *p)
{
	char name[64], line[256];
	int found = -ENOENT;
	FILE *f;

	f = fopen("/sys/kernel/debug/p2pdma/providers", "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#' ||
		    sscanf(line, "%63s %llu %llu %d %63s %llu", name, &p->size, &p->avail,
			   &p->published, p->modes, &p->zeroed) != 6)
			continue;
		if (!strcmp(name, pci)) {
			found = 0;
			break;
		}
	}
	fclose(f);
	return found;
}

#endif /* P2PDMA_UTIL_H */
