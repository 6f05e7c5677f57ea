// SPDX-License-Identifier: GPL-2.0
/*
 * p2pdma_bench - performance figures of PCI peer-to-peer memory, one line
 * per metric:
 *
 *   BENCH <name> <value> <unit>
 *   BENCH <name> n/a <unit>	(preceded by a "# reason" line)
 *
 * The in-kernel figures (alloc_*, map_sg_*, copy_to_iomem_*, memset_io_*)
 * come from the test_p2pdma_bench module through
 * /sys/kernel/debug/p2pdma_bench/run; mmap_16m and zero_map_16m use the
 * provider's p2pmem/allocate file (zero_map_16m times the mmap() of pages
 * the previous mapping wrote to, which a kernel that zeroes p2pmem before
 * mapping it has to zero: compare it with memset_io_16m), and odirect_* copy
 * between two NVMe namespaces that are not the provider's, through p2pmem
 * or through RAM.  The odirect metrics OVERWRITE the first 16 MiB of both
 * namespaces.  loop_stage_* time O_DIRECT writes and reads through an
 * nvme-loop controller in staging mode whose target stages the data of the
 * first of those namespaces in p2pmem, or in RAM (the reference: the base
 * kernel has no staging mode); loop_stage_p2p_share is the share of that
 * run's requests the target served from p2pmem.  They OVERWRITE the first
 * 16 MiB of that namespace too.  With -s, odirect_spare_64k copies as
 * odirect_p2p_64k does through the p2pmem of another provider (the
 * ivshmem bound to p2pmem-pci: QEMU implements it as RAM, the CMB with I/O
 * callbacks).  With -d, iopmem_{write,read}_1m time O_DIRECT to that iopmem
 * disk, and brd_{write,read}_1m the same on /dev/ram0 (RAM), over the
 * first 4 MiB of each.  Not a test: the exit status is 0 whatever the
 * figures.
 *
 * Usage: p2pdma_bench [-t seconds] [-s PCI] [-d DISK]
 */
#define _GNU_SOURCE
#include <time.h>

#include "p2pdma_util.h"
#include "nvmet_util.h"

#define BENCH_RUN	"/sys/kernel/debug/p2pdma_bench/run"
#define XFER		(64 * 1024)
#define REGION		(16 << 20)	/* odirect: bytes cycled through */
#define MMAP_LEN	(16 << 20)
#define TOUCH		4096		/* mmap: one store per this many bytes */
#define T_MAX		60.0		/* the module refuses ms > 60000 */

static double seconds = 1.0;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void result(const char *name, double value, int prec, const char *unit)
{
	printf("BENCH %s %.*f %s\n", name, prec, value, unit);
}

/* Give the metric as not available; the caller printed "# <name>: <why>". */
static void not_available(const char *name, const char *unit)
{
	printf("BENCH %s n/a %s\n", name, unit);
}

/* ---- metrics measured by the test_p2pdma_bench module ---- */

/* Write @cmd to the module and read its one-line answer into @res. */
static int module_run(const char *cmd, char *res, size_t len)
{
	ssize_t n;
	int fd, err = 0;

	fd = open(BENCH_RUN, O_RDWR);
	if (fd < 0)
		return -errno;
	if (write(fd, cmd, strlen(cmd)) < 0) {
		err = -errno;
		goto out;
	}
	n = pread(fd, res, len - 1, 0);
	if (n < 0) {
		err = -errno;
		goto out;
	}
	res[n] = '\0';
	while (n > 0 && res[n - 1] == '\n')
		res[--n] = '\0';
out:
	close(fd);
	return err;
}

/* Value of "@key=<n>" in a result line. */
static bool result_value(const char *line, const char *key, uint64_t *val)
{
	size_t klen = strlen(key);
	const char *p = line;

	while ((p = strstr(p, key))) {
		if ((p == line || p[-1] == ' ') && p[klen] == '=') {
			*val = strtoull(p + klen + 1, NULL, 10);
			return true;
		}
		p += klen;
	}
	return false;
}

/*
 * Run @cmd for the configured time and print scale * @num / @den, @num and
 * @den being two keys of the module's answer.
 */
static void bench_module(const char *name, const char *unit, int prec,
			 const char *cmd, const char *num, const char *den,
			 double scale)
{
	char line[256], res[256];
	uint64_t n, d, fails;
	unsigned int ms;
	int ret;

	if (access(BENCH_RUN, F_OK)) {
		printf("# %s: %s absent: test_p2pdma_bench not loaded (or debugfs not mounted)\n",
		       name, BENCH_RUN);
		not_available(name, unit);
		return;
	}
	ms = seconds * 1000 + 0.5;
	snprintf(line, sizeof(line), "%s ms=%u\n", cmd, ms ? ms : 1);
	ret = module_run(line, res, sizeof(res));
	if (ret) {
		printf("# %s: \"%s\": %s\n", name, cmd, strerror(-ret));
		not_available(name, unit);
		return;
	}
	if (result_value(res, "unsupported", &n) && n) {
		printf("# %s: \"%s\" is not supported by this kernel\n", name,
		       cmd);
		not_available(name, unit);
		return;
	}
	if (!result_value(res, num, &n) || !result_value(res, den, &d) ||
	    !n || !d) {
		printf("# %s: \"%s\" -> \"%s\"\n", name, cmd, res);
		not_available(name, unit);
		return;
	}
	if (result_value(res, "fails", &fails) && fails)
		printf("# %s: %llu allocations failed\n", name,
		       (unsigned long long)fails);
	result(name, scale * n / d, prec, unit);
}

/* ---- mmap_16m: map, touch and unmap 16 MiB of p2pmem/allocate ---- */

/*
 * Whether @prov can give MMAP_LEN bytes of p2pmem; if not, says why and
 * gives metric @name as not available.
 */
static bool mmap_possible(const char *name, const char *unit,
			  const struct nvme_fn *prov)
{
	uint64_t avail;

	if (!prov) {
		printf("# %s: no p2pmem provider\n", name);
		not_available(name, unit);
		return false;
	}
	if (!p2pmem_read(prov->pci, "available", &avail) && avail < MMAP_LEN) {
		printf("# %s: %s has only %llu bytes of p2pmem available\n",
		       name, prov->pci, (unsigned long long)avail);
		not_available(name, unit);
		return false;
	}
	return true;
}

static void bench_mmap(const struct nvme_fn *prov)
{
	const char *name = "mmap_16m", *unit = "MiB/s";
	uint64_t iters = 0;
	double t0, t;
	size_t off;
	void *p;
	int fd;

	if (!mmap_possible(name, unit, prov))
		return;

	t0 = now();
	do {
		fd = p2pmem_open(prov->pci);
		if (fd < 0) {
			printf("# %s: open %s p2pmem/allocate: %s\n", name,
			       prov->pci, strerror(errno));
			not_available(name, unit);
			return;
		}
		p = mmap(NULL, MMAP_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
			 fd, 0);
		if (p == MAP_FAILED) {
			printf("# %s: mmap %d bytes of %s: %s\n", name,
			       MMAP_LEN, prov->pci, strerror(errno));
			not_available(name, unit);
			close(fd);
			return;
		}
		for (off = 0; off < MMAP_LEN; off += TOUCH)
			io_write64((char *)p + off, off);
		munmap(p, MMAP_LEN);
		close(fd);
		iters++;
		t = now() - t0;
	} while (t < seconds);

	result(name, 16.0 * iters / t, 1, unit);
}

/* ---- zero_map_16m: mmap() of 16 MiB of written-to p2pmem/allocate ---- */

/*
 * mmap() MMAP_LEN bytes of @prov's p2pmem/allocate, adding the time the
 * mmap() call took to *@elapsed, store to every page of the mapping so that
 * all of them are dirty, and unmap it.  Returns 0, or -1 after giving the
 * metric as not available.
 */
static int zero_map_once(const char *name, const char *unit,
			 const struct nvme_fn *prov, double *elapsed)
{
	double t0;
	size_t off;
	void *p;
	int fd;

	fd = p2pmem_open(prov->pci);
	if (fd < 0) {
		printf("# %s: open %s p2pmem/allocate: %s\n", name, prov->pci,
		       strerror(errno));
		not_available(name, unit);
		return -1;
	}
	t0 = now();
	p = mmap(NULL, MMAP_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	*elapsed += now() - t0;
	if (p == MAP_FAILED) {
		printf("# %s: mmap %d bytes of %s: %s\n", name, MMAP_LEN,
		       prov->pci, strerror(errno));
		not_available(name, unit);
		close(fd);
		return -1;
	}
	for (off = 0; off < MMAP_LEN; off += TOUCH)
		io_write64((char *)p + off, ~(uint64_t)off);
	munmap(p, MMAP_LEN);
	close(fd);
	return 0;
}

static void bench_zero_map(const struct nvme_fn *prov)
{
	const char *name = "zero_map_16m", *unit = "MiB/s";
	double t0, mapping = 0, untimed = 0;
	uint64_t iters = 0;

	if (!mmap_possible(name, unit, prov))
		return;

	/* Untimed: leave the pages the timed mappings get back dirty. */
	if (zero_map_once(name, unit, prov, &untimed))
		return;
	t0 = now();
	do {
		if (zero_map_once(name, unit, prov, &mapping))
			return;
		iters++;
	} while (now() - t0 < seconds);

	result(name, 16.0 * iters / mapping, 1, unit);
}

/* ---- odirect_*: namespace -> buffer -> namespace with O_DIRECT ---- */

struct odirect {
	const char *src;
	const char *dst;
	int sfd;
	int dfd;
	off_t region;	/* bytes of each namespace used, a multiple of XFER */
};

static off_t dev_size(int fd)
{
	off_t size = lseek(fd, 0, SEEK_END);

	return size < 0 ? 0 : size;
}

/*
 * Open the first two namespaces that are not the provider's (as the odirect
 * fixture of p2pmem_test picks them) and seed the source from RAM.  Returns
 * 0, or -1 with the reason in @why.
 */
static int odirect_setup(const struct nvme_fn *fns, int n, int prov,
			 struct odirect *od, char *why, size_t len)
{
	off_t off, ssize, dsize;
	void *ram = NULL;
	ssize_t ret;
	int i, j = 0;

	od->sfd = -1;
	od->dfd = -1;
	if (prov < 0) {
		snprintf(why, len, "no p2pmem provider");
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (i == prov || !fns[i].ns[0])
			continue;
		if (!j++)
			od->src = fns[i].ns;
		else
			od->dst = fns[i].ns;
	}
	if (j < 2) {
		snprintf(why, len, "need two namespaces besides the provider's, found %d",
			 j);
		return -1;
	}

	od->sfd = open(od->src, O_RDWR | O_DIRECT);
	if (od->sfd < 0) {
		snprintf(why, len, "open %s: %s", od->src, strerror(errno));
		return -1;
	}
	od->dfd = open(od->dst, O_WRONLY | O_DIRECT);
	if (od->dfd < 0) {
		snprintf(why, len, "open %s: %s", od->dst, strerror(errno));
		return -1;
	}
	ssize = dev_size(od->sfd);
	dsize = dev_size(od->dfd);
	od->region = REGION;
	if (ssize < od->region)
		od->region = ssize;
	if (dsize < od->region)
		od->region = dsize;
	od->region -= od->region % XFER;
	if (!od->region) {
		snprintf(why, len, "%s or %s is smaller than %d bytes", od->src,
			 od->dst, XFER);
		return -1;
	}

	if (posix_memalign(&ram, 4096, XFER)) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	for (off = 0; off < od->region; off += XFER) {
		fill_pattern(ram, XFER, 0x5eed0000u + off / XFER);
		ret = pwrite(od->sfd, ram, XFER, off);
		if (ret != XFER) {
			snprintf(why, len, "seeding %s at %lld: %s", od->src,
				 (long long)off,
				 ret < 0 ? strerror(errno) : "short write");
			free(ram);
			return -1;
		}
	}
	free(ram);
	return 0;
}

static void odirect_teardown(struct odirect *od)
{
	if (od->sfd >= 0)
		close(od->sfd);
	if (od->dfd >= 0)
		close(od->dfd);
}

/* Copy src -> @buf -> dst, XFER bytes at a time, for the configured time. */
static void bench_odirect(const char *name, const struct odirect *od,
			  void *buf, const char *what)
{
	off_t off = 0;
	uint64_t bytes = 0;
	double t0, t;
	ssize_t ret;

	t0 = now();
	do {
		ret = pread(od->sfd, buf, XFER, off);
		if (ret != XFER) {
			printf("# %s: read %s at %lld into %s: %s\n", name,
			       od->src, (long long)off, what,
			       ret < 0 ? strerror(errno) : "short read");
			not_available(name, "MB/s");
			return;
		}
		ret = pwrite(od->dfd, buf, XFER, off);
		if (ret != XFER) {
			printf("# %s: write %s at %lld from %s: %s\n", name,
			       od->dst, (long long)off, what,
			       ret < 0 ? strerror(errno) : "short write");
			not_available(name, "MB/s");
			return;
		}
		bytes += XFER;
		off = (off + XFER) % od->region;
		t = now() - t0;
	} while (t < seconds);

	result(name, bytes / t / 1e6, 1, "MB/s");
}

static void bench_odirect_all(const struct nvme_fn *fns, int n, int prov,
			      const char *spare)
{
	struct odirect od = { 0 };
	void *p2p, *ram;
	char why[256];

	if (odirect_setup(fns, n, prov, &od, why, sizeof(why))) {
		printf("# odirect_p2p_64k: %s\n", why);
		not_available("odirect_p2p_64k", "MB/s");
		printf("# odirect_spare_64k: %s\n", why);
		not_available("odirect_spare_64k", "MB/s");
		printf("# odirect_ram_64k: %s\n", why);
		not_available("odirect_ram_64k", "MB/s");
		odirect_teardown(&od);
		return;
	}

	p2p = p2pmem_map(fns[prov].pci, XFER);
	if (p2p == MAP_FAILED) {
		printf("# odirect_p2p_64k: mmap %d bytes of %s: %s\n", XFER,
		       fns[prov].pci, strerror(errno));
		not_available("odirect_p2p_64k", "MB/s");
	} else {
		bench_odirect("odirect_p2p_64k", &od, p2p, "p2pmem");
		munmap(p2p, XFER);
	}

	p2p = spare ? p2pmem_map(spare, XFER) : MAP_FAILED;
	if (p2p == MAP_FAILED) {
		if (spare)
			printf("# odirect_spare_64k: mmap p2pmem of %s: %s\n",
			       spare, strerror(errno));
		else
			printf("# odirect_spare_64k: no -s provider\n");
		not_available("odirect_spare_64k", "MB/s");
	} else {
		bench_odirect("odirect_spare_64k", &od, p2p, "the spare's p2pmem");
		munmap(p2p, XFER);
	}

	if (posix_memalign(&ram, 4096, XFER)) {
		printf("# odirect_ram_64k: out of memory\n");
		not_available("odirect_ram_64k", "MB/s");
	} else {
		bench_odirect("odirect_ram_64k", &od, ram, "RAM");
		free(ram);
	}
	odirect_teardown(&od);
}

/* ---- loop_stage_*: O_DIRECT through nvme-loop's staging target ---- */

#define LOOP_XFER	(1024 * 1024)
#define LOOP_PORT	2702

/* Write and read back LOOP_XFER at a time through @l for the set time. */
static void bench_loop(const char *name, const char *backing, const char *p2pmem,
		       struct stage_stats *st)
{
	struct nvmet_loop l;
	const char *step = "";
	uint64_t bytes = 0;
	off_t off = 0;
	double t0, t;
	void *buf;
	int ret, fd;

	memset(st, 0, sizeof(*st));
	ret = nvmet_loop_export(&l, LOOP_PORT, backing, p2pmem, false, &step);
	if (!ret)
		ret = nvmet_loop_connect(&l);
	else
		printf("# %s: %s: %s\n", name, step, strerror(-ret));
	fd = ret ? -1 : open(l.dev, O_RDWR | O_DIRECT);
	if (fd < 0 || posix_memalign(&buf, 4096, LOOP_XFER)) {
		if (!ret)
			printf("# %s: open %s: %s\n", name, l.dev, strerror(errno));
		not_available(name, "MB/s");
		if (fd >= 0)
			close(fd);
		nvmet_loop_remove(&l);
		return;
	}
	fill_pattern(buf, LOOP_XFER, 0x100b);
	t0 = now();
	do {
		if (pwrite(fd, buf, LOOP_XFER, off) != LOOP_XFER ||
		    pread(fd, buf, LOOP_XFER, off) != LOOP_XFER) {
			printf("# %s: I/O at %lld: %s\n", name, (long long)off,
			       strerror(errno));
			bytes = 0;
			break;
		}
		bytes += 2 * LOOP_XFER;
		off = (off + LOOP_XFER) % REGION;
		t = now() - t0;
	} while (t < seconds);
	free(buf);
	close(fd);
	if (bytes)
		result(name, bytes / t / 1e6, 1, "MB/s");
	else
		not_available(name, "MB/s");
	if (nvmet_loop_stats(&l, st))
		memset(st, 0, sizeof(*st));
	nvmet_loop_remove(&l);
}

static void bench_loop_all(const struct nvme_fn *fns, int n, int prov)
{
	const char *backing = NULL;
	struct stage_stats st;
	unsigned long long all;
	bool was;
	int i;

	for (i = 0; i < n && !backing; i++)
		if (i != prov && fns[i].ns[0])
			backing = fns[i].ns;
	if (prov < 0 || !backing || loop_staging(true, &was)) {
		printf("# loop_stage_*: %s\n", prov < 0 ? "no p2pmem provider" :
		       !backing ? "no namespace besides the provider's" :
		       "nvme-loop has no staging mode");
		not_available("loop_stage_p2p_1m", "MB/s");
		not_available("loop_stage_p2p_share", "%");
		not_available("loop_stage_ram_1m", "MB/s");
		return;
	}
	bench_loop("loop_stage_p2p_1m", backing, fns[prov].pci, &st);
	all = st.p2pmem + st.fallback + st.ram;
	if (all)
		result("loop_stage_p2p_share", 100.0 * st.p2pmem / all, 1, "%");
	else
		not_available("loop_stage_p2p_share", "%");
	bench_loop("loop_stage_ram_1m", backing, "0", &st);
	loop_staging(was, NULL);
}

/* ---- iopmem_* and brd_*: O_DIRECT to a disk ---- */

#define DISK_XFER	(1024 * 1024)
#define DISK_REGION	(4 << 20)	/* /dev/ram0 is 4 MiB by default */

/* Write or read DISK_XFER at a time over DISK_REGION of @dev. */
static void bench_disk(const char *name, const char *dev, bool write)
{
	uint64_t bytes = 0;
	double t0, t;
	off_t off = 0;
	ssize_t ret;
	void *buf;
	int fd;

	if (!dev) {
		printf("# %s: no -d disk\n", name);
		not_available(name, "MB/s");
		return;
	}
	fd = open(dev, O_RDWR | O_DIRECT);
	if (fd < 0) {
		printf("# %s: open %s: %s\n", name, dev, strerror(errno));
		not_available(name, "MB/s");
		return;
	}
	ret = posix_memalign(&buf, 4096, DISK_XFER);
	if (ret) {
		printf("# %s: no buffer: %s\n", name, strerror(ret));
		not_available(name, "MB/s");
		close(fd);
		return;
	}
	fill_pattern(buf, DISK_XFER, 0xd15c);
	t0 = now();
	do {
		ret = write ? pwrite(fd, buf, DISK_XFER, off) :
			      pread(fd, buf, DISK_XFER, off);
		if (ret != DISK_XFER) {
			printf("# %s: %s %s at %lld: %s\n", name, write ? "write" : "read",
			       dev, (long long)off, ret < 0 ? strerror(errno) : "short");
			not_available(name, "MB/s");
			goto out;
		}
		bytes += DISK_XFER;
		off = (off + DISK_XFER) % DISK_REGION;
		t = now() - t0;
	} while (t < seconds);
	result(name, bytes / t / 1e6, 1, "MB/s");
out:
	free(buf);
	close(fd);
}

static void print_usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-t seconds] [-s PCI] [-d DISK]\n"
		"  -t  time spent on each metric, 0 < seconds <= %.0f (default 1.0)\n"
		"  -s  another p2pmem provider, for odirect_spare_64k\n"
		"  -d  an iopmem disk, for iopmem_*\n",
		prog, T_MAX);
}

int main(int argc, char **argv)
{
	const char *spare = NULL, *disk = NULL;
	struct nvme_fn fns[MAX_NVME];
	char *end;
	int opt, n, prov;

	while ((opt = getopt(argc, argv, "ht:s:d:")) != -1) {
		switch (opt) {
		case 's':
			spare = optarg;
			break;
		case 'd':
			disk = optarg;
			break;
		case 't':
			seconds = strtod(optarg, &end);
			if (end == optarg || *end || !(seconds > 0) ||
			    seconds > T_MAX) {
				print_usage(argv[0]);
				return 1;
			}
			break;
		case 'h':
			print_usage(argv[0]);
			return 0;
		default:
			print_usage(argv[0]);
			return 1;
		}
	}
	if (optind != argc) {
		print_usage(argv[0]);
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	bench_module("alloc_free_4k_1cpu", "pairs/s", 0,
		     "alloc_free size=4096 threads=1", "ops", "ns", 1e9);
	bench_module("alloc_free_4k_2cpu", "pairs/s", 0,
		     "alloc_free size=4096 threads=2", "ops", "ns", 1e9);
	bench_module("alloc_free_64k_2cpu", "pairs/s", 0,
		     "alloc_free size=65536 threads=2", "ops", "ns", 1e9);
	bench_module("alloc_sgl_1m", "pairs/s", 0,
		     "alloc_sgl len=1048576", "ops", "ns", 1e9);
	bench_module("map_sg_256", "ns/seg", 1,
		     "map_sg nents=256", "ns", "segs", 1);
	bench_module("copy_to_iomem_1m", "MB/s", 1,
		     "copy_to_iomem len=1048576", "bytes", "ns", 1e3);
	bench_module("memset_io_16m", "MiB/s", 1,
		     "memset_io len=16777216", "bytes", "ns", 1e9 / (1 << 20));

	n = nvme_enumerate(fns, MAX_NVME);
	prov = first_provider(fns, n);
	bench_mmap(prov < 0 ? NULL : &fns[prov]);
	bench_zero_map(prov < 0 ? NULL : &fns[prov]);
	bench_odirect_all(fns, n, prov, spare);
	bench_loop_all(fns, n, prov);
	bench_disk("iopmem_write_1m", disk, true);
	bench_disk("iopmem_read_1m", disk, false);
	bench_disk("brd_write_1m", "/dev/ram0", true);
	bench_disk("brd_read_1m", "/dev/ram0", false);

	return 0;
}
