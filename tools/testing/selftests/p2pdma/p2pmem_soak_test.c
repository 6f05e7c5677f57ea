// SPDX-License-Identifier: GPL-2.0
/*
 * A bounded soak of the first provider's p2pmem: for P2PDMA_SOAK_SECONDS
 * (10 by default) these threads run at once, and none of them may see
 * wrong data or an unexpected error:
 *
 *   mmap-1, mmap-2  mmap() of p2pmem/allocate, 4 KiB to 1 MiB, a pattern
 *                   written to every byte and read back, munmap(); on the
 *                   rewritten core a new mapping must read as zero first
 *   odirect         O_DIRECT write of a pattern from a p2pmem mapping to a
 *                   peer NVMe namespace (not the provider's), past its
 *                   first 16 MiB, and read back into another part of the
 *                   mapping, 4 KiB to 256 KiB; where P2P between NVMe
 *                   functions is refused (P2PDMA_EXPECT, see
 *                   p2pmem_test.c) both must fail with EREMOTEIO instead
 *   paths           full reads of debugfs p2pdma/paths: distance queries
 *                   for every PCI function
 *   readers         debugfs p2pdma/providers and sysfs p2pmem/{size,
 *                   available,published}
 *   bench           kernel allocations through the benchmark module
 *                   (lib/test_p2pdma_bench.c): alloc_free and alloc_sgl
 *
 * Threads that need what a kernel lacks (the debugfs view, the benchmark
 * module) do not run there, and the test says so.  Afterwards the pool must
 * be whole again and the kernel log free of anything alarming.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <time.h>

#include "../kselftest_harness.h"
#include "p2pdma_util.h"

#define DBG_PATHS	"/sys/kernel/debug/p2pdma/paths"
#define DBG_PROVIDERS	"/sys/kernel/debug/p2pdma/providers"
#define BENCH_RUN	"/sys/kernel/debug/p2pdma_bench/run"

#define MAP_MAX		(1024 * 1024)	/* largest mapping of mmap-N */
#define IO_BLOCK	4096
#define IO_MAX		(256 * 1024)	/* largest O_DIRECT transfer */
#define DISK_SKIP	(16 << 20)	/* other tests' data: not touched */
#define SOAK_DEFAULT	10		/* seconds */
#define SOAK_MAX	240		/* seconds: leaves room in the timeout */
#define STOP_GRACE	30		/* seconds for the threads to stop */
/*
 * All threads at once hold less than 8 MiB of the pool, per-CPU caches
 * included: in a pool at least this big an allocation never has to fail.
 */
#define POOL_ROOMY	(16 << 20)
#define ERR_LEN		256
#define PATHS_MAX	(4 << 20)	/* largest debugfs paths file read whole */

struct soak {
	const char *pci;	/* the provider */
	const char *peer;	/* /dev/nvmeXn1 of another NVMe function */
	unsigned long long disk;	/* size of @peer in bytes */
	unsigned long long size;	/* p2pmem/size */
	unsigned long long published;	/* p2pmem/published */
	bool p2p;		/* P2P with @peer works; else it is refused */
	bool core;		/* the rewritten core's debugfs view */
	bool roomy;		/* the pool is at least POOL_ROOMY */
	long page;
	int stop;		/* set at the deadline */
};

struct worker {
	const char *name;
	void *(*fn)(void *arg);
	const char *absent;	/* why it cannot run here, or NULL */
	struct soak *soak;
	pthread_t thread;
	bool started;
	unsigned long long seed;
	unsigned long ops;
	unsigned long errors;
	char first[ERR_LEN];	/* the first error */
};

static bool stopping(const struct soak *s)
{
	return __atomic_load_n(&s->stop, __ATOMIC_ACQUIRE);
}

static void worker_error(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	if (w->errors++)
		return;
	va_start(ap, fmt);
	vsnprintf(w->first, sizeof(w->first), fmt, ap);
	va_end(ap);
}

/* xorshift64: each thread its own sequence. */
static unsigned long long rnd(struct worker *w)
{
	unsigned long long x = w->seed;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	w->seed = x;
	return x;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* read_u64() and p2pmem_read() of p2pdma_util.h, for unsigned long long */
static int read_ull(const char *path, unsigned long long *val)
{
	uint64_t v;
	int ret = read_u64(path, &v);

	if (!ret)
		*val = v;
	return ret;
}

static int p2pmem_ull(const char *pci, const char *attr, unsigned long long *val)
{
	uint64_t v;
	int ret = p2pmem_read(pci, attr, &v);

	if (!ret)
		*val = v;
	return ret;
}

/*
 * Read all of @path, keeping the first @len - 1 bytes in @buf; the number
 * of bytes read, or -errno.
 */
static ssize_t read_all(const char *path, char *buf, size_t len)
{
	char sink[4096];
	size_t kept = 0;
	ssize_t n, total = 0;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (kept < len - 1)
			n = read(fd, buf + kept, len - 1 - kept);
		else
			n = read(fd, sink, sizeof(sink));
		if (n <= 0)
			break;
		if (kept < len - 1)
			kept += n;
		total += n;
	}
	if (n < 0)
		total = -errno;
	close(fd);
	buf[kept] = '\0';
	return total;
}

/*
 * Whether the block device @name (as in /sys/class/block) has partitions
 * or holders, or is mounted: a disposable disk has none of them.
 */
static bool disk_in_use(const char *name)
{
	char path[PATH_MAX], line[1024], dev[64];
	struct dirent *de;
	bool used = false;
	FILE *f;
	DIR *d;

	snprintf(path, sizeof(path), "/sys/class/block/%s", name);
	d = opendir(path);
	while (d && (de = readdir(d)))
		if (!strncmp(de->d_name, name, strlen(name)))
			used = true;	/* a partition, nvme0n1p1 */
	if (d)
		closedir(d);
	snprintf(path, sizeof(path), "/sys/class/block/%s/holders", name);
	d = opendir(path);
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			used = true;
	if (d)
		closedir(d);
	snprintf(dev, sizeof(dev), "/dev/%s", name);
	f = fopen("/proc/mounts", "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, dev, strlen(dev)))
			used = true;
	if (f)
		fclose(f);
	return used;
}

/* ---------------------------------------------------------------------
 * The threads
 */

/* Offset of the first word of @p that is not @ref, or -1. */
static long first_mismatch(const char *p, const unsigned long long *ref, size_t len)
{
	size_t i;

	for (i = 0; i < len / 8; i++)
		if (io_read64(p + 8 * i) != ref[i])
			return 8 * i;
	return -1;
}

/* Offset of a word of a page of @p that is not zero, or -1. */
static long nonzero_word(const char *p, size_t len, long page)
{
	size_t off;

	for (off = 0; off < len; off += page) {
		if (io_read64(p + off))
			return off;
		if (io_read64(p + off + page / 2))
			return off + page / 2;
		if (io_read64(p + off + page - 8))
			return off + page - 8;
	}
	return -1;
}

static void *mmap_worker(void *arg)
{
	struct worker *w = arg;
	struct soak *s = w->soak;
	unsigned long long *ref;
	size_t len;
	long bad;
	char *p;
	int fd;

	ref = malloc(MAP_MAX);
	fd = p2pmem_open(s->pci);
	if (!ref || fd < 0) {
		worker_error(w, "setting up: %s", strerror(errno));
		goto out;
	}
	while (!stopping(s)) {
		w->ops++;
		len = (1 + rnd(w) % (MAP_MAX / s->page)) * s->page;
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			if (errno != ENOMEM || s->roomy)
				worker_error(w, "mmap of %zu bytes: %s", len, strerror(errno));
			continue;
		}
		bad = s->core ? nonzero_word(p, len, s->page) : -1;
		if (bad >= 0)
			worker_error(w, "new mapping of %zu bytes: %#llx at offset %#lx, not 0",
				     len, (unsigned long long)io_read64(p + bad), bad);
		fill_pattern(ref, len, rnd(w));
		copy_io(p, ref, len);
		bad = first_mismatch(p, ref, len);
		if (bad >= 0)
			worker_error(w, "mapping of %zu bytes: %#llx at offset %#lx, wrote %#llx",
				     len, (unsigned long long)io_read64(p + bad), bad,
				     ref[bad / 8]);
		if (munmap(p, len))
			worker_error(w, "munmap of %zu bytes: %s", len, strerror(errno));
	}
out:
	if (fd >= 0)
		close(fd);
	free(ref);
	return NULL;
}

/* Offset of the first byte where @a and @b differ, or -1. */
static long first_difference(const char *a, const char *b, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (a[i] != b[i])
			return i;
	return -1;
}

/*
 * One O_DIRECT transfer between @s->peer and p2pmem: @len bytes, or
 * -EREMOTEIO where P2P is refused.  false (and an error noted) otherwise.
 */
static bool odirect_one(struct worker *w, bool write, void *buf, size_t len,
			off_t off)
{
	struct soak *s = w->soak;
	ssize_t n, want = s->p2p ? (ssize_t)len : -EREMOTEIO;

	n = direct_io(s->peer, write, buf, len, off);
	if (n == want)
		return true;
	worker_error(w, "%s %s of %zu bytes at %#llx: %zd (%s), expected %zd",
		     s->peer, write ? "write" : "read", len, (unsigned long long)off,
		     n, n < 0 ? strerror(-n) : "short", want);
	return false;
}

static void *odirect_worker(void *arg)
{
	struct worker *w = arg;
	struct soak *s = w->soak;
	unsigned long long slots = (s->disk - DISK_SKIP - IO_MAX) / IO_BLOCK + 1;
	char *p2p, *src, *dst;
	void *ref = NULL;
	char *back;
	size_t len;
	off_t off;
	long bad;

	back = malloc(IO_MAX);
	p2p = p2pmem_map(s->pci, 2 * IO_MAX);
	if (p2p == MAP_FAILED || posix_memalign(&ref, IO_BLOCK, IO_MAX) || !back) {
		worker_error(w, "setting up: %s", strerror(errno));
		goto out;
	}
	src = p2p;
	dst = p2p + IO_MAX;
	while (!stopping(s)) {
		len = (1 + rnd(w) % (IO_MAX / IO_BLOCK)) * IO_BLOCK;
		off = DISK_SKIP + (rnd(w) % slots) * IO_BLOCK;
		fill_pattern(ref, len, rnd(w));
		copy_io(src, ref, len);
		w->ops++;
		if (!odirect_one(w, true, src, len, off))
			continue;
		memset(back, 0xa5, len);
		copy_io(dst, back, len);
		if (!odirect_one(w, false, dst, len, off) || !s->p2p)
			continue;
		copy_io(back, dst, len);
		bad = first_difference(back, ref, len);
		if (bad >= 0)
			worker_error(w, "%s: %zu bytes at %#llx read back wrong from offset %#lx",
				     s->peer, len, (unsigned long long)off, bad);
	}
out:
	if (p2p != MAP_FAILED)
		munmap(p2p, 2 * IO_MAX);
	free(ref);
	free(back);
	return NULL;
}

/* Every full read has the header and the provider's own line. */
static void *paths_worker(void *arg)
{
	struct worker *w = arg;
	struct soak *s = w->soak;
	const size_t len = PATHS_MAX;
	char *buf, own[160];
	ssize_t n;

	buf = malloc(len);
	if (!buf) {
		worker_error(w, "no memory for %zu bytes", len);
		return NULL;
	}
	/* "<provider> <client> ...": the provider as its own client */
	snprintf(own, sizeof(own), "\n%s %s ", s->pci, s->pci);
	while (!stopping(s)) {
		n = read_all(DBG_PATHS, buf, len);
		w->ops++;
		if (n < 0)
			worker_error(w, "read %s: %s", DBG_PATHS, strerror(-n));
		else if ((size_t)n >= len)
			worker_error(w, "%s is larger than %zu bytes", DBG_PATHS, len);
		else if (strncmp(buf, "# provider ", 11) || !strstr(buf, own))
			worker_error(w, "%s has no line for %s: '%.100s'", DBG_PATHS,
				     s->pci, buf);
	}
	free(buf);
	return NULL;
}

/* The numbers agree with each other, and the constant ones stay put. */
static void *readers_worker(void *arg)
{
	struct worker *w = arg;
	struct soak *s = w->soak;
	unsigned long long size, avail, pub;
	struct dbg_provider d;
	int ret;

	while (!stopping(s)) {
		w->ops++;
		if (s->core) {
			ret = dbg_provider_line(s->pci, &d);
			if (ret)
				worker_error(w, "%s: no line for %s: %s", DBG_PROVIDERS,
					     s->pci, strerror(-ret));
			else if (d.size != s->size || d.avail > d.size ||
				 d.published != (int)s->published)
				worker_error(w, "%s: size %llu available %llu published %d",
					     DBG_PROVIDERS, d.size, d.avail, d.published);
		}
		ret = p2pmem_ull(s->pci, "size", &size);
		if (!ret)
			ret = p2pmem_ull(s->pci, "available", &avail);
		if (!ret)
			ret = p2pmem_ull(s->pci, "published", &pub);
		if (ret)
			worker_error(w, "p2pmem/ of %s: %s", s->pci, strerror(-ret));
		else if (size != s->size || avail > size || pub != s->published)
			worker_error(w, "p2pmem/: size %llu available %llu published %llu",
				     size, avail, pub);
	}
	return NULL;
}

/* Value of "@key=<n>" in a result line of the benchmark module. */
static bool result_value(const char *line, const char *key, unsigned long long *val)
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

static void *bench_worker(void *arg)
{
	static const char * const cmds[] = {
		"alloc_free size=4096 threads=2 ms=200\n",
		"alloc_sgl len=1048576 ms=200\n",
	};
	struct worker *w = arg;
	struct soak *s = w->soak;
	unsigned long long ops, fails;
	const char *cmd;
	char res[256];
	ssize_t n;
	int fd;

	fd = open(BENCH_RUN, O_RDWR);
	if (fd < 0) {
		worker_error(w, "open %s: %s", BENCH_RUN, strerror(errno));
		return NULL;
	}
	while (!stopping(s)) {
		cmd = cmds[w->ops % ARRAY_SIZE(cmds)];
		w->ops++;
		n = write(fd, cmd, strlen(cmd));
		if (n != (ssize_t)strlen(cmd)) {
			worker_error(w, "'%.*s': %s", (int)strlen(cmd) - 1, cmd,
				     n < 0 ? strerror(errno) : "short write");
			continue;
		}
		n = pread(fd, res, sizeof(res) - 1, 0);
		if (n < 0) {
			worker_error(w, "reading the result: %s", strerror(errno));
			continue;
		}
		res[n] = '\0';
		res[strcspn(res, "\n")] = '\0';
		if (!result_value(res, "ops", &ops) || !result_value(res, "fails", &fails) ||
		    !ops || (fails && s->roomy))
			worker_error(w, "'%.*s' -> '%s'", (int)strlen(cmd) - 1, cmd, res);
	}
	close(fd);
	return NULL;
}

/* ---------------------------------------------------------------------
 * The test
 */

FIXTURE(soak)
{
	struct nvme_fn fns[MAX_NVME];
	struct soak s;
	unsigned long long avail;	/* before the soak */
	int seconds;
};

FIXTURE_SETUP(soak)
{
	const char *env = getenv("P2PDMA_SOAK_SECONDS");
	const char *e = p2p_expect();
	char path[PATH_MAX];
	int n, p, peer;
	char *end;

	memset(&self->s, 0, sizeof(self->s));
	self->s.page = sysconf(_SC_PAGESIZE);
	self->seconds = SOAK_DEFAULT;
	if (env && *env) {
		self->seconds = strtol(env, &end, 10);
		ASSERT_TRUE(!*end && self->seconds > 0)
			TH_LOG("P2PDMA_SOAK_SECONDS='%s' is not a number of seconds", env);
	}
	if (self->seconds > SOAK_MAX) {
		ksft_print_msg("P2PDMA_SOAK_SECONDS=%d: %d s, the most the timeout allows\n",
			       self->seconds, SOAK_MAX);
		self->seconds = SOAK_MAX;
	}

	n = nvme_enumerate(self->fns, MAX_NVME);
	p = first_provider(self->fns, n);
	if (p < 0) {
		ASSERT_STREQ("none", e) TH_LOG("no provider, yet one is expected");
		SKIP(return, "no p2pmem provider in this topology");
	}
	peer = first_peer(self->fns, n, p);
	ASSERT_GE(peer, 0) TH_LOG("need a namespace besides the provider's");
	self->s.pci = self->fns[p].pci;
	self->s.peer = self->fns[peer].ns;
	snprintf(path, sizeof(path), "/sys/class/block/%s/size", self->s.peer + 5);
	ASSERT_EQ(0, read_ull(path, &self->s.disk)) TH_LOG("%s", path);
	self->s.disk *= 512;
	ASSERT_GE(self->s.disk, DISK_SKIP + IO_MAX) TH_LOG("%s is too small", self->s.peer);
	/* Patterns go all over the namespace: never one that holds data */
	if (disk_in_use(self->s.peer + 5))
		SKIP(return, "%s is mounted, partitioned or held: not writing to it",
		     self->s.peer);
	self->s.p2p = !strcmp(e, "bus") || !strcmp(e, "host");
	self->s.core = access(DBG_PATHS, R_OK) == 0;
	ASSERT_EQ(0, p2pmem_ull(self->s.pci, "size", &self->s.size));
	ASSERT_EQ(0, p2pmem_ull(self->s.pci, "published", &self->s.published));
	ASSERT_EQ(0, p2pmem_ull(self->s.pci, "available", &self->avail));
	self->s.roomy = self->avail >= POOL_ROOMY;
	if (!self->s.roomy)
		ksft_print_msg("a pool of %llu bytes may run out: ENOMEM is no error\n",
			       self->avail);
}

FIXTURE_TEARDOWN(soak)
{
}

TEST_F_TIMEOUT(soak, all_at_once, 300)
{
	const char *no_paths = self->s.core ? NULL :
			       "no " DBG_PATHS " (no P2PDMA debugfs view)";
	const char *no_bench = access(BENCH_RUN, F_OK) ?
			       "no " BENCH_RUN " (test_p2pdma_bench not loaded)" : NULL;
	struct worker w[] = {
		{ .name = "mmap-1", .fn = mmap_worker },
		{ .name = "mmap-2", .fn = mmap_worker },
		{ .name = "odirect", .fn = odirect_worker },
		{ .name = "paths", .fn = paths_worker, .absent = no_paths },
		{ .name = "readers", .fn = readers_worker },
		{ .name = "bench", .fn = bench_worker, .absent = no_bench },
	};
	struct timespec ts, nap = { 0, 100 * 1000 * 1000 };
	double t0, deadline, stopped = 0;
	unsigned long long after;
	const char *stuck = NULL;
	char line[1024];
	size_t i;
	int kmsg, ret = 0;

	kmsg = kmsg_open();
	ASSERT_GE(kmsg, 0);

	t0 = now();
	deadline = t0 + self->seconds;
	for (i = 0; i < ARRAY_SIZE(w) && !ret; i++) {
		w[i].soak = &self->s;
		w[i].seed = ((unsigned long long)getpid() << 32 | (i + 1) << 16 | 1) ^
			    (time(NULL) << 1);
		if (w[i].absent)
			continue;
		ksft_print_msg("soak: %s: seed %#llx\n", w[i].name, w[i].seed);
		ret = pthread_create(&w[i].thread, NULL, w[i].fn, &w[i]);
		w[i].started = !ret;
	}
	if (ret) {
		ksft_print_msg("soak: starting %s: %s\n", w[i - 1].name, strerror(ret));
		deadline = now();
	}
	while (now() < deadline)
		nanosleep(&nap, NULL);
	__atomic_store_n(&self->s.stop, 1, __ATOMIC_RELEASE);

	/* A thread that does not stop fails the test, and stops it too. */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += STOP_GRACE;
	for (i = 0; i < ARRAY_SIZE(w) && !stuck; i++)
		if (w[i].started && pthread_timedjoin_np(w[i].thread, NULL, &ts))
			stuck = w[i].name;
	ASSERT_TRUE(!stuck) TH_LOG("%s did not stop within %d s of the deadline",
				   stuck, STOP_GRACE);
	stopped = now();
	ASSERT_EQ(0, ret) TH_LOG("pthread_create: %s", strerror(ret));

	for (i = 0; i < ARRAY_SIZE(w); i++) {
		if (w[i].absent)
			ksft_print_msg("soak: %s: not run: %s\n", w[i].name, w[i].absent);
		else
			ksft_print_msg("soak: %s: %lu operations\n", w[i].name, w[i].ops);
	}
	ksft_print_msg("soak: ran %.1f s on %s (peer %s, P2P %s), stopped %.2f s late\n",
		       stopped - t0, self->s.pci, self->s.peer,
		       self->s.p2p ? "works" : "refused", stopped - deadline);
	for (i = 0; i < ARRAY_SIZE(w); i++) {
		if (w[i].absent)
			continue;
		EXPECT_GE(w[i].ops, 1) TH_LOG("%s did nothing", w[i].name);
		EXPECT_EQ(0, w[i].errors) TH_LOG("%s: %lu errors in %lu operations, the first: %s",
						 w[i].name, w[i].errors, w[i].ops, w[i].first);
	}
	ASSERT_EQ(0, p2pmem_ull(self->s.pci, "available", &after));
	EXPECT_EQ(self->avail, after) TH_LOG("the pool is not whole after the soak");
	EXPECT_FALSE(kmsg_alarming(kmsg, line, sizeof(line))) TH_LOG("%s", line);
	close(kmsg);
}

TEST_HARNESS_MAIN
