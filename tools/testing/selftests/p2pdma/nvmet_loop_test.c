// SPDX-License-Identifier: GPL-2.0
/*
 * The NVMe-oF target's P2P data path, end to end: an nvme-loop host
 * controller in staging mode, whose target side stages every command's
 * data (and protection information) in buffers of its own, from p2pmem
 * when the namespace uses it, the way an RDMA target does.  O_DIRECT I/O
 * through the loop controller's block device is checked byte for byte
 * against the namespace's own device.
 *
 * What must happen comes from the topology (P2PDMA_EXPECT): where P2P
 * between NVMe functions works, the requests are served from the CMB,
 * counted by the target (nvmet's per-controller "p2pmem" debugfs file),
 * and the provider's pool shows the buffers in use; elsewhere they are
 * served from system memory, with one log line saying why.
 *
 * A feature the base kernel lacks: its nvme-loop has no staging mode, so
 * every test skips there.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "../kselftest_harness.h"
#include "p2pdma_util.h"
#include "nvmet_util.h"

#define PORT_ID		2701
#define SPAN		(8ul << 20)	/* each thread's region of the device */
#define MAX_IO		(4ul << 20)
#define THREADS		4
#define ROUNDS		10

static bool expect_p2p(void)
{
	return !strcmp(p2p_expect(), "bus") || !strcmp(p2p_expect(), "host");
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Count the kernel log records since kmsg_open() that contain each needle. */
static void kmsg_count(int fd, const char * const *needles, int *counts, int n)
{
	char rec[1024];
	ssize_t len;
	int i;

	memset(counts, 0, n * sizeof(*counts));
	while ((len = read(fd, rec, sizeof(rec) - 1)) > 0 || (len < 0 && errno == EPIPE)) {
		if (len <= 0)
			continue;
		rec[len] = '\0';
		for (i = 0; i < n; i++)
			counts[i] += !!strstr(rec, needles[i]);
	}
}

/* The namespace of an NVMe function formatted with Type 1 protection. */
static bool find_pi_namespace(char *dev, size_t len)
{
	char path[PATH_MAX], fmt[64];
	struct dirent *de;
	int tries;
	DIR *d;

	for (tries = 0; tries < 50; tries++) {
		d = opendir("/sys/block");
		if (!d)
			return false;
		while ((de = readdir(d))) {
			if (strncmp(de->d_name, "nvme", 4))
				continue;
			snprintf(path, sizeof(path), "/sys/block/%s/device/transport", de->d_name);
			if (read_text(path, fmt, sizeof(fmt)) || strcmp(fmt, "pcie"))
				continue;
			snprintf(path, sizeof(path), "/sys/block/%s/integrity/format", de->d_name);
			if (!read_text(path, fmt, sizeof(fmt)) &&
			    !strcmp(fmt, "T10-DIF-TYPE1-CRC")) {
				snprintf(dev, len, "/dev/%.32s", de->d_name);
				closedir(d);
				return true;
			}
		}
		closedir(d);
		usleep(100 * 1000);
	}
	return false;
}

struct io_thread {
	pthread_t tid;
	const char *dev;	/* the loop controller's namespace */
	const char *backing;	/* the namespace's own device */
	off_t base;
	uint64_t seed;
	int rounds;		/* 0: until *stop */
	int *stop;		/* __atomic */
	bool tolerate;		/* an error ends the thread, quietly */
	unsigned long ios;	/* __atomic: read while the thread runs */
	int done;
	int err;		/* first unexpected -errno */
	int bad;		/* transfers that returned wrong data */
	char msg[256];
};

static const size_t io_sizes[] = {
	512, 4096, 4096 + 512, 65536 + 1536, 1ul << 20, (3ul << 20) + 512, MAX_IO,
};

static int xfer(int fd, bool write, void *buf, size_t len, off_t off)
{
	ssize_t n = write ? pwrite(fd, buf, len, off) : pread(fd, buf, len, off);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

/* Say where @got first differs from @want, and what it holds there. */
static void describe(char *msg, size_t size, const char *what, const char *got,
		     const char *want, size_t len, off_t off)
{
	size_t i, n = 0;
	uint64_t g, w;

	for (i = 0; i < len && got[i] == want[i]; i++)
		;
	while (i + n < len && got[i + n] != want[i + n])
		n++;
	i &= ~7ul;
	memcpy(&g, got + i, 8);
	memcpy(&w, want + i, 8);
	snprintf(msg, size, "%s: %zu bytes at %lld: %zu wrong from +%zu: %#llx, not %#llx",
		 what, len, (long long)off, n, i, (unsigned long long)g,
		 (unsigned long long)w);
}

static bool stopped(struct io_thread *t, int round)
{
	if (t->rounds)
		return round >= t->rounds;
	return __atomic_load_n(t->stop, __ATOMIC_RELAXED);
}

static void *io_main(void *arg)
{
	struct io_thread *t = arg;
	uint64_t x = t->seed | 1;
	char *wbuf = NULL, *rbuf = NULL;
	int fd, bfd = -1;
	int i;

	fd = open(t->dev, O_RDWR | O_DIRECT);
	if (fd >= 0)
		bfd = open(t->backing, O_RDONLY | O_DIRECT);
	if (fd < 0 || bfd < 0) {
		t->err = -errno;
		snprintf(t->msg, sizeof(t->msg), "open: %s", strerror(errno));
		goto out;
	}
	if (posix_memalign((void **)&wbuf, 4096, MAX_IO + 4096) ||
	    posix_memalign((void **)&rbuf, 4096, MAX_IO + 4096)) {
		t->err = -ENOMEM;
		goto out;
	}
	for (i = 0; !stopped(t, i); i++) {
		size_t len, boff;
		off_t off;
		int ret;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		len = io_sizes[x % ARRAY_SIZE(io_sizes)];
		off = t->base + ((x >> 8) % ((SPAN - len) / 512 + 1)) * 512;
		boff = ((x >> 40) % 8) * 512;	/* buffers off page alignment too */
		fill_pattern(wbuf + boff, len, x);
		ret = xfer(fd, true, wbuf + boff, len, off);
		if (!ret) {
			memset(rbuf + boff, 0xa5, len);
			ret = xfer(fd, false, rbuf + boff, len, off);
		}
		if (!ret && memcmp(wbuf + boff, rbuf + boff, len)) {
			t->bad++;
			describe(t->msg, sizeof(t->msg), "read back", rbuf + boff,
				 wbuf + boff, len, off);
		}
		if (!ret) {
			memset(rbuf + boff, 0x5a, len);
			ret = xfer(bfd, false, rbuf + boff, len, off);
		}
		if (!ret && memcmp(wbuf + boff, rbuf + boff, len)) {
			t->bad++;
			describe(t->msg, sizeof(t->msg), t->backing, rbuf + boff,
				 wbuf + boff, len, off);
		}
		if (ret) {
			if (!t->tolerate) {
				t->err = ret;
				snprintf(t->msg, sizeof(t->msg), "%zu bytes at %lld: %s",
					 len, (long long)off, strerror(-ret));
			}
			break;
		}
		__atomic_store_n(&t->ios, t->ios + 1, __ATOMIC_RELAXED);
	}
out:
	free(wbuf);
	free(rbuf);
	if (fd >= 0)
		close(fd);
	if (bfd >= 0)
		close(bfd);
	__atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

FIXTURE(loop)
{
	struct nvme_fn fns[MAX_NVME];
	int provider;
	int peer;
	uint64_t pool;		/* the provider's p2pmem available at the start */
	bool staging_was;
	bool staging_set;
	struct nvmet_loop l;
	struct io_thread t[THREADS];
	int stop;
	uint64_t min_avail;
	int kmsg;
};

FIXTURE_SETUP(loop)
{
	int n;

	self->l.instance = -1;
	self->kmsg = -1;
	if (access(LOOP_STAGING, F_OK))
		SKIP(return, "the base kernel's nvme-loop has no staging mode");
	n = nvme_enumerate(self->fns, MAX_NVME);
	self->provider = first_provider(self->fns, n);
	self->peer = first_peer(self->fns, n, self->provider);
	ASSERT_GE(self->peer, 0) TH_LOG("no NVMe namespace besides the provider's");
	if (self->provider >= 0) {
		/* Less than its size: nvme-pci keeps its queues there. */
		ASSERT_EQ(0, p2pmem_read(self->fns[self->provider].pci, "available",
					 &self->pool));
	} else {
		ASSERT_STREQ("none", p2p_expect()) TH_LOG("no provider, yet P2P expected");
	}
	ASSERT_EQ(0, loop_staging(true, &self->staging_was));
	self->staging_set = true;
	self->kmsg = kmsg_open();
	ASSERT_LE(0, self->kmsg);
}

FIXTURE_TEARDOWN(loop)
{
	const char *failed;
	char line[1024];

	failed = nvmet_loop_remove(&self->l);
	EXPECT_EQ(NULL, failed) TH_LOG("cleaning up: %s: %s", failed, strerror(errno));
	if (self->staging_set)
		loop_staging(self->staging_was, NULL);
	if (self->kmsg >= 0) {
		EXPECT_FALSE(kmsg_alarming(self->kmsg, line, sizeof(line)))
			TH_LOG("kernel log: %s", line);
		close(self->kmsg);
	}
}

/* Export @backing with p2pmem=@p2pmem and connect; must succeed. */
static void setup(struct __test_metadata *_metadata, struct _test_data_loop *self,
		  const char *backing, const char *p2pmem, bool pi)
{
	const char *step = "";
	int ret;

	ret = nvmet_loop_export(&self->l, PORT_ID, backing, p2pmem, pi, &step);
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", step, strerror(-ret));
	ret = nvmet_loop_connect(&self->l);
	ASSERT_EQ(0, ret) TH_LOG("connect: %s", strerror(-ret));
}

static void start_io(struct _test_data_loop *self, const char *backing, int rounds,
		     bool tolerate)
{
	int i;

	self->stop = 0;
	for (i = 0; i < THREADS; i++) {
		struct io_thread *t = &self->t[i];

		memset(t, 0, sizeof(*t));
		t->dev = self->l.dev;
		t->backing = backing;
		t->base = i * SPAN;
		t->seed = 0x9e3779b97f4a7c15ull * (i + 1) ^ (uint64_t)getpid() << 32 ^ time(NULL);
		t->rounds = rounds;
		t->stop = &self->stop;
		t->tolerate = tolerate;
		pthread_create(&t->tid, NULL, io_main, t);
	}
}

/*
 * Watch the pool (if any) until every thread has done @ios more transfers
 * than when called, or has ended; at most @secs.
 */
static void watch(struct _test_data_loop *self, unsigned long ios, double secs)
{
	const char *pci = self->provider >= 0 ? self->fns[self->provider].pci : NULL;
	unsigned long start[THREADS];
	double end = now() + secs;
	uint64_t v;
	int i;

	for (i = 0; i < THREADS; i++)
		start[i] = __atomic_load_n(&self->t[i].ios, __ATOMIC_RELAXED);
	while (now() < end) {
		int busy = 0;

		if (pci && !p2pmem_read(pci, "available", &v) && v < self->min_avail)
			self->min_avail = v;
		for (i = 0; i < THREADS; i++)
			busy += !__atomic_load_n(&self->t[i].done, __ATOMIC_ACQUIRE) &&
				__atomic_load_n(&self->t[i].ios, __ATOMIC_RELAXED) < start[i] + ios;
		if (!busy)
			return;
		usleep(1000);
	}
}

static void join_io(struct __test_metadata *_metadata, struct _test_data_loop *self,
		    unsigned long *ios)
{
	int i;

	__atomic_store_n(&self->stop, 1, __ATOMIC_RELAXED);
	*ios = 0;
	for (i = 0; i < THREADS; i++) {
		struct io_thread *t = &self->t[i];

		pthread_join(t->tid, NULL);
		*ios += t->ios;
		EXPECT_EQ(0, t->err) TH_LOG("thread %d (seed %#llx): %s", i,
					    (unsigned long long)t->seed, t->msg);
		EXPECT_EQ(0, t->bad) TH_LOG("thread %d (seed %#llx): %s", i,
					    (unsigned long long)t->seed, t->msg);
	}
}

/* I/O of every size through the loop controller, checked; its stats. */
static void run_io(struct __test_metadata *_metadata, struct _test_data_loop *self,
		   const char *backing, struct stage_stats *s)
{
	unsigned long ios;
	int i;

	self->min_avail = UINT64_MAX;
	start_io(self, backing, ROUNDS, false);
	watch(self, ROUNDS, 600);
	join_io(_metadata, self, &ios);
	for (i = 0; i < THREADS; i++)
		ASSERT_EQ(ROUNDS, self->t[i].ios);
	ASSERT_EQ(0, nvmet_loop_stats(&self->l, s));
	ksft_print_msg("%lu checked transfers\n", ios);
	ksft_print_msg("requests: %llu p2pmem (%llu with metadata), %llu fallback, %llu ram\n",
		       s->p2pmem, s->metadata, s->fallback, s->ram);
	ksft_print_msg("%.1f%% served from p2pmem\n",
		       100.0 * s->p2pmem / (s->p2pmem + s->fallback + s->ram ?: 1));
}

/* The pool is whole again once the I/O is over. */
static void pool_whole(struct __test_metadata *_metadata, struct _test_data_loop *self)
{
	const char *pci = self->fns[self->provider].pci;
	uint64_t v = 0;
	int i;

	for (i = 0; i < 50; i++) {
		ASSERT_EQ(0, p2pmem_read(pci, "available", &v));
		if (v == self->pool)
			break;
		usleep(100 * 1000);
	}
	EXPECT_EQ(self->pool, v) TH_LOG("the pool did not get its memory back");
}

/* Every request of a namespace that has p2pmem is served from it. */
static void expect_served_from_p2pmem(struct __test_metadata *_metadata,
				      struct _test_data_loop *self,
				      const struct stage_stats *s)
{
	EXPECT_LT(0, s->p2pmem);
	EXPECT_EQ(0, s->fallback);
	EXPECT_EQ(0, s->ram);
	EXPECT_GT(self->pool, self->min_avail) TH_LOG("no buffer ever seen in use");
	pool_whole(_metadata, self);
}

static void expect_served_from_ram(struct __test_metadata *_metadata,
				   const struct stage_stats *s)
{
	EXPECT_EQ(0, s->p2pmem);
	EXPECT_EQ(0, s->metadata);
	EXPECT_EQ(0, s->fallback);
	EXPECT_LT(0, s->ram);
}

/* p2pmem=1: the CMB where P2P works, system memory with one line elsewhere. */
TEST_F_TIMEOUT(loop, auto_p2pmem, 300)
{
	const char *backing = self->fns[self->peer].ns;
	char enabled[128], connected[128];
	const char * const needles[] = { enabled, connected, "in system memory" };
	struct stage_stats s;
	int kmsg = kmsg_open();
	int n[3];

	ASSERT_LE(0, kmsg);
	setup(_metadata, self, backing, "1", false);
	run_io(_metadata, self, backing, &s);
	snprintf(enabled, sizeof(enabled),
		 "no peer-to-peer memory is reachable from %s: staging its data in system memory",
		 backing);
	snprintf(connected, sizeof(connected),
		 "no peer-to-peer memory is reachable from %s: nsid 1 stages its data in system memory",
		 backing);
	kmsg_count(kmsg, needles, n, 3);
	close(kmsg);
	if (expect_p2p()) {
		expect_served_from_p2pmem(_metadata, self, &s);
		EXPECT_EQ(0, n[2]) TH_LOG("a fallback logged");
	} else {
		/* One line when the namespace is enabled, one at connect. */
		expect_served_from_ram(_metadata, &s);
		EXPECT_EQ(1, n[0]) TH_LOG("%s", enabled);
		EXPECT_EQ(1, n[1]) TH_LOG("%s", connected);
		EXPECT_EQ(2, n[2]) TH_LOG("lines about the fallback");
	}
}

/* p2pmem=<provider>: served from it, or refused when enabling. */
TEST_F_TIMEOUT(loop, named_provider, 300)
{
	const char *backing = self->fns[self->peer].ns;
	struct stage_stats s;
	const char *step = "";
	int ret;

	if (self->provider < 0) {
		ret = nvmet_loop_export(&self->l, PORT_ID, backing, "0000:00:1f.7", false, &step);
		EXPECT_EQ(-ENODEV, ret) TH_LOG("%s", step);
		EXPECT_STREQ("p2pmem", step);
		return;
	}
	ret = nvmet_loop_export(&self->l, PORT_ID, backing, self->fns[self->provider].pci,
				false, &step);
	if (!expect_p2p()) {
		EXPECT_EQ(-EINVAL, ret) TH_LOG("%s", step);
		EXPECT_STREQ("enable", step);
		return;
	}
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", step, strerror(-ret));
	ret = nvmet_loop_connect(&self->l);
	ASSERT_EQ(0, ret) TH_LOG("connect: %s", strerror(-ret));
	run_io(_metadata, self, backing, &s);
	expect_served_from_p2pmem(_metadata, self, &s);
}

/*
 * Protection information end to end: the host generates and checks it,
 * the target stages it in p2pmem beside the data, and the namespace's
 * device checks it on every write and read (so reading the device
 * directly checks what the loop controller wrote).
 */
TEST_F_TIMEOUT(loop, protection_information, 300)
{
	char pi_dev[64], path[PATH_MAX], fmt[64];
	struct stage_stats s;

	ASSERT_TRUE(find_pi_namespace(pi_dev, sizeof(pi_dev)))
		TH_LOG("no NVMe namespace with Type 1 protection (nvme-ns pi=1)");
	setup(_metadata, self, pi_dev, "1", true);
	snprintf(path, sizeof(path), "/sys/block/%sn1/integrity/format", self->l.ctrl);
	ASSERT_EQ(0, read_text(path, fmt, sizeof(fmt)));
	ASSERT_STREQ("T10-DIF-TYPE1-CRC", fmt) TH_LOG("the loop namespace has no PI");
	run_io(_metadata, self, pi_dev, &s);
	if (expect_p2p()) {
		expect_served_from_p2pmem(_metadata, self, &s);
		EXPECT_EQ(s.p2pmem, s.metadata) TH_LOG("metadata not staged with its data");
	} else {
		expect_served_from_ram(_metadata, &s);
	}
}

/* With the pool used up, requests fall back to system memory, unharmed. */
TEST_F_TIMEOUT(loop, pool_used_up, 300)
{
	const char *backing = self->fns[self->peer].ns;
	const char *pci;
	struct stage_stats s;
	uint64_t avail;
	size_t len, i;
	char *map;

	if (!expect_p2p())
		SKIP(return, "P2P is refused here: the namespace has no pool to use up");
	pci = self->fns[self->provider].pci;
	setup(_metadata, self, backing, pci, false);
	ASSERT_EQ(0, p2pmem_read(pci, "available", &avail));
	len = avail - (256 << 10);
	map = p2pmem_map(pci, len);
	ASSERT_NE(MAP_FAILED, map) TH_LOG("mmap %zu: %s", len, strerror(errno));
	for (i = 0; i < len; i += 4096)
		io_write64(map + i, i);
	run_io(_metadata, self, backing, &s);
	munmap(map, len);
	EXPECT_LT(0, s.fallback) TH_LOG("no request found the pool used up");
	EXPECT_EQ(0, s.ram);
	pool_whole(_metadata, self);
}

/* Disabling the namespace under I/O: no hang, no leak, the pool whole. */
TEST_F_TIMEOUT(loop, disable_namespace_during_io, 300)
{
	const char *backing = self->fns[self->peer].ns;
	unsigned long ios;
	double took;
	int i;

	setup(_metadata, self, backing, "1", false);
	start_io(self, backing, 0, true);
	watch(self, 1, 120);
	took = now();
	EXPECT_EQ(0, nvmet_attr(self->l.ns, "enable", "0"));
	took = now() - took;
	ksft_print_msg("disabling the namespace took %.3f s\n", took);
	join_io(_metadata, self, &ios);
	for (i = 0; i < THREADS; i++)
		EXPECT_LT(0, self->t[i].ios) TH_LOG("thread %d did no I/O before", i);
	if (self->provider >= 0)
		pool_whole(_metadata, self);
}

/* Deleting the controller under I/O: no hang, the pool whole. */
TEST_F_TIMEOUT(loop, delete_controller_during_io, 300)
{
	const char *backing = self->fns[self->peer].ns;
	unsigned long ios;
	double took;
	int i;

	setup(_metadata, self, backing, "1", false);
	start_io(self, backing, 0, true);
	watch(self, 1, 120);
	took = now();
	nvmet_loop_disconnect(&self->l);
	took = now() - took;
	ksft_print_msg("deleting the controller under I/O took %.3f s\n", took);
	join_io(_metadata, self, &ios);
	for (i = 0; i < THREADS; i++)
		EXPECT_LT(0, self->t[i].ios) TH_LOG("thread %d did no I/O before", i);
	if (self->provider >= 0)
		pool_whole(_metadata, self);
}

/*
 * Unbinding the provider under I/O: the unbind finishes, the requests
 * after it fall back to system memory and still move the right data, and
 * the provider serves them again once bound again.
 */
TEST_F_TIMEOUT(loop, unbind_provider_during_io, 300)
{
	const char *backing = self->fns[self->peer].ns;
	struct stage_stats s, after;
	char path[PATH_MAX];
	const char *pci;
	unsigned long ios;
	double took;
	int fd;

	if (!expect_p2p())
		SKIP(return, "P2P is refused here: the namespace uses no provider");
	pci = self->fns[self->provider].pci;
	setup(_metadata, self, backing, pci, false);
	start_io(self, backing, 0, false);
	watch(self, 2, 120);

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver/unbind", pci);
	took = now();
	fd = open(path, O_WRONLY);
	ASSERT_LE(0, fd);
	EXPECT_LT(0, write(fd, pci, strlen(pci)));
	close(fd);
	took = now() - took;
	ksft_print_msg("unbinding %s under I/O took %.3f s\n", pci, took);
	watch(self, 2, 120);
	join_io(_metadata, self, &ios);
	ASSERT_EQ(0, nvmet_loop_stats(&self->l, &s));
	ksft_print_msg("%lu checked transfers; requests: %llu p2pmem, %llu fallback\n",
		       ios, s.p2pmem, s.fallback);
	EXPECT_LT(0, s.p2pmem);
	EXPECT_LT(0, s.fallback) TH_LOG("no request after the unbind");

	ASSERT_EQ(0, write_text("/sys/bus/pci/drivers/nvme/bind", pci));
	for (fd = 0; fd < 100 && !has_p2pmem(pci); fd++)
		usleep(100 * 1000);
	ASSERT_TRUE(has_p2pmem(pci)) TH_LOG("no p2pmem after binding again");
	self->min_avail = UINT64_MAX;
	start_io(self, backing, 2, false);
	watch(self, 2, 600);
	join_io(_metadata, self, &ios);
	ASSERT_EQ(0, nvmet_loop_stats(&self->l, &after));
	EXPECT_LT(s.p2pmem, after.p2pmem) TH_LOG("not served by the provider again");
	pool_whole(_metadata, self);
}

TEST_HARNESS_MAIN
