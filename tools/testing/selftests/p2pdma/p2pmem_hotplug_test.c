// SPDX-License-Identifier: GPL-2.0
/*
 * Hot removal of a provider under load.  In the "hotplug" topology the
 * NVMe with the CMB sits on a hotplug-capable PCIe root port driven by
 * pciehp; the test asks the harness (harness/qmp.py, through a line on the
 * serial port) to device_del it over QMP while
 *
 *   - a user mapping of its p2pmem is live,
 *   - a child runs O_DIRECT I/O through p2pmem to and from a peer NVMe,
 *   - the benchmark module holds a kernel allocation,
 *
 * and then to device_add it again.  The I/O must complete or fail with an
 * error, never with wrong data; the mapping must get SIGBUS; the removal
 * must finish within pciehp's 5 s attention-button delay plus 10 s; and the
 * device that comes back must offer its whole pool.
 *
 * P2PDMA_HOTPLUG names the QEMU device id of the removable NVMe; other
 * topologies have no hotplug slot and skip.  Holding kernel memory needs
 * the benchmark module of the series (lib/test_p2pdma_bench.c): on the base
 * kernel, which lacks it, the test skips.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "../kselftest_harness.h"
#include "p2pdma_util.h"

#define BENCH_RUN	"/sys/kernel/debug/p2pdma_bench/run"
#define MAPLEN		(64 * 1024)
#define HOLD_LEN	(1024 * 1024)
#define IO_LEN		(128 * 1024)
#define IO_OFF		(32ull << 20)	/* clear of the other tests' data */
#define BUTTON_DELAY	5.0		/* pciehp's attention button delay */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void nap(void)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

/* Ask the harness for a QMP command: one line on the serial port. */
static void qmp_request(const char *verb, const char *id)
{
	printf("P2PDMA-QMP: %s %s\n", verb, id);
	fflush(stdout);
}

/* poll() @fd for input for up to @ms: 1 when readable (or closed). */
static int wait_readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms);
}

/* Is there a hotplug slot at the address of PCI function @pci? */
static bool in_hotplug_slot(const char *pci)
{
	char path[PATH_MAX], addr[64];
	struct dirent *de;
	bool found = false;
	size_t len;
	DIR *d;

	/* A slot's address is the function's name without ".fn". */
	len = strrchr(pci, '.') ? (size_t)(strrchr(pci, '.') - pci) : strlen(pci);
	d = opendir("/sys/bus/pci/slots");
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/slots/%s/address", de->d_name);
		if (read_text(path, addr, sizeof(addr)))
			continue;
		found = strlen(addr) == len && !strncmp(addr, pci, len);
	}
	closedir(d);
	return found;
}

static bool pci_present(const char *pci)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), PCI_DEVICES "/%s", pci);
	return access(path, F_OK) == 0;
}

/* Run one benchmark module command; its result line goes to @res. */
static int bench_cmd(const char *cmd, char *res, size_t len)
{
	ssize_t n;
	int fd;

	res[0] = '\0';
	fd = open(BENCH_RUN, O_RDWR);
	if (fd < 0)
		return -errno;
	n = write(fd, cmd, strlen(cmd));
	if (n >= 0)
		n = pread(fd, res, len - 1, 0);
	if (n < 0)
		n = -errno;
	else
		res[n] = '\0';
	close(fd);
	return n < 0 ? n : 0;
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
	if (WIFSIGNALED(status))
		return WTERMSIG(status);
	return WEXITSTATUS(status) ? -1 : 0;
}

/* What the I/O child did, sent to the parent when it stops. */
struct io_counts {
	unsigned long ok;	/* round trips that returned the right bytes */
	unsigned long errors;	/* a failed or short transfer, or SIGBUS */
	unsigned long efault;	/* O_DIRECT on the revoked mapping: EFAULT */
	unsigned long wrong;	/* a transfer that "succeeded" with other bytes */
	long first_error;	/* -errno of the first failed transfer */
	size_t wrong_at;	/* first differing byte of the first wrong one */
};

static sigjmp_buf io_env;

static void io_sigbus(int sig)
{
	siglongjmp(io_env, 1);
}

/*
 * The I/O child: round trips p2pmem -> peer -> p2pmem until told to stop
 * on @stop_fd.  The first success is reported on @ready_fd.
 */
static void io_child(const char *pci, const char *peer, int ready_fd,
		     int stop_fd, int out_fd)
{
	struct pollfd pfd = { .fd = stop_fd, .events = POLLIN };
	static uint64_t want[IO_LEN / sizeof(uint64_t)];
	struct io_counts c = { 0 };
	unsigned long round = 0;
	uint8_t *buf;
	ssize_t n;

	signal(SIGBUS, io_sigbus);
	buf = p2pmem_map(pci, 2 * IO_LEN);
	if (buf == MAP_FAILED)
		_exit(3);
	while (poll(&pfd, 1, 0) == 0) {
		size_t i;

		if (sigsetjmp(io_env, 1)) {
			/*
			 * The mapping is gone: every CPU access ends here now,
			 * and I/O on it must fail without touching the device.
			 */
			c.errors++;
			if (direct_io(peer, true, buf, IO_LEN, IO_OFF) == -EFAULT)
				c.efault++;
			nap();
			continue;
		}
		fill_pattern(want, IO_LEN, ++round);
		copy_io(buf, want, IO_LEN);
		n = direct_io(peer, true, buf, IO_LEN, IO_OFF);
		if (n == IO_LEN)
			n = direct_io(peer, false, buf + IO_LEN, IO_LEN, IO_OFF);
		if (n != IO_LEN) {
			if (!c.errors && !c.wrong)
				c.first_error = n < 0 ? n : -EIO;
			c.errors++;
			nap();
			continue;
		}
		for (i = 0; i < IO_LEN / sizeof(uint64_t); i++)
			if (io_read64(buf + IO_LEN + 8 * i) != want[i])
				break;
		if (i < IO_LEN / sizeof(uint64_t)) {
			if (!c.wrong)
				c.wrong_at = 8 * i;
			c.wrong++;
			continue;
		}
		if (!c.ok++ && write(ready_fd, "r", 1) != 1)
			_exit(4);
	}
	_exit(write(out_fd, &c, sizeof(c)) == sizeof(c) ? 0 : 5);
}

FIXTURE(hotplug) {
	struct nvme_fn fns[MAX_NVME];
	const char *id;
	const char *pci;
	const char *peer;
	pid_t child;		/* the I/O child, killed if the test fails */
	bool holding;		/* the benchmark module holds memory */
};

FIXTURE_SETUP(hotplug)
{
	int i, n, p;

	self->id = getenv("P2PDMA_HOTPLUG");
	if (!self->id || !*self->id)
		SKIP(return, "this topology has no hotplug slot");
	n = nvme_enumerate(self->fns, MAX_NVME);
	p = first_provider(self->fns, n);
	ASSERT_GE(p, 0) TH_LOG("the hotplug topology has a CMB provider");
	self->pci = self->fns[p].pci;
	ASSERT_TRUE(in_hotplug_slot(self->pci))
		TH_LOG("%s is not in a hotplug slot", self->pci);
	self->peer = NULL;
	for (i = 0; i < n && !self->peer; i++)
		if (i != p && self->fns[i].ns[0])
			self->peer = self->fns[i].ns;
	ASSERT_NE(NULL, self->peer) TH_LOG("a peer NVMe namespace");
	/* The base kernel has neither the module nor the core's debugfs view. */
	if (access(BENCH_RUN, W_OK) && access("/sys/kernel/debug/p2pdma", F_OK))
		SKIP(return, "needs the series' benchmark module to hold kernel memory");
	ASSERT_EQ(0, access(BENCH_RUN, W_OK))
		TH_LOG("the benchmark module is loaded (it holds kernel memory)");
}

FIXTURE_TEARDOWN(hotplug)
{
	char res[128];

	if (self->child > 0) {
		kill(self->child, SIGKILL);
		waitpid(self->child, NULL, 0);
	}
	if (self->holding)
		bench_cmd("release", res, sizeof(res));
}

TEST_F_TIMEOUT(hotplug, remove_under_load, 240)
{
	char pci[64], cmd[64], res[128], want[64], msg[1024];
	int ready[2], stop[2], out[2];
	uint64_t size, avail, v;
	double t0, t_revoked = 0, t_released, t_gone = 0, t_back = 0;
	struct io_counts c;
	int kmsg, status;
	void *map;
	pid_t child;

	snprintf(pci, sizeof(pci), "%s", self->pci);
	ASSERT_EQ(0, p2pmem_read(pci, "size", &size));
	ASSERT_EQ(0, p2pmem_read(pci, "available", &avail));
	kmsg = kmsg_open();
	ASSERT_GE(kmsg, 0);

	/* Holder 1: a kernel allocation. */
	snprintf(cmd, sizeof(cmd), "hold len=%d", HOLD_LEN);
	snprintf(want, sizeof(want), "held=%d\n", HOLD_LEN);
	ASSERT_EQ(0, bench_cmd(cmd, res, sizeof(res)));
	ASSERT_STREQ(want, res);
	self->holding = true;
	ASSERT_EQ(0, p2pmem_read(pci, "available", &v));
	EXPECT_EQ(avail - HOLD_LEN, v);

	/* Holder 2: a user mapping, in use. */
	map = p2pmem_map(pci, MAPLEN);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, touch_in_child(map));

	/* Holder 3: O_DIRECT through p2pmem, running when the removal starts. */
	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(stop));
	ASSERT_EQ(0, pipe(out));
	child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		close(ready[0]);
		close(stop[1]);
		close(out[0]);
		io_child(pci, self->peer, ready[1], stop[0], out[1]);
	}
	self->child = child;
	close(ready[1]);
	close(stop[0]);
	close(out[1]);
	/* A child that dies closes its end: poll() returns then too. */
	ASSERT_EQ(1, wait_readable(ready[0], 20000));
	ASSERT_EQ(1, read(ready[0], res, 1))
		TH_LOG("no O_DIRECT round trip through p2pmem succeeded");

	qmp_request("device_del", self->id);
	t0 = now();

	/* The removal revokes the mapping before it waits for the memory. */
	while (now() - t0 < BUTTON_DELAY + 10) {
		if (touch_in_child(map) == SIGBUS) {
			t_revoked = now();
			break;
		}
		nap();
	}
	/* The removal must wait for the kernel allocation: give it time. */
	if (t_revoked) {
		sleep(2);
		EXPECT_TRUE(pci_present(pci))
			TH_LOG("the removal did not wait for memory in use");
	}
	snprintf(want, sizeof(want), "released=%d\n", HOLD_LEN);
	EXPECT_EQ(0, bench_cmd("release", res, sizeof(res)));
	EXPECT_STREQ(want, res);
	self->holding = false;
	t_released = now();
	ASSERT_NE(0, t_revoked) TH_LOG("the mapping still works %.1f s after device_del",
				       now() - t0);

	while (now() - t0 < BUTTON_DELAY + 30 && pci_present(pci))
		nap();
	t_gone = now();
	EXPECT_FALSE(pci_present(pci)) TH_LOG("%s is still there", pci);
	EXPECT_LT(t_gone - t0, BUTTON_DELAY + 10)
		TH_LOG("removal took %.1f s", t_gone - t0);
	/* And it is the release that let it finish. */
	EXPECT_LT(t_gone - t_released, 5)
		TH_LOG("gone %.1f s after the release", t_gone - t_released);
	EXPECT_EQ(SIGBUS, touch_in_child(map)) TH_LOG("access after removal");

	/* The I/O completed or failed; it never returned other bytes. */
	ASSERT_EQ(1, write(stop[1], "s", 1));
	ASSERT_EQ(1, wait_readable(out[0], 30000)) TH_LOG("the I/O child does not stop");
	ASSERT_EQ(sizeof(c), read(out[0], &c, sizeof(c)));
	ASSERT_EQ(child, waitpid(child, &status, 0));
	self->child = 0;
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	EXPECT_EQ(0, c.wrong) TH_LOG("%lu round trips returned wrong data (byte %zu)",
				     c.wrong, c.wrong_at);
	EXPECT_GT(c.ok, 0);
	EXPECT_GT(c.errors, 0) TH_LOG("no I/O failed after the device went away");
	EXPECT_GT(c.efault, 0) TH_LOG("no O_DIRECT on the revoked mapping failed with EFAULT");
	munmap(map, MAPLEN);

	/* The device comes back with its whole pool. */
	qmp_request("device_add", self->id);
	/* Whole: what it was before the test, the NVMe's own queues in it. */
	while (now() - t_gone < 60) {
		if (has_p2pmem(pci) && !p2pmem_read(pci, "available", &v) && v == avail)
			break;
		nap();
	}
	t_back = now();
	ASSERT_TRUE(has_p2pmem(pci)) TH_LOG("no provider %.0f s after device_add",
					    t_back - t_gone);
	ASSERT_EQ(0, p2pmem_read(pci, "size", &v));
	EXPECT_EQ(size, v);
	ASSERT_EQ(0, p2pmem_read(pci, "available", &v));
	EXPECT_EQ(avail, v);
	map = p2pmem_map(pci, MAPLEN);
	ASSERT_NE(MAP_FAILED, map);
	io_write64(map, 0x5a5a5a5a5a5a5a5aull);
	EXPECT_EQ(0x5a5a5a5a5a5a5a5aull, io_read64(map));
	munmap(map, MAPLEN);

	EXPECT_FALSE(kmsg_alarming(kmsg, msg, sizeof(msg))) TH_LOG("kernel log: %s", msg);
	close(kmsg);
	ksft_print_msg("device_del: mapping revoked after %.2f s, device gone after %.2f s\n",
		       t_revoked - t0, t_gone - t0);
	ksft_print_msg("device_add: provider back with its whole pool after %.2f s\n",
		       t_back - t_gone);
	ksft_print_msg("O_DIRECT: %lu good, %lu failed (errno %ld, 0: SIGBUS), %lu wrong\n",
		       c.ok, c.errors, -c.first_error, c.wrong);
	ksft_print_msg("O_DIRECT from the revoked mapping: %lu times EFAULT\n", c.efault);
}

TEST_HARNESS_MAIN
